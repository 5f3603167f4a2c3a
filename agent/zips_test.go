package agent_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// zipFile is one entry of a test ZIP.
type zipFile struct {
	name string
	data []byte
	hdr  func(*zip.FileHeader) // changes the header before it is written
	raw  bool                  // data is written as is (CreateRaw): hdr sets sizes and CRC
}

func makeZip(t *testing.T, path string, files ...zipFile) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		// An MS-DOS time only, as most ZIP tools write: a wall clock, read
		// in the source's zone. hdr may set Modified, an exact instant.
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate,
			ModifiedDate: (2025-1980)<<9 | 3<<5 | 1, ModifiedTime: 10<<11 | 15<<5}
		if f.raw {
			h.CRC32 = crc32.ChecksumIEEE(f.data)
			h.CompressedSize64, h.UncompressedSize64 = uint64(len(f.data)), uint64(len(f.data))
			h.Method = zip.Store
		}
		if f.hdr != nil {
			f.hdr(h)
		}
		var w io.Writer
		var err error
		if f.raw {
			w, err = zw.CreateRaw(h)
		} else {
			w, err = zw.CreateHeader(h)
		}
		must(t, err)
		_, err = w.Write(f.data)
		must(t, err)
	}
	must(t, zw.Close())
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

// TestZipsEndToEnd: bulk ZIPs become one upload per recording with the
// ZIP's metadata.csv; hostile ZIPs upload nothing and say why.
func TestZipsEndToEnd(t *testing.T) {
	h := newHarness(t, harnessOptions{upload: "metadata:\n  defaults: {team: Support}\n"})
	wav := func(n int) []byte { return audiotest.WAV(4000+n, byte(n)) }
	zipped := map[string][]byte{} // fileName Vela must get -> content
	want := map[string]map[string]any{}
	jhb, _ := time.LoadLocation("Africa/Johannesburg")
	entryDate := meta.FormatDate(time.Date(2025, 3, 1, 10, 15, 0, 0, jhb)) // ZIP times are the source's wall clock

	// Excel's CSV, upper-case entry names: the CSV's spelling is sent,
	// with a lower-case extension.
	makeZip(t, filepath.Join(h.in, "excel.zip"),
		zipFile{name: "metadata.csv", data: []byte("\ufefffilename,agent_name,team,department,direction,tags\r\nCall_A.WAV,Thandi,Sales,Retail,Inbound,\"vip; billing\"\r\ncall_b.wav,Sipho,Sales,,outbound,\r\n")},
		zipFile{name: "CALL_A.WAV", data: wav(1)},
		zipFile{name: "CALL_B.WAV", data: wav(2)},
		zipFile{name: "unlisted.mp3", data: audiotest.MP3(40)},
	)
	zipped["Call_A.wav"], want["Call_A.wav"] = wav(1), map[string]any{"agent_name": "Thandi", "team": "Sales", "department": "Retail", "direction": "inbound", "tags": []any{"vip", "billing"}, "date_of_call": entryDate}
	zipped["call_b.wav"], want["call_b.wav"] = wav(2), map[string]any{"agent_name": "Sipho", "team": "Sales", "direction": "outbound", "date_of_call": entryDate}
	zipped["unlisted.mp3"], want["unlisted.mp3"] = audiotest.MP3(40), map[string]any{"team": "Support", "date_of_call": entryDate}

	// Nested folders, a date column, Store and Deflate.
	makeZip(t, filepath.Join(h.in, "batch", "nested.zip"),
		zipFile{name: "day1/", data: nil},
		zipFile{name: "metadata.csv", data: []byte("filename,date_of_call\nn1.wav,2025-04-01 08:00:00\n")},
		zipFile{name: "day1/n1.wav", data: wav(3), raw: true},
		zipFile{name: "day1/deeper/n2.wav", data: wav(4), hdr: func(h *zip.FileHeader) { h.Modified = time.Date(2025, 3, 1, 10, 15, 0, 0, time.UTC) }},
	)
	zipped["n1.wav"], want["n1.wav"] = wav(3), map[string]any{"team": "Support", "date_of_call": "01/04/2025, 08:00:00"}
	zipped["n2.wav"], want["n2.wav"] = wav(4), map[string]any{"team": "Support", "date_of_call": "01/03/2025, 12:15:00"} // 10:15 UTC

	// A bad entry among good ones: the good go, the bad are skipped.
	makeZip(t, filepath.Join(h.in, "mixed.zip"),
		zipFile{name: "good1.wav", data: wav(5)},
		zipFile{name: "empty.wav", data: nil},
		zipFile{name: "notes.txt", data: []byte("call notes")},
		zipFile{name: "inner.zip", data: []byte("PK\x05\x06" + strings.Repeat("\x00", 18))},
		zipFile{name: "good2.wav", data: wav(6)},
	)
	zipped["good1.wav"], want["good1.wav"] = wav(5), map[string]any{"team": "Support", "date_of_call": entryDate}
	zipped["good2.wav"], want["good2.wav"] = wav(6), map[string]any{"team": "Support", "date_of_call": entryDate}
	// Two plain ones.
	for i := range 2 {
		name := fmt.Sprintf("plain%d.wav", i)
		makeZip(t, filepath.Join(h.in, fmt.Sprintf("plain%d.zip", i)), zipFile{name: name, data: wav(10 + i)})
		zipped[name], want[name] = wav(10+i), map[string]any{"team": "Support", "date_of_call": entryDate}
	}

	// Hostile ZIPs: each refused whole, before anything is extracted.
	hostile := map[string]string{
		"traversal.zip": "escapes",
		"absolute.zip":  "absolute",
		"backslash.zip": "backslash",
		"symlink.zip":   "link",
		"encrypted.zip": "encrypt",
		"bzip2.zip":     "BZip2",
		"lying.zip":     "",
		"bomb.zip":      "ratio",
		"truncated.zip": "",
		"huge.zip":      "3",
	}
	dir := filepath.Join(h.in, "hostile")
	makeZip(t, filepath.Join(dir, "traversal.zip"), zipFile{name: "ok.wav", data: wav(20)}, zipFile{name: "../../evil.wav", data: wav(21)})
	makeZip(t, filepath.Join(dir, "absolute.zip"), zipFile{name: "/etc/evil.wav", data: wav(22)})
	makeZip(t, filepath.Join(dir, "backslash.zip"), zipFile{name: `dir\evil.wav`, data: wav(23)})
	makeZip(t, filepath.Join(dir, "symlink.zip"), zipFile{name: "link.wav", data: []byte("/etc/passwd"), hdr: func(h *zip.FileHeader) { h.SetMode(fs.ModeSymlink | 0o777) }})
	makeZip(t, filepath.Join(dir, "encrypted.zip"), zipFile{name: "secret.wav", data: wav(24), raw: true, hdr: func(h *zip.FileHeader) { h.Flags |= 1 }})
	makeZip(t, filepath.Join(dir, "bzip2.zip"), zipFile{name: "b.wav", data: wav(25), raw: true, hdr: func(h *zip.FileHeader) { h.Method = 12 }})
	makeZip(t, filepath.Join(dir, "lying.zip"), zipFile{name: "lie.wav", data: wav(26), raw: true, hdr: func(h *zip.FileHeader) { h.CRC32 ^= 1 }})
	var bomb bytes.Buffer
	fw, _ := flate.NewWriter(&bomb, flate.BestCompression)
	fw.Write(make([]byte, 50<<20))
	fw.Close()
	makeZip(t, filepath.Join(dir, "bomb.zip"), zipFile{name: "silence.wav", data: bomb.Bytes(), raw: true, hdr: func(h *zip.FileHeader) {
		h.Method, h.UncompressedSize64, h.CRC32 = zip.Deflate, 50<<20, crc32.ChecksumIEEE(make([]byte, 50<<20))
	}})
	makeZip(t, filepath.Join(dir, "truncated.zip"), zipFile{name: "t.wav", data: wav(27)})
	b, err := os.ReadFile(filepath.Join(dir, "truncated.zip"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "truncated.zip"), b[:len(b)/2], 0o644))
	huge, err := os.Create(filepath.Join(dir, "huge.zip"))
	must(t, err)
	must(t, huge.Truncate(3<<30+1)) // sparse
	must(t, huge.Close())

	h.start()
	h.waitFor("every ZIP finished", 60*time.Second, func() bool {
		return h.count("queued")+h.count("staged")+h.count("ready")+h.count("presigned")+h.count("uploaded") == 0 && h.count("done") > 0
	})

	got := map[string]map[string]any{}
	for _, p := range h.srv.Presigns() {
		if _, dup := got[p.FileName]; dup {
			t.Errorf("%s presigned twice", p.FileName)
		}
		got[p.FileName] = p.Metadata
	}
	if !reflect.DeepEqual(got, want) {
		for name := range want {
			if !reflect.DeepEqual(got[name], want[name]) {
				t.Errorf("%s:\n got %v\nwant %v", name, got[name], want[name])
			}
		}
		for name := range got {
			if _, ok := want[name]; !ok {
				t.Errorf("%s sent, and must not be: %v", name, got[name])
			}
		}
	}
	if n := len(h.srv.Objects()); n != len(zipped) {
		t.Errorf("%d objects stored, want %d", n, len(zipped))
	}

	// The ZIPs are done; the hostile ones parked, each naming its entry
	// and reason; the bad entries skipped with theirs.
	reasons := map[string]string{}
	for id := uint64(1); id < 100; id++ {
		j, err := h.agent.Job(id)
		if err != nil {
			continue
		}
		reasons[j.Path] = j.State.String() + ": " + j.Reason
	}
	for name, word := range hostile {
		r := reasons["hostile/"+name]
		if !strings.HasPrefix(r, "parked: ZIP refused") || !strings.Contains(r, word) {
			t.Errorf("%s: %q, want parked, refused, with %q", name, r, word)
		}
	}
	for _, z := range []string{"excel.zip", "batch/nested.zip", "mixed.zip", "plain0.zip", "plain1.zip"} {
		if r := reasons[z]; r != "done: " {
			t.Errorf("%s: %q, want done", z, r)
		}
	}
	for entry, word := range map[string]string{"mixed.zip/empty.wav": "zero-length", "mixed.zip/notes.txt": "not audio", "mixed.zip/inner.zip": "nested"} {
		if r := reasons[entry]; !strings.HasPrefix(r, "skipped: ") || !strings.Contains(r, word) {
			t.Errorf("%s: %q, want skipped for %q", entry, r, word)
		}
	}
	// Nothing of a ZIP is left in the spool.
	filepath.WalkDir(filepath.Join(h.state, "spool"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left in the spool: %s", p)
		}
		return nil
	})
}

// TestZipChangedAfterExpansion: a ZIP damaged or written again after it
// was checked and expanded. Its recordings are read from it as they are
// uploaded, so a damaged entry is caught by its CRC-32 before the upload's
// last byte (nothing stored, the recording parked). A ZIP written again is
// a new job, whose expansion finds its recording already known: the
// recording is read from the new version, once, and the new version's job
// waits for it.
func TestZipChangedAfterExpansion(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.srv.SetAllocation(0) // calls wait, paused, until the ZIPs are changed
	wav := func(n int) []byte { return audiotest.WAV(30000+n, byte(n)) }
	makeZip(t, filepath.Join(h.in, "damaged.zip"),
		zipFile{name: "bad.wav", data: wav(1), raw: true},
		zipFile{name: "good.wav", data: wav(2), raw: true})
	makeZip(t, filepath.Join(h.in, "replaced.zip"), zipFile{name: "again.wav", data: wav(3)})
	h.start()

	jobs := func(path string) (states []string) {
		for id := uint64(1); id < 50; id++ {
			if j, err := h.agent.Job(id); err == nil && j.Path == path {
				states = append(states, j.State.String()+": "+j.Reason)
			}
		}
		return states
	}
	h.waitFor("both ZIPs expanded, calls paused", 30*time.Second, func() bool {
		return slices.Contains(jobs("damaged.zip"), "ready: ") && slices.Contains(jobs("replaced.zip"), "ready: ") && paused(h)
	})

	// One byte of bad.wav's data changes; the ZIP keeps its size and time.
	p := filepath.Join(h.in, "damaged.zip")
	fi, err := os.Stat(p)
	must(t, err)
	b, err := os.ReadFile(p)
	must(t, err)
	at := bytes.Index(b, wav(1))
	if at < 0 {
		t.Fatal("bad.wav's data not found in the ZIP")
	}
	b[at+1000] ^= 0xff
	must(t, os.WriteFile(p, b, 0o644))
	must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
	// replaced.zip is written again: a new version, the same recording.
	makeZip(t, filepath.Join(h.in, "replaced.zip"), zipFile{name: "again.wav", data: wav(3)})
	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(h.in, "replaced.zip"), later, later))
	h.waitFor("the new version of replaced.zip expanded", 30*time.Second, func() bool {
		return len(jobs("replaced.zip")) == 2 && slices.Contains(jobs("replaced.zip"), "ready: ")
	})

	h.srv.SetAllocation(1000)
	h.waitFor("every job finished", 60*time.Second, func() bool {
		return h.count("queued")+h.count("staged")+h.count("ready")+h.count("presigned")+h.count("uploaded") == 0 && h.count("done") > 0
	})
	stored := map[string]int{} // file name sent -> times stored
	for _, o := range h.srv.Objects() {
		for _, p := range h.srv.Presigns() {
			if p.Key == o.Key {
				stored[p.FileName] += o.Uploads
			}
		}
	}
	if stored["good.wav"] != 1 || stored["again.wav"] != 1 || stored["bad.wav"] != 0 || len(stored) != 2 {
		t.Errorf("stored: %v; want good.wav and again.wav once each, bad.wav never", stored)
	}
	if r := jobs("damaged.zip/bad.wav"); len(r) != 1 || !strings.HasPrefix(r[0], "parked: ") || !strings.Contains(r[0], "CRC-32") {
		t.Errorf("damaged.zip/bad.wav: %q, want parked for its CRC-32", r)
	}
	if r := jobs("replaced.zip/again.wav"); !slices.Equal(r, []string{"done: "}) {
		t.Errorf("replaced.zip/again.wav: %q, want one job, done", r)
	}
	// The old version is superseded, or done too if it was being looked
	// at when the new one was queued.
	if r := jobs("replaced.zip"); len(r) != 2 || r[1] != "done: " || r[0] != "done: " && !strings.HasPrefix(r[0], "skipped: superseded") {
		t.Errorf("replaced.zip: %q, want the old version superseded (or done) and the new one done", r)
	}
}

// paused reports whether the agent's call uploads are paused.
func paused(h *harness) bool {
	st, err := h.agent.Status()
	return err == nil && len(st.Paused) > 0
}
