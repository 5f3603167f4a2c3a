package watcher

import (
	"path"
	"strings"
	"testing"
)

// FuzzWantListed checks that the filters of a listed name, which lower it
// into buffers, decide as those of its path, and that lower is
// strings.ToLower.
func FuzzWantListed(f *testing.F) {
	for _, seed := range []struct{ dir, name string }{
		{".", "call.wav"},
		{".", "CALL.WAV"},
		{"Keep", "notes.TXT"},
		{"sub/Private", "x.wav"},
		{"a/b", "~$lock.wav"},
		{"ÀB", "Ünïcode.WAV"},
		{".", "ǅ.wav"},
		{"x", ".hidden.wav"},
		{"x", "m.wav.TMP"},
		{"ARCHIVE", "skip-me.wav"},
	} {
		f.Add(seed.dir, seed.name)
	}
	in, err := compile([]string{"*.wav", "*.MP3", "keep/*.txt", "[a-c]*/ü*"})
	if err != nil {
		f.Fatal(err)
	}
	ex, err := compile([]string{"*skip*", "sub/private/*", "À*/*"})
	if err != nil {
		f.Fatal(err)
	}
	r := newRules(in, ex)
	var sc scratch
	f.Fuzz(func(t *testing.T, dir, name string) {
		if name == "" || strings.Contains(name, "/") || dir == "" {
			return
		}
		dir = path.Clean(dir)
		rel := name
		if dir != "." {
			rel = dir + "/" + name
		}
		if got, want := r.wantListed(&sc, dir, name), r.wantFile(rel, name); got != want {
			t.Errorf("wantListed(%q, %q) = %v, wantFile(%q) = %v", dir, name, got, rel, want)
		}
		var buf []byte
		if got, want := lower(&buf, name), strings.ToLower(name); got != want {
			t.Errorf("lower(%q) = %q, want %q", name, got, want)
		}
		if got, want := string(appendLower([]byte("x"), dir)), "x"+strings.ToLower(dir); got != want {
			t.Errorf("appendLower(x, %q) = %q, want %q", dir, got, want)
		}
	})
}
