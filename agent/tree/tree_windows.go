package tree

import (
	"io/fs"
	"os"
	"syscall"
)

// openFlag opens a file for reading. os.Root on Windows opens every file
// with FILE_SHARE_READ|FILE_SHARE_WRITE|FILE_SHARE_DELETE, so the program
// that wrote a file can rename or delete it while it is being read.
const openFlag = os.O_RDONLY

// isLink reports a symbolic link, a junction, or any other reparse point,
// except a data-deduplication file, which Go reports as a regular file
// because it holds its own data rather than pointing elsewhere.
func isLink(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeSymlink != 0 {
		return true
	}
	d, ok := fi.Sys().(*syscall.Win32FileAttributeData)
	return ok && d.FileAttributes&syscall.FILE_ATTRIBUTE_REPARSE_POINT != 0 && !fi.Mode().IsRegular()
}

// blocking is a no-op: Windows has no non-blocking open of a file.
func blocking(*os.File) error { return nil }
