//go:build unix

package watcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// listed is what a lister says of one entry.
type listed struct {
	name        string
	kind        fs.FileMode
	typed       bool
	size, mtime int64
	typ         fs.FileMode
}

func listAll(t *testing.T, l lister, abs string, follow bool) []listed {
	t.Helper()
	if err := l.open(abs, follow); err != nil {
		t.Fatalf("open %s: %v", abs, err)
	}
	defer l.close()
	var got []listed
	for l.next() {
		e := listed{name: strings.Clone(l.name())}
		e.kind, e.typed = l.kind()
		var err error
		if e.size, e.mtime, e.typ, err = l.stat(); err != nil {
			t.Fatalf("stat %s: %v", e.name, err)
		}
		got = append(got, e)
	}
	if err := l.err(); err != nil {
		t.Fatalf("list %s: %v", abs, err)
	}
	slices.SortFunc(got, func(a, b listed) int { return strings.Compare(a.name, b.name) })
	return got
}

// TestListers checks that the lister of this system (getdents64 on Linux)
// says what os.ReadDir and os.Lstat say, over a folder too big for one
// buffer, and that a lister starts afresh on each folder.
func TestListers(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	long := strings.Repeat("x", 240)
	var want []string
	for i := range 600 { // 600 names of 250 bytes: several buffers
		name := fmt.Sprintf("%s-%04d.wav", long, i)
		write(t, filepath.Join(root, name), strings.Repeat("a", i))
		want = append(want, name)
	}
	makeTree(t, root, "sub/a.wav", "Ünïcode é.WAV", "a b.wav")
	want = append(want, "sub", "Ünïcode é.WAV", "a b.wav")
	if err := os.Symlink(filepath.Join(root, "a b.wav"), filepath.Join(root, "link.wav")); err == nil {
		want = append(want, "link.wav")
	}
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err == nil {
		want = append(want, "pipe")
	}
	slices.Sort(want)

	for name, l := range map[string]lister{"native": newLister(), "portable": newReadDirLister()} {
		for pass := range 2 {
			got := listAll(t, l, root, true)
			var names []string
			for _, e := range got {
				names = append(names, e.name)
				info, err := os.Lstat(filepath.Join(root, e.name))
				if err != nil {
					t.Fatal(err)
				}
				mtime := info.ModTime().UnixNano()
				if info.Mode().Type() != e.typ || e.typed && e.kind != e.typ ||
					info.Mode().IsRegular() && (e.size != info.Size() || e.mtime != mtime) {
					t.Errorf("%s lister, pass %d: %+v; Lstat says %v, %d bytes, mtime %d", name, pass, e, info.Mode(), info.Size(), mtime)
				}
			}
			if !slices.Equal(names, want) {
				t.Errorf("%s lister, pass %d: listed %d names, want %d:\n%q\n%q", name, pass, len(names), len(want), names, want)
			}
		}
		if got := listAll(t, l, filepath.Join(root, "sub"), false); len(got) != 1 || got[0].name != "a.wav" {
			t.Errorf("%s lister: sub holds %+v, want a.wav", name, got)
		}
	}
}

// TestListerRefuses checks the errors of open: a missing folder, a file, and
// a link to a folder where links are not followed, which the native lister
// takes as a folder gone.
func TestListerRefuses(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	makeTree(t, root, "d/a.wav", "f.wav")
	if err := os.Symlink(filepath.Join(root, "d"), filepath.Join(root, "link")); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	l := newLister()
	native := fastLister
	for _, tc := range []struct {
		name     string
		follow   bool
		notExist bool
	}{
		{"missing", true, true},
		{"missing", false, true},
		{"f.wav", false, native},
		{"link", false, native}, // os.ReadDir follows links
	} {
		err := l.open(filepath.Join(root, tc.name), tc.follow)
		if err == nil {
			l.close()
			if native || tc.name != "link" {
				t.Errorf("open(%s, follow %v) = nil, want an error", tc.name, tc.follow)
			}
			continue
		}
		if errors.Is(err, fs.ErrNotExist) != tc.notExist {
			t.Errorf("open(%s, follow %v) = %v; not-exist %v, want %v", tc.name, tc.follow, err, errors.Is(err, fs.ErrNotExist), tc.notExist)
		}
	}
	if got := listAll(t, l, filepath.Join(root, "link"), true); len(got) != 1 {
		t.Errorf("through the link to d: %+v, want a.wav", got)
	}
}
