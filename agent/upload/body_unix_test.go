//go:build unix

package upload

import (
	"net"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFileBodyFIFO checks that a FIFO in the file's place is refused at
// once, not waited on for a writer.
func TestFileBodyFIFO(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "call_001.wav")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	postLocal(t, FileBody(fifo, "call_001.wav", 0), Permanent, ErrChanged)
}

// TestFileBodySocket checks that a socket in the file's place is refused
// as a changed file.
func TestFileBodySocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.wav")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("listen on a Unix socket: %v", err)
	}
	defer ln.Close()
	postLocal(t, FileBody(path, "call_001.wav", 0), Permanent, ErrChanged)
}
