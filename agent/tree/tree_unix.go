//go:build unix

package tree

import (
	"io/fs"
	"os"
	"syscall"
)

// openFlag opens a file for reading without blocking, should a named pipe
// have been swapped in; blocking restores ordinary reads once the file is
// known to be regular. (os.Root adds O_NOFOLLOW itself.)
const openFlag = os.O_RDONLY | syscall.O_NONBLOCK

// isLink reports a symbolic link.
func isLink(fi fs.FileInfo) bool {
	return fi.Mode()&fs.ModeSymlink != 0
}

// blocking clears O_NONBLOCK on a regular file opened with openFlag.
func blocking(f *os.File) error {
	c, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := c.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}
