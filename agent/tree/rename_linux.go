package tree

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// renameAt renames oldName in src to newName in dst, relative to the two
// open folders, so no link above either name is followed, and never
// replaces newName (RENAME_NOREPLACE, checked first on file systems that
// do not support it). A link at oldName is moved, not followed.
func renameAt(src *os.Root, oldName string, dst *os.Root, newName string) error {
	err := dirs(src, dst, func(oldfd, newfd int) error {
		err := unix.Renameat2(oldfd, oldName, newfd, newName, unix.RENAME_NOREPLACE)
		if err == unix.EINVAL || err == unix.ENOSYS {
			err = renameChecked(oldfd, oldName, newfd, newName)
		}
		return err
	})
	if err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(src.Name(), oldName), New: filepath.Join(dst.Name(), newName), Err: err}
	}
	return nil
}
