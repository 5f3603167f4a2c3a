package store

import (
	"bytes"
	"errors"
	"fmt"
)

// ActiveUnder returns how many files of source whose path starts with
// prefix have a latest version whose job is still Active (not Done,
// Skipped or Parked). For a ZIP's job, with the ZIP's path and "/", it
// counts the recordings still to be sent: its own children, and those of an
// earlier version of the same ZIP that its expansion found already known
// (see [Store.Expand]) and that are not finished yet. It walks the seen
// index from prefix, one job read per file under it.
func (s *Store) ActiveUnder(source, prefix string) (int, error) {
	from := seenKey(source, prefix)
	n := 0
	err := s.view(func(q *qtx) error {
		c := q.seen.Cursor()
		for k, v := c.Seek(from); k != nil && bytes.HasPrefix(k, from); k, v = c.Next() {
			_, id, err := sameVersion(v, 0, 0)
			if err != nil {
				return err
			}
			j, err := q.load(id)
			if errors.Is(err, ErrNotFound) {
				continue // pruned: finished long ago
			}
			if err != nil {
				return err
			}
			if j.State.Active() {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count active files under %s %q: %w", source, prefix, err)
	}
	return n, nil
}
