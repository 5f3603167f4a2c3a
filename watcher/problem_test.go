package watcher

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// failDirs is a failDir hook that refuses the folders it holds.
type failDirs struct {
	mu   sync.Mutex
	dirs map[string]bool // absolute path -> refused
}

func (f *failDirs) set(dirs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirs = map[string]bool{}
	for _, d := range dirs {
		f.dirs[d] = true
	}
}

func (f *failDirs) fail(dir string) error {
	f.mu.Lock()
	refused := f.dirs[dir]
	f.mu.Unlock()
	if refused {
		return &fs.PathError{Op: "open", Path: dir, Err: fs.ErrPermission}
	}
	return nil
}

// startFailing is start with folders made unreadable by a hook, which works
// for root too.
func startFailing(t *testing.T, o Options, fail *failDirs) *harness {
	t.Helper()
	h := startWith(t, o, func(w *Local) { w.failDir = fail.fail })
	return h
}

// An unreadable subfolder is in Problem, with why, until it is read again.
func TestUnreadableFolderProblem(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	makeTree(t, root, "a.wav", "a/b/x.wav", "c/y.wav", "d/z.wav")
	fail := &failDirs{}
	fail.set(filepath.Join(root, "a", "b"), filepath.Join(root, "c"))
	h := startFailing(t, Options{Root: root, Recursive: true}, fail)
	h.waitPaths("a.wav", "d/z.wav")
	problem := func(want string) {
		t.Helper()
		waitUntil(t, fmt.Sprintf("Problem() = %q (it is %q)", want, h.w.Problem()), func() bool { return h.w.Problem() == want })
	}
	problem("2 folders unreadable: a/b (permission denied), c (permission denied)")
	h.sync()
	h.sync()
	if n := h.logs.count(slog.LevelWarn, "cannot read folder"); n != 2 {
		t.Errorf("%d warnings about unreadable folders, want 2 (one each)", n)
	}

	fail.set(filepath.Join(root, "a", "b"))
	h.w.Rescan()
	h.waitPaths("c/y.wav")
	problem("1 folder unreadable: a/b (permission denied)")

	fail.set()
	h.w.Rescan()
	h.waitPaths("a/b/x.wav")
	problem("")
	if n := h.logs.count(slog.LevelInfo, "folder readable again"); n != 2 {
		t.Errorf("%d infos about folders readable again, want 2", n)
	}
}

// A folder made readable again is found by the event its change of mode
// causes, without waiting for a rescan.
func TestUnreadableFolderProblemClearsOnEvent(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	makeTree(t, root, "a.wav", "locked/b.wav")
	locked := filepath.Join(root, "locked")
	fail := &failDirs{}
	fail.set(locked)
	h := startFailing(t, Options{Root: root, Recursive: true}, fail)
	h.waitPaths("a.wav")
	waitUntil(t, "the folder in Problem()", func() bool { return strings.Contains(h.w.Problem(), "locked (permission denied)") })
	if mode, _ := h.w.Mode(); mode != ModeEvents {
		t.Skipf("no file events here (%s)", mode)
	}
	fail.set()
	if err := os.Chmod(locked, 0o700); err != nil { // an attribute event on the parent
		t.Fatal(err)
	}
	h.waitPaths("locked/b.wav")
	waitUntil(t, "Problem() empty", func() bool { return h.w.Problem() == "" })
}

func TestUnreadableSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		failed map[string]string
		want   string
	}{
		{nil, ""},
		{map[string]string{".": "no such file or directory"}, ""},
		{map[string]string{"x/y": "permission denied"}, "1 folder unreadable: x/y (permission denied)"},
		{map[string]string{"e": "p", "d": "p", "c": "p", "b": "p", "a": "q"},
			"5 folders unreadable: a (q), b (p), c (p), and 2 more"},
	}
	for _, tc := range tests {
		if got := unreadable(tc.failed); got != tc.want {
			t.Errorf("unreadable(%v) = %q, want %q", tc.failed, got, tc.want)
		}
	}
}

func TestCheckPattern(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		err     error // nil: valid; otherwise errors.Is must hold, or any error for errBad
	}{
		{"*.wav", nil},
		{"calls/*/*.MP3", nil},
		{"[[]draft]*", nil},
		{"[^a-c]*.wav", nil},
		{`calls\*.wav`, ErrBackslash},
		{`\*.wav`, ErrBackslash},
		{"[a-", errBad},
	}
	for _, tc := range tests {
		err := CheckPattern(tc.pattern)
		switch {
		case tc.err == nil && err != nil:
			t.Errorf("CheckPattern(%q) = %v, want nil", tc.pattern, err)
		case tc.err == errBad && err == nil:
			t.Errorf("CheckPattern(%q) = nil, want an error", tc.pattern)
		case tc.err != nil && tc.err != errBad && !errors.Is(err, tc.err):
			t.Errorf("CheckPattern(%q) = %v, want %v", tc.pattern, err, tc.err)
		}
	}
}

var errBad = errors.New("any error")
