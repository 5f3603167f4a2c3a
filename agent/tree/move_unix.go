//go:build unix

package tree

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// crossDevice reports a rename refused because it crosses devices.
func crossDevice(err error) bool {
	return errors.Is(err, syscall.EXDEV)
}

// syncDir makes the entries of d durable. A file system that cannot sync
// a folder (some network shares) is not an error.
func syncDir(d *os.Root) error {
	f, err := d.Open(".")
	if err != nil {
		return err
	}
	defer f.Close()
	err = f.Sync()
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		return nil
	}
	return err
}

// dirs calls fn with descriptors of the folders a and b.
func dirs(a, b *os.Root, fn func(afd, bfd int) error) error {
	fa, err := a.Open(".")
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := b.Open(".")
	if err != nil {
		return err
	}
	defer fb.Close()
	return fn(int(fa.Fd()), int(fb.Fd()))
}

// renameChecked renames after checking that newName is free, for systems
// and file systems that cannot refuse to replace it themselves. Another
// process creating newName in between can still be replaced.
func renameChecked(oldfd int, oldName string, newfd int, newName string) error {
	var st unix.Stat_t
	switch err := unix.Fstatat(newfd, newName, &st, unix.AT_SYMLINK_NOFOLLOW); {
	case err == nil:
		return unix.EEXIST
	case err != unix.ENOENT:
		return err
	}
	return unix.Renameat(oldfd, oldName, newfd, newName)
}
