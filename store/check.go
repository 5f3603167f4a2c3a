package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Verify checks the whole state file, for `vela-agent state check`: every
// bbolt page with the reader of pages.go (each page in the file, of a known
// type, referenced once, its keys in order, none both in use and free), then
// bbolt's own consistency check, which is safe to run once the first has
// passed, then the store's invariants with [Store.Check]. Problems bbolt
// copes with by itself, such as one invalid meta page, are returned as
// warnings. A damaged file gives an error wrapping ErrDamaged, a broken
// invariant one wrapping ErrCorrupt; both name the file.
//
// Verify reads the file itself as well as through bbolt: use it on a store
// opened read-only, or one that nothing writes to meanwhile.
func (s *Store) Verify() (warnings []string, err error) {
	if warnings, err = s.verifyPages(); err != nil {
		return warnings, err
	}
	return warnings, s.Check()
}

// verifyPages is Verify but for the store's invariants. It holds dbMu, so
// that the file it reads is the one bbolt has open.
func (s *Store) verifyPages() (warnings []string, err error) {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", s.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("verify %s: %w", s.path, err)
	}
	info, err := verify(f, fi.Size(), true)
	if err != nil {
		return nil, &damagedError{path: s.path, err: err}
	}
	err = s.db.View(func(tx *bolt.Tx) error {
		var errs []string
		for err := range tx.Check() {
			if len(errs) < 10 {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return errors.New(strings.Join(errs, "; "))
		}
		return nil
	})
	if err != nil {
		return info.warnings, &damagedError{path: s.path, err: fmt.Errorf("bbolt's check: %w", err)}
	}
	return info.warnings, nil
}

// Check verifies the invariants listed with the buckets in store.go: every
// job record decodes, each index holds exactly the entries its jobs call
// for (the due index in each job's Lane, the children index for each job
// with a Parent), every seen entry is well formed, and the counters equal a
// recount. It returns the first violation found, wrapping ErrCorrupt. A
// file of schema 1, open read-only and so not migrated, has no children
// index to check.
//
// Check reads the whole file: it is for tests and for an admin's
// consistency check, not for the agent's regular work.
func (s *Store) Check() error {
	err := s.view(func(q *qtx) error {
		var counts [maxState + 1]uint64
		var listed, active, ended, children int
		seq := q.jobs.Sequence()
		c := q.jobs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 8 {
				return fmt.Errorf("%w: job key of %d bytes", ErrCorrupt, len(k))
			}
			id := binary.BigEndian.Uint64(k)
			if id == 0 || id > seq {
				return fmt.Errorf("job %d: %w: id outside 1..%d, the ids handed out", id, ErrCorrupt, seq)
			}
			j, err := decodeJob(id, v)
			if err != nil {
				return fmt.Errorf("job %d: %w", id, err)
			}
			counts[j.State]++
			missing := func(b *bolt.Bucket, key []byte, name string) error {
				if b.Get(key) == nil {
					return fmt.Errorf("job %d: %w: %s job missing from the %s index", id, ErrCorrupt, j.State, name)
				}
				return nil
			}
			if j.State.indexed() {
				listed++
				if err := missing(q.state, stateKey(j.State, id), "state"); err != nil {
					return err
				}
			}
			if j.State.Active() {
				active++
				if err := missing(q.due, dueKey(j), "due"); err != nil {
					if l, ok := otherLane(q, j); ok {
						return fmt.Errorf("job %d: %w: the due index has the job in lane %v, its lane is %v", id, ErrCorrupt, l, j.Lane)
					}
					return err
				}
			}
			if j.Parent != 0 && q.children != nil {
				children++
				if q.children.Get(childKey(j.Parent, id)) == nil {
					return fmt.Errorf("job %d: %w: missing from the children index of job %d, its parent", id, ErrCorrupt, j.Parent)
				}
			}
			if j.State.ended() {
				ended++
				if err := missing(q.ended, endKey(j), "retention"); err != nil {
					return err
				}
			}
		}
		// Each job has at most one entry in each index, checked above: equal
		// sizes leave no room for entries of other jobs.
		type index struct {
			b    *bolt.Bucket
			name string
			want int
		}
		indexes := []index{{q.state, "state", listed}, {q.due, "due", active}, {q.ended, "retention", ended}}
		if q.children != nil {
			indexes = append(indexes, index{q.children, "children", children})
		}
		for _, ix := range indexes {
			if n := ix.b.Stats().KeyN; n != ix.want {
				return fmt.Errorf("%w: the %s index has %d entries, want %d", ErrCorrupt, ix.name, n, ix.want)
			}
		}
		for _, st := range States {
			n, err := q.count(st)
			if err != nil {
				return err
			}
			if n != counts[st] {
				return fmt.Errorf("%w: counter of %s jobs is %d, a recount finds %d", ErrCorrupt, st, n, counts[st])
			}
		}
		return q.seen.ForEach(func(k, v []byte) error {
			_, id, err := sameVersion(v, 0, 0)
			if err == nil && (id == 0 || id > seq) {
				err = fmt.Errorf("%w: names job %d, not one of the ids handed out", ErrCorrupt, id)
			}
			if err != nil {
				return fmt.Errorf("seen entry %q: %w", k, err)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("check %s: %w", s.path, err)
	}
	return nil
}

// otherLane returns the lane of a due entry of the active job j, at its
// due time, in a lane other than j's, if there is one.
func otherLane(q *qtx, j *Job) (Lane, bool) {
	for _, l := range Lanes {
		if l == j.Lane {
			continue
		}
		o := *j
		o.Lane = l
		if q.due.Get(dueKey(&o)) != nil {
			return l, true
		}
	}
	return 0, false
}
