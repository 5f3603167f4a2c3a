package tree

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// layout is a temporary source folder with a folder outside it that holds
// a secret, the target of the links the tests plant.
type layout struct {
	root, outside, secret string
}

func newLayout(t *testing.T) layout {
	t.Helper()
	base := t.TempDir()
	l := layout{root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	l.secret = filepath.Join(l.outside, "x.wav")
	write(t, l.secret, "secret")
	mkdir(t, l.root)
	return l
}

func write(t *testing.T, p, data string) {
	t.Helper()
	mkdir(t, filepath.Dir(p))
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	mkdir(t, filepath.Dir(link))
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot create symbolic links here: %v", err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// refusals are the trees every function must refuse, and what it must
// refuse them with. Each would be followed by os.Open, os.Remove or
// os.Rename on the joined path.
var refusals = []struct {
	name  string
	rel   string
	plant func(t *testing.T, l layout)
	want  error
}{
	{"final link outside", "x.wav", func(t *testing.T, l layout) {
		symlink(t, l.secret, filepath.Join(l.root, "x.wav"))
	}, ErrLink},
	{"parent link outside", "a/x.wav", func(t *testing.T, l layout) {
		symlink(t, l.outside, filepath.Join(l.root, "a"))
	}, ErrLink},
	{"deep parent link outside", "a/b/x.wav", func(t *testing.T, l layout) {
		symlink(t, l.outside, filepath.Join(l.root, "a", "b"))
	}, ErrLink},
	{"final link inside", "x.wav", func(t *testing.T, l layout) {
		write(t, filepath.Join(l.root, "real.wav"), "real")
		symlink(t, "real.wav", filepath.Join(l.root, "x.wav"))
	}, ErrLink},
	{"parent link inside", "a/x.wav", func(t *testing.T, l layout) {
		write(t, filepath.Join(l.root, "b", "x.wav"), "real")
		symlink(t, "b", filepath.Join(l.root, "a"))
	}, ErrLink},
	{"dot dot", "../outside/x.wav", func(*testing.T, layout) {}, ErrNotLocal},
	{"dot dot inside", "a/../../outside/x.wav", func(*testing.T, layout) {}, ErrNotLocal},
	{"not clean", "a/../x.wav", func(t *testing.T, l layout) {
		write(t, filepath.Join(l.root, "x.wav"), "real")
	}, ErrNotLocal},
	{"empty", "", func(*testing.T, layout) {}, ErrNotLocal},
	{"folder", "a", func(t *testing.T, l layout) {
		mkdir(t, filepath.Join(l.root, "a"))
	}, ErrNotRegular},
}

// check verifies that nothing outside the folder was touched and that
// the planted links are still there.
func (l layout) check(t *testing.T) {
	t.Helper()
	if got := read(t, l.secret); got != "secret" {
		t.Errorf("file outside the folder now holds %q", got)
	}
	entries, err := os.ReadDir(l.outside)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder outside now holds %d entries, want 1", len(entries))
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			tc.plant(t, l)
			f, err := Open(l.root, tc.rel)
			if err == nil {
				b, _ := io.ReadAll(f)
				f.Close()
				t.Fatalf("Open(%q) read %q, want %v", tc.rel, b, tc.want)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open(%q) = %v, want %v", tc.rel, err, tc.want)
			}
			l.check(t)
		})
	}
}

func TestRemoveRefuses(t *testing.T) {
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(t)
			tc.plant(t, l)
			if err := Remove(l.root, tc.rel); !errors.Is(err, tc.want) {
				t.Fatalf("Remove(%q) = %v, want %v", tc.rel, err, tc.want)
			}
			l.check(t)
			if tc.want == ErrLink && !exists(t, filepath.Join(l.root, tc.rel)) {
				t.Errorf("Remove(%q) removed the link", tc.rel)
			}
		})
	}
}

func TestRefusesAbsolute(t *testing.T) {
	l := newLayout(t)
	rel := filepath.ToSlash(l.secret)
	if f, err := Open(l.root, rel); !errors.Is(err, ErrNotLocal) {
		if f != nil {
			f.Close()
		}
		t.Errorf("Open(%q) = %v, want %v", rel, err, ErrNotLocal)
	}
	if err := Remove(l.root, rel); !errors.Is(err, ErrNotLocal) {
		t.Errorf("Remove(%q) = %v, want %v", rel, err, ErrNotLocal)
	}
	l.check(t)
}

func TestOpen(t *testing.T) {
	l := newLayout(t)
	write(t, filepath.Join(l.root, "a", "b", "x.wav"), "audio")
	f, err := Open(l.root, "a/b/x.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "audio" {
		t.Fatalf("read %q, %v; want %q", b, err, "audio")
	}
	if _, err := Open(l.root, "a/missing.wav"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestOpenNamesTheLink(t *testing.T) {
	l := newLayout(t)
	symlink(t, l.outside, filepath.Join(l.root, "a"))
	_, err := Open(l.root, "a/x.wav")
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != filepath.Join(l.root, "a") {
		t.Errorf("Open = %v, want a *fs.PathError naming %s", err, filepath.Join(l.root, "a"))
	}
}

func TestLstat(t *testing.T) {
	l := newLayout(t)
	write(t, filepath.Join(l.root, "a", "x.wav"), "audio")
	symlink(t, l.secret, filepath.Join(l.root, "a", "link.wav"))
	symlink(t, l.outside, filepath.Join(l.root, "b"))

	fi, err := Lstat(l.root, "a/x.wav")
	if err != nil || fi.Size() != 5 {
		t.Fatalf("Lstat(a/x.wav) = %v, %v; want 5 bytes", fi, err)
	}
	fi, err = Lstat(l.root, "a/link.wav")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(a/link.wav) = %v, %v; want the link itself", fi, err)
	}
	if _, err := Lstat(l.root, "b/x.wav"); !errors.Is(err, ErrLink) {
		t.Errorf("Lstat(b/x.wav) = %v, want %v", err, ErrLink)
	}
}

func TestRemove(t *testing.T) {
	l := newLayout(t)
	p := filepath.Join(l.root, "a", "x.wav")
	write(t, p, "audio")
	if err := Remove(l.root, "a/x.wav"); err != nil {
		t.Fatal(err)
	}
	if exists(t, p) {
		t.Fatal("file still exists")
	}
	for _, rel := range []string{"a/x.wav", "a/b/x.wav", "missing/x.wav"} {
		if err := Remove(l.root, rel); err != nil {
			t.Errorf("Remove(%q) of a missing file = %v, want nil", rel, err)
		}
	}
}
