package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Known reports whether the store has this version (size and modification
// time, to the nanosecond) of the file as its latest one: the watcher's
// question, after a restart, about each file it has no memory of, so that
// a tree of files already handed over is not offered again. It is a read
// transaction and a lookup in the seen index.
func (s *Store) Known(source, path string, size int64, mtime time.Time) (bool, error) {
	var known bool
	key := seenKey(source, path)
	err := s.viewTx(func(tx *bolt.Tx) error { // only the one bucket: newQtx would look up all
		v := tx.Bucket(bucketSeen).Get(key)
		if v == nil {
			return nil
		}
		same, _, err := sameVersion(v, size, nanos(mtime))
		known = same
		return err
	})
	if err != nil {
		return false, fmt.Errorf("look up %s file %q: %w", source, path, err)
	}
	return known, nil
}
