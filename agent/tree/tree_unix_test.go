//go:build unix

package tree

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A named pipe is refused at once: os.Open would wait for a writer.
func TestNamedPipe(t *testing.T) {
	l := newLayout(t)
	p := filepath.Join(l.root, "a", "x.wav")
	mkdir(t, filepath.Dir(p))
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("cannot make a named pipe here: %v", err)
	}
	dstRoot := filepath.Join(filepath.Dir(l.root), "done")
	for name, op := range map[string]func() error{
		"Open": func() error {
			f, err := Open(l.root, "a/x.wav")
			if err == nil {
				f.Close()
			}
			return err
		},
		"Remove": func() error { return Remove(l.root, "a/x.wav") },
		"Move": func() error {
			_, err := Move(l.root, "a/x.wav", dstRoot)
			return err
		},
	} {
		done := make(chan error, 1)
		go func() { done <- op() }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrNotRegular) {
				t.Errorf("%s = %v, want %v", name, err, ErrNotRegular)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s blocked on a named pipe", name)
		}
		if !exists(t, p) {
			t.Fatalf("%s removed the named pipe", name)
		}
	}
}

// A regular file opened by Open reads in blocking mode.
func TestOpenBlocking(t *testing.T) {
	l := newLayout(t)
	write(t, filepath.Join(l.root, "x.wav"), "audio")
	f, err := Open(l.root, "x.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	c.Control(func(fd uintptr) {
		flags, err = fcntlGetfl(int(fd))
	})
	if err != nil {
		t.Fatal(err)
	}
	if flags&syscall.O_NONBLOCK != 0 {
		t.Error("file left in non-blocking mode")
	}
}
