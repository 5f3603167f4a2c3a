//go:build unix

package watcher

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// notOffered returns the "why" of each "not offered" debug line about
// path, in order.
func (l *logRecorder) notOffered(path string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var whys []string
	for _, r := range l.records {
		if r.Level != slog.LevelDebug || r.Message != "not offered" {
			continue
		}
		var p, why string
		r.Attrs(func(a slog.Attr) bool {
			switch a.Key {
			case "path":
				p = a.Value.String()
			case "why":
				why = a.Value.String()
			}
			return true
		})
		if p == path {
			whys = append(whys, why)
		}
	}
	return whys
}

// Links, FIFOs and sockets are logged at debug level with why, once each
// while they stay, not on every rescan; one that comes back after a scan
// missed it is logged again.
func TestSkippedEntriesLoggedOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := filepath.Join(dir, "r")
	makeTree(t, root, "real.wav", "sub/real2.wav", ".hidden/x.wav")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(root, "link.wav")
	dirLink := filepath.Join(root, "sub", "linkdir")
	fifo := filepath.Join(root, "fifo.wav")
	sock := filepath.Join(root, "s.sock")
	ignored := filepath.Join(root, ".hidden-fifo")
	must(os.Symlink(filepath.Join(root, "real.wav"), link))
	must(os.Symlink(dir, dirLink))
	must(syscall.Mkfifo(fifo, 0o644))
	must(syscall.Mkfifo(ignored, 0o644))
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Skipf("cannot make a unix socket: %v", err)
	}
	defer ln.Close()

	h := start(t, Options{Root: root, Recursive: true})
	h.waitPaths("real.wav", "sub/real2.wav")
	for range 3 {
		h.sync()
	}
	want := map[string][]string{
		link:    {"symlink: not followed"},
		dirLink: {"symlink: not followed"},
		fifo:    {"not a regular file: fifo"},
		sock:    {"not a regular file: socket"},
		ignored: nil,
	}
	for p, w := range want {
		if got := h.logs.notOffered(p); !slices.Equal(got, w) {
			t.Errorf("logged about %s: %q, want %q", p, got, w)
		}
	}

	must(os.Remove(fifo))
	h.sync() // a scan that does not see it
	must(syscall.Mkfifo(fifo, 0o644))
	h.sync()
	h.sync()
	if got := h.logs.notOffered(fifo); len(got) != 2 {
		t.Errorf("logged about the FIFO made again: %q, want twice", got)
	}
	if got := h.paths(); !slices.Equal(got, []string{"real.wav", "sub/real2.wav"}) {
		t.Errorf("sent %v", got)
	}
}
