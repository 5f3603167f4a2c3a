//go:build unix && !linux

package tree

import (
	"os"
	"path/filepath"
)

// renameAt renames oldName in src to newName in dst, relative to the two
// open folders, so no link above either name is followed, and does not
// replace an existing newName. A link at oldName is moved, not followed.
func renameAt(src *os.Root, oldName string, dst *os.Root, newName string) error {
	err := dirs(src, dst, func(oldfd, newfd int) error {
		return renameChecked(oldfd, oldName, newfd, newName)
	})
	if err != nil {
		return &os.LinkError{Op: "rename", Old: filepath.Join(src.Name(), oldName), New: filepath.Join(dst.Name(), newName), Err: err}
	}
	return nil
}
