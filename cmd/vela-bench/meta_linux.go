//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// opensCounted says whether countOpens works here.
const opensCounted = true

// openCounter counts how often any process opens one file of a folder,
// from the folder's inotify events.
type openCounter struct {
	f     *os.File // the inotify instance, non-blocking, so that the runtime polls it
	name  string
	n     int
	err   error
	ended chan struct{} // closed when the reading goroutine returned; then n and err are set
}

// countOpens starts counting the opens of dir/name.
func countOpens(dir, name string) (*openCounter, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("count opens of %s: %w", name, err)
	}
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_OPEN); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("count opens of %s: watch %s: %w", name, dir, err)
	}
	c := &openCounter{f: os.NewFile(uintptr(fd), "inotify"), name: name, ended: make(chan struct{})}
	go c.read()
	return c, nil
}

// read counts events until the instance's read deadline passes.
func (c *openCounter) read() {
	defer close(c.ended)
	buf := make([]byte, 64<<10)
	for {
		k, err := c.f.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			c.err = err
			return
		}
		for b := buf[:k]; len(b) >= syscall.SizeofInotifyEvent; {
			mask := binary.NativeEndian.Uint32(b[4:])
			size := int(binary.NativeEndian.Uint32(b[12:]))
			if syscall.SizeofInotifyEvent+size > len(b) {
				c.err = errors.New("a short inotify event")
				return
			}
			name := b[syscall.SizeofInotifyEvent : syscall.SizeofInotifyEvent+size]
			if mask&syscall.IN_Q_OVERFLOW != 0 {
				c.err = errors.New("the inotify queue overflowed: opens were missed")
			}
			if mask&syscall.IN_OPEN != 0 && string(bytes.TrimRight(name, "\x00")) == c.name {
				c.n++
			}
			b = b[syscall.SizeofInotifyEvent+size:]
		}
	}
}

// stop reads the events still queued and returns the opens counted. Call
// it once the processes that open the file have exited.
func (c *openCounter) stop() (int, error) {
	// Reads return at once while events are queued; the deadline ends the
	// first one that would wait.
	if err := c.f.SetReadDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
		c.f.Close()
		<-c.ended
		return 0, err
	}
	<-c.ended
	c.f.Close()
	return c.n, c.err
}
