//go:build unix

package store

import (
	"os"
	"syscall"
)

// sameOwner gives the file at path the owner and group of the file fi
// describes, when they differ and this process may change them (it runs
// as root): a state file compacted by `sudo vela-agent state compact`
// stays the service user's.
func sameOwner(path string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return nil
	}
	now, err := os.Stat(path)
	if err != nil {
		return err
	}
	if cur, ok := now.Sys().(*syscall.Stat_t); ok && cur.Uid == st.Uid && cur.Gid == st.Gid {
		return nil
	}
	return os.Chown(path, int(st.Uid), int(st.Gid))
}
