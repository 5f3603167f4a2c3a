package tree

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// hook replaces a package hook for the length of a test.
func hook[T any](t *testing.T, v *T, f T) {
	t.Helper()
	old := *v
	*v = f
	t.Cleanup(func() { *v = old })
}

// crossDevices makes every rename Move tries fail as it does between two
// devices, and counts the tries.
func crossDevices(t *testing.T) *int {
	t.Helper()
	n := new(int)
	hook(t, &rename, func(src *os.Root, oldName string, dst *os.Root, newName string) error {
		*n++
		return &os.LinkError{Op: "rename", Old: oldName, New: newName, Err: syscall.EXDEV}
	})
	return n
}

// names lists the entries of dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, e := range entries {
		s = append(s, e.Name())
	}
	return s
}

// source makes root/rel with data and a modification time in the past.
func source(t *testing.T, root, rel, data string) (string, time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	write(t, p, data)
	mtime := time.Date(2024, 3, 1, 10, 30, 0, 123456789, time.UTC)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, fi.ModTime()
}

func TestMoveRefuses(t *testing.T) {
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			tc.plant(t, l)
			dstRoot := filepath.Join(filepath.Dir(l.root), "done")
			dst, err := Move(l.root, tc.rel, dstRoot)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Move(%q) = %q, %v, want %v", tc.rel, dst, err, tc.want)
			}
			l.check(t)
			if exists(t, dstRoot) {
				entries, _ := os.ReadDir(dstRoot)
				if len(entries) > 0 {
					t.Errorf("Move(%q) left %d entries in the destination", tc.rel, len(entries))
				}
			}
			if tc.want == ErrLink && !exists(t, filepath.Join(l.root, tc.rel)) {
				t.Errorf("Move(%q) moved the link", tc.rel)
			}
		})
	}
}

func TestMoveRefusesAbsolute(t *testing.T) {
	l := newLayout(t)
	rel := filepath.ToSlash(l.secret)
	if _, err := Move(l.root, rel, t.TempDir()); !errors.Is(err, ErrNotLocal) {
		t.Errorf("Move(%q) = %v, want %v", rel, err, ErrNotLocal)
	}
	l.check(t)
}

func TestMoveSameDevice(t *testing.T) {
	base := t.TempDir()
	srcRoot, dstRoot := filepath.Join(base, "in"), filepath.Join(base, "done")
	src, mtime := source(t, srcRoot, "a/b/x.wav", "audio")
	tries := 0
	hook(t, &rename, func(src *os.Root, oldName string, dst *os.Root, newName string) error {
		tries++
		return renameAt(src, oldName, dst, newName)
	})

	dst, err := Move(srcRoot, "a/b/x.wav", dstRoot)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dstRoot, "a", "b", "x.wav"); dst != want {
		t.Errorf("Move = %q, want %q", dst, want)
	}
	if got := read(t, dst); got != "audio" {
		t.Errorf("destination holds %q", got)
	}
	if exists(t, src) {
		t.Error("source still exists")
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("modification time %v, want %v", fi.ModTime(), mtime)
	}
	if tries != 1 {
		t.Errorf("%d renames, want 1", tries)
	}
	for _, d := range []string{filepath.Join(dstRoot, "a"), filepath.Join(dstRoot, "a", "b")} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&^dirPerm != 0 {
			t.Errorf("%s has mode %v, want at most %v", d, perm, fs.FileMode(dirPerm))
		}
	}
	if _, err := Move(srcRoot, "a/b/x.wav", dstRoot); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Move again = %v, want fs.ErrNotExist", err)
	}
}

func TestMoveAcrossDevicesRemoveFails(t *testing.T) {
	base := t.TempDir()
	srcRoot, dstRoot := filepath.Join(base, "in"), filepath.Join(base, "done")
	src, mtime := source(t, srcRoot, "a/x.wav", "audio")
	tries := crossDevices(t)
	busy := true
	hook(t, &remove, func(d *os.Root, name string) error {
		if busy {
			return &fs.PathError{Op: "remove", Path: name, Err: syscall.EBUSY}
		}
		return d.Remove(name)
	})
	want := filepath.Join(dstRoot, "a", "x.wav")

	// The recorder still holds the source: the copy is made, the source
	// stays, and trying again copies nothing more.
	for range 3 {
		dst, err := Move(srcRoot, "a/x.wav", dstRoot)
		if !errors.Is(err, syscall.EBUSY) {
			t.Fatalf("Move = %v, want EBUSY", err)
		}
		if dst != want {
			t.Errorf("Move = %q, want %q", dst, want)
		}
		if got := names(t, filepath.Dir(want)); !slices.Equal(got, []string{"x.wav"}) {
			t.Fatalf("destination holds %q, want exactly x.wav", got)
		}
		if !exists(t, src) {
			t.Fatal("source removed")
		}
	}
	if *tries != 1 {
		t.Errorf("%d renames, want 1: a retry must not copy again", *tries)
	}

	busy = false
	dst, err := Move(srcRoot, "a/x.wav", dstRoot)
	if err != nil || dst != want {
		t.Fatalf("Move = %q, %v; want %q", dst, err, want)
	}
	if exists(t, src) {
		t.Error("source still exists")
	}
	if got := names(t, filepath.Dir(want)); !slices.Equal(got, []string{"x.wav"}) {
		t.Errorf("destination holds %q, want exactly x.wav", got)
	}
	if got := read(t, want); got != "audio" {
		t.Errorf("copy holds %q", got)
	}
	fi, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(mtime) {
		t.Errorf("copy's modification time %v, want %v", fi.ModTime(), mtime)
	}
}

func TestMoveAcrossDevices(t *testing.T) {
	base := t.TempDir()
	srcRoot, dstRoot := filepath.Join(base, "in"), filepath.Join(base, "done")
	src, _ := source(t, srcRoot, "x.wav", "audio")
	crossDevices(t)
	dst, err := Move(srcRoot, "x.wav", dstRoot)
	if err != nil {
		t.Fatal(err)
	}
	if exists(t, src) || read(t, dst) != "audio" {
		t.Error("not moved")
	}
	if got := names(t, dstRoot); !slices.Equal(got, []string{"x.wav"}) {
		t.Errorf("destination holds %q, want exactly x.wav", got)
	}
}

func TestMoveChangedDuringCopy(t *testing.T) {
	base := t.TempDir()
	srcRoot, dstRoot := filepath.Join(base, "in"), filepath.Join(base, "done")
	src, _ := source(t, srcRoot, "x.wav", "audio")
	// The recorder appends while the copy is being made.
	hook(t, &rename, func(*os.Root, string, *os.Root, string) error {
		f, err := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(" and more")
		f.Close()
		return &os.LinkError{Op: "rename", Err: syscall.EXDEV}
	})
	if _, err := Move(srcRoot, "x.wav", dstRoot); !errors.Is(err, ErrChanged) {
		t.Fatalf("Move = %v, want %v", err, ErrChanged)
	}
	if got := read(t, src); got != "audio and more" {
		t.Errorf("source holds %q", got)
	}
	if got := names(t, dstRoot); len(got) != 0 {
		t.Errorf("destination holds %q, want nothing", got)
	}
}

func TestMoveRenameFails(t *testing.T) {
	base := t.TempDir()
	srcRoot, dstRoot := filepath.Join(base, "in"), filepath.Join(base, "done")
	src, _ := source(t, srcRoot, "x.wav", "audio")
	hook(t, &rename, func(*os.Root, string, *os.Root, string) error {
		return &os.LinkError{Op: "rename", Err: syscall.EACCES}
	})
	if _, err := Move(srcRoot, "x.wav", dstRoot); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("Move = %v, want EACCES", err)
	}
	if !exists(t, src) {
		t.Error("source removed")
	}
	if got := names(t, dstRoot); len(got) != 0 {
		t.Errorf("destination holds %q: only a move across devices may copy", got)
	}
}

func TestMoveNumbered(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cross bool
	}{{"same device", false}, {"across devices", true}} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			dstRoot := filepath.Join(filepath.Dir(l.root), "done")
			write(t, filepath.Join(dstRoot, "a", "x.wav"), "older")
			write(t, filepath.Join(dstRoot, "a", "x.1.wav"), "other")
			symlink(t, l.secret, filepath.Join(dstRoot, "a", "x.2.wav"))
			write(t, filepath.Join(dstRoot, "a", "x.3.wav"), "audia") // same size
			source(t, l.root, "a/x.wav", "audio")
			if tc.cross {
				crossDevices(t)
			}

			dst, err := Move(l.root, "a/x.wav", dstRoot)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dstRoot, "a", "x.4.wav"); dst != want {
				t.Errorf("Move = %q, want %q", dst, want)
			}
			for name, want := range map[string]string{"x.wav": "older", "x.1.wav": "other", "x.3.wav": "audia", "x.4.wav": "audio"} {
				if got := read(t, filepath.Join(dstRoot, "a", name)); got != want {
					t.Errorf("%s holds %q, want %q", name, got, want)
				}
			}
			l.check(t)
			if fi, err := os.Lstat(filepath.Join(dstRoot, "a", "x.2.wav")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("the link at x.2.wav was replaced: %v, %v", fi, err)
			}
		})
	}
}

func TestMoveDestinationLink(t *testing.T) {
	l := newLayout(t)
	dstRoot := filepath.Join(filepath.Dir(l.root), "done")
	symlink(t, l.outside, filepath.Join(dstRoot, "a"))
	src, _ := source(t, l.root, "a/x.wav", "audio")
	if _, err := Move(l.root, "a/x.wav", dstRoot); !errors.Is(err, ErrLink) {
		t.Fatalf("Move = %v, want %v", err, ErrLink)
	}
	l.check(t)
	if !exists(t, src) {
		t.Error("source removed")
	}
}

func TestMoveOntoItself(t *testing.T) {
	l := newLayout(t)
	src, _ := source(t, l.root, "a/x.wav", "audio")
	if _, err := Move(l.root, "a/x.wav", l.root); !errors.Is(err, errSameFile) {
		t.Fatalf("Move = %v, want %v", err, errSameFile)
	}
	if got := read(t, src); got != "audio" {
		t.Errorf("source holds %q", got)
	}
	if got := names(t, filepath.Dir(src)); !slices.Equal(got, []string{"x.wav"}) {
		t.Errorf("folder holds %q", got)
	}
}

func TestNumbered(t *testing.T) {
	for _, tc := range []struct {
		name string
		i    int
		want string
	}{
		{"x.wav", 0, "x.wav"},
		{"x.wav", 1, "x.1.wav"},
		{"x.tar.gz", 2, "x.tar.2.gz"},
		{"x", 3, "x.3"},
	} {
		if got := numbered(tc.name, tc.i); got != tc.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", tc.name, tc.i, got, tc.want)
		}
	}
}
