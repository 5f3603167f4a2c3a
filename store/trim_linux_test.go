package store

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile returns this process's resident file-backed memory, in bytes.
func rssFile(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

// TestTrim: the pages a walk of the state file mapped leave the resident
// set, and the store reads on as before.
func TestTrim(t *testing.T) {
	s := openTest(t, newClock())
	var fs []Found
	for i := range 60000 {
		fs = append(fs, found(strings.Repeat("x", 100)+strconv.Itoa(i)+".wav", int64(i)))
	}
	mustAdd(t, s, fs...)
	if err := s.Check(); err != nil { // reads every page, through the map
		t.Fatal(err)
	}
	before := rssFile(t)
	if err := s.Trim(); err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if before-after < fi.Size()/2 {
		t.Errorf("Trim let go of %d bytes of a %d-byte file (resident file pages %d -> %d)", before-after, fi.Size(), before, after)
	}
	if ok, err := s.Known(fs[123].Source, fs[123].Path, fs[123].Size, fs[123].ModTime); !ok || err != nil {
		t.Errorf("after Trim: Known = %v, %v", ok, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}
