package ftp

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestPollNestedAndSettle(t *testing.T) {
	for _, list := range []string{ListAuto, ListLIST} {
		t.Run(list, func(t *testing.T) {
			ts := startServer(t, t.TempDir())
			mt := time.Now().Add(-2 * time.Hour).Truncate(time.Second).UTC()
			ts.write(t, "a.wav", "aaaa", mt)
			ts.write(t, "x/y/b.wav", "bbbbbb", mt)
			ts.write(t, "x/.hidden.wav", "h", mt)
			ts.write(t, "x/c.wav.part", "p", mt)
			s := newSource(t, ts, func(o *Options) { o.List = list })
			found := runSource(t, s)
			got := collect(t, found, 2, 3*time.Second)
			if paths(got) != "a.wav,x/y/b.wav" {
				t.Fatalf("found %q", paths(got))
			}
			want := mt
			if list == ListLIST {
				want = mt.Truncate(time.Minute) // goftp has no MDTM in FEAT: minute-precise
			}
			for _, f := range got {
				if f.Source != "pbx" || !f.ModTime.Equal(want) {
					t.Errorf("%+v: want source pbx, mtime %v", f, want)
				}
			}
			if got[1].Size != 6 {
				t.Errorf("size %d", got[1].Size)
			}
			// Nothing is offered twice.
			waitFor(t, "more polls", func() bool { return s.Stats().Scans >= 5 })
			if more := collect(t, found, 1, 100*time.Millisecond); len(more) > 0 {
				t.Fatalf("offered again: %v", more)
			}
			if st := s.Stats(); st.Found != 2 || st.LastScanFiles != 2 {
				t.Errorf("stats %+v", st)
			}
			if p := s.Problem(); p != "" {
				t.Errorf("problem %q", p)
			}
			// Forget offers it again.
			s.Forget("a.wav")
			if again := collect(t, found, 1, 2*time.Second); paths(again) != "a.wav" {
				t.Fatalf("after Forget: %q", paths(again))
			}
		})
	}
}

func TestPollGrowingFileNotTaken(t *testing.T) {
	ts := startServer(t, t.TempDir())
	s := newSource(t, ts, func(o *Options) { o.Settle = 300 * time.Millisecond })
	found := runSource(t, s)
	p := filepath.Join(ts.root, "growing.wav")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 600*time.Millisecond {
		if _, err := f.WriteString("data"); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-found:
			t.Fatalf("taken while growing: %v", b)
		case <-time.After(40 * time.Millisecond):
		}
	}
	f.Close()
	st, _ := os.Stat(p)
	got := collect(t, found, 1, 3*time.Second)
	if len(got) != 1 || got[0].Size != st.Size() {
		t.Fatalf("got %+v, want size %d", got, st.Size())
	}
	if time.Since(start) < 850*time.Millisecond {
		t.Errorf("taken %v after start: before it settled", time.Since(start))
	}
}

func TestPollIncludeExclude(t *testing.T) {
	ts := startServer(t, t.TempDir())
	for _, p := range []string{"a.wav", "b.MP3", "c.txt", "skip/d.wav", "keep/e.wav", "keep/f.wav"} {
		ts.write(t, p, "x", time.Time{})
	}
	s := newSource(t, ts, func(o *Options) {
		o.Include = []string{"*.wav", "*.mp3"}
		o.Exclude = []string{"skip", "keep/f.*"}
	})
	got := collect(t, runSource(t, s), 3, 3*time.Second)
	if paths(got) != "a.wav,b.MP3,keep/e.wav" {
		t.Fatalf("found %q", paths(got))
	}
	// Not recursive: only the top folder.
	s2 := newSource(t, ts, func(o *Options) { o.Recursive = false; o.Name = "flat" })
	if got := collect(t, runSource(t, s2), 3, 3*time.Second); paths(got) != "a.wav,b.MP3,c.txt" {
		t.Fatalf("flat: %q", paths(got))
	}
}

func TestPollHostileNames(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("these names cannot be created on Windows")
	}
	ts := startServer(t, t.TempDir())
	ts.write(t, "ok.wav", "x", time.Time{})
	for _, n := range []string{`back\slash.wav`, "bell\a.wav", "esc\x1b[2J.wav", "bad\xff.wav"} {
		ts.write(t, n, "x", time.Time{})
	}
	ts.write(t, `dir\evil/inner.wav`, "x", time.Time{})
	s := newSource(t, ts, nil)
	found := runSource(t, s)
	got := collect(t, found, 1, 3*time.Second)
	waitFor(t, "a few polls", func() bool { return s.Stats().Scans >= 3 })
	got = append(got, collect(t, found, 5, 100*time.Millisecond)...)
	if paths(got) != "ok.wav" {
		t.Fatalf("found %q", paths(got))
	}
	p := s.Problem()
	for _, want := range []string{"5 remote names refused", "backslash in name", "not valid UTF-8", "control character in name"} {
		if !strings.Contains(p, want) {
			t.Errorf("problem %q lacks %q", p, want)
		}
	}
	if st := s.Stats(); st.Skipped != 5 { // each name once
		t.Errorf("skipped %d, want 5", st.Skipped)
	}
}

// The embedded server lists links as the files they point to, so links
// and other entries are fed to the poll directly here; script_test.go and
// vsftpd_test.go list them from servers.
func TestPollSkipsLinks(t *testing.T) {
	s, err := New(Options{Name: "n", Addr: "127.0.0.1:21", Recursive: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for gen := uint32(1); gen <= 2; gen++ {
		p := s.newPoll(context.Background(), gen)
		for _, it := range []item{
			{name: "l.wav", kind: kindLink, what: "symbolic link"},
			{name: "ldir", kind: kindLink, what: "OS.unix=slink:/"},
			{name: "dev.wav", kind: kindOther, what: "type OS.unix=chr-1/3"},
			{name: "/", kind: kindSelf},
			{name: "..", kind: kindFolder},
		} {
			if err := p.entry(".", it, true); err != nil {
				t.Fatal(err)
			}
		}
		p.sweep()
		if len(p.dirs) != 0 || len(p.batch) != 0 || p.seen != 0 {
			t.Fatalf("followed: dirs %v batch %v", p.dirs, p.batch)
		}
	}
	if st := s.Stats(); st.Skipped != 3 {
		t.Errorf("skipped %d, want 3 (each entry once)", st.Skipped)
	}
	if p := s.Problem(); p != "" {
		t.Errorf("problem %q", p)
	}
}

func TestBadName(t *testing.T) {
	for name, want := range map[string]string{
		"a.wav": "", "ü 12:30.wav": "", "": "empty name", ".": "dot name", "..": "dot name",
		"a/b": "slash in name", `a\b`: "backslash in name", "a\x00b": "NUL in name",
		"a\nb": "control character in name", "a\x7f": "control character in name",
		"a\u0085": "control character in name", "\xc0\xaf": "not valid UTF-8",
	} {
		if got := badName(name); got != want {
			t.Errorf("badName(%q) = %q, want %q", name, got, want)
		}
	}
	for _, rel := range []string{"../x", "/etc/passwd", "a//b", "a/./b", "a/../../b"} {
		if checkRel(rel) == nil {
			t.Errorf("checkRel(%q) accepted", rel)
		}
	}
	if err := checkRel("a/b/c.wav"); err != nil {
		t.Error(err)
	}
}

func FuzzBadName(f *testing.F) {
	for _, s := range []string{"a.wav", "..", "a/b", `a\b`, "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if badName(name) != "" {
			return
		}
		if !filepath.IsLocal(name) && runtime.GOOS != "windows" {
			t.Fatalf("accepted %q, not local", name)
		}
		if strings.ContainsAny(name, "/\\\x00") {
			t.Fatalf("accepted %q", name)
		}
	})
}
