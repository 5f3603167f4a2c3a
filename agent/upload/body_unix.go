//go:build unix

package upload

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// openNoFollow opens path for reading without following a symbolic link in
// its last element (O_NOFOLLOW), and without waiting for a writer if it is
// a FIFO (O_NONBLOCK, which does not change how a regular file reads).
func openNoFollow(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err == nil {
		return f, nil
	}
	// Systems disagree on the errno for a link (ELOOP, EMLINK, EFTYPE),
	// and a socket gives ENXIO: ask what is there.
	if fi, lerr := os.Lstat(path); lerr == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return nil, fmt.Errorf("%s: %w: a symbolic link", path, ErrChanged)
		case !fi.Mode().IsRegular() && !fi.IsDir():
			return nil, fmt.Errorf("%s: %w: not a regular file", path, ErrChanged)
		}
	}
	return nil, err
}
