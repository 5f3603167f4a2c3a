//go:build !unix && !windows

package upload

import (
	"fmt"
	"io/fs"
	"os"
)

// openNoFollow opens path for reading, refusing a symbolic link in its last
// element. This system has no way to open without following links, so a
// link made between the check and the open is still followed.
func openNoFollow(path string) (*os.File, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return nil, fmt.Errorf("%s: %w: a symbolic link", path, ErrChanged)
	}
	return os.Open(path)
}
