package store

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// committer shares write transactions, and so fsyncs, among concurrent
// Saves and Releases without ever waiting on a timer ("group commit"): a
// write that arrives while no commit runs commits at once; writes that
// arrive while one runs wait for it and then go together in the next. On
// a fast disk every write commits alone, at once; on a slow one, as many
// share an fsync as arrived during the previous one.
type committer struct {
	mu      sync.Mutex // guards pending and running
	pending []*write
	running bool // a leader is committing; it takes pending before it stops
}

// write is one caller's change and where its outcome goes.
type write struct {
	fn   func(q *qtx) error
	done chan error
}

// group runs fn in a write transaction shared with the writes that arrive
// meanwhile. fn may run twice: if any write of a shared transaction fails,
// the transaction is rolled back and each of its writes is retried in one
// of its own, so that one bad write cannot fail the others. fn must
// therefore derive every change from what it reads in the transaction.
func (s *Store) group(fn func(q *qtx) error) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	c := &s.commit
	c.mu.Lock()
	c.pending = append(c.pending, w)
	if c.running {
		c.mu.Unlock()
		return <-w.done
	}
	// This caller leads: it commits until nothing is left pending, then
	// hands over by clearing running under the same lock that followers
	// check.
	c.running = true
	for len(c.pending) > 0 {
		batch := c.pending
		c.pending = nil
		c.mu.Unlock()
		s.commitBatch(batch)
		c.mu.Lock()
	}
	c.running = false
	c.mu.Unlock()
	return <-w.done
}

func (s *Store) commitBatch(batch []*write) {
	if len(batch) == 1 {
		batch[0].done <- s.update(batch[0].fn)
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, w := range batch {
			if err := runQ(tx, w.fn); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, w := range batch {
			w.done <- nil
		}
		return
	}
	for _, w := range batch {
		w.done <- s.update(w.fn)
	}
}
