package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Trim lets go of the state file's pages this process has read: bbolt
// reads the file through a memory map, and every page a lookup or a walk
// touched (the seen index after a restart on a big tree, every page after
// Space) stays in the process's resident set until the kernel needs the
// memory. The pages stay in the kernel's page cache, and the next read of
// one maps it again at the cost of a minor fault. Trim is cheap (a system
// call) and safe at any time: it runs in a read transaction, so the map
// cannot move under it.
func (s *Store) Trim() error {
	return s.viewTx(func(tx *bolt.Tx) error {
		n := tx.Size()
		if n <= 0 {
			return nil
		}
		// The map's address as bbolt gives it, a uintptr: passed as such.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.db.Info().Data, uintptr(n), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("let go of the state file's pages: %w", errno)
		}
		return nil
	})
}
