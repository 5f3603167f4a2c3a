package store

import (
	"errors"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrWrite is wrapped by the errors of commits that could not be written to
// the file (a full disk, an I/O error), as opposed to changes the store
// refused. What was to be committed is not in the file; the same commit may
// succeed later.
var ErrWrite = errors.New("cannot write the state file")

// commitLinger is how long a commit that is not urgent waits for others
// to join it while other jobs are in flight. Each commit costs two fsyncs
// and a rewrite of every page it touches, whatever it holds, so sharing
// matters more than a few milliseconds for a commit nobody waits on (the
// agent commits a presign while the upload runs). An urgent commit, one
// that records a confirmed upload, ends the wait at once and takes the
// waiting commits with it. A package variable so tests can change it.
var commitLinger = 5 * time.Millisecond

// committer shares write transactions, and so fsyncs, among concurrent
// Saves and Releases ("group commit"). The first write to arrive leads: if
// nothing pending is urgent and other jobs are claimed, and so may soon
// write too, it lingers for them; then it commits everything pending in
// one transaction, and goes on until nothing is pending. Writes that
// arrive meanwhile wait for the leader; an urgent one cuts its wait short.
type committer struct {
	mu      sync.Mutex // guards pending, urgent and running
	pending []*write
	urgent  bool          // a pending write is urgent
	running bool          // a leader is committing; it takes pending before it stops
	hurry   chan struct{} // holds a token when an urgent write joined a lingering leader
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
func (s *Store) group(fn func(q *qtx) error, urgent bool) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	c := &s.commit
	c.mu.Lock()
	c.pending = append(c.pending, w)
	c.urgent = c.urgent || urgent
	if c.running {
		if urgent {
			select {
			case c.hurry <- struct{}{}:
			default:
			}
		}
		c.mu.Unlock()
		return <-w.done
	}
	// This caller leads: it commits until nothing is left pending, then
	// hands over by clearing running under the same lock that followers
	// check.
	c.running = true
	for len(c.pending) > 0 {
		if !c.urgent && s.inFlight() > len(c.pending) {
			c.mu.Unlock()
			t := time.NewTimer(commitLinger)
			select {
			case <-t.C:
			case <-c.hurry:
			}
			t.Stop()
			c.mu.Lock()
		}
		select {
		case <-c.hurry: // drop a token that came too late to matter
		default:
		}
		batch := c.pending
		c.pending, c.urgent = nil, false
		c.mu.Unlock()
		s.commitBatch(batch)
		c.mu.Lock()
	}
	c.running = false
	c.mu.Unlock()
	return <-w.done
}

// inFlight is the number of claimed jobs: the most writes that may come.
func (s *Store) inFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.claimed)
}

// slowDisk, when set, returns how long each commit waits before it writes:
// a slow or busy disk, for the crash tests (see slowdisk_crashtest.go). Nil
// in every ordinary build.
var slowDisk func() time.Duration

func (s *Store) commitBatch(batch []*write) {
	if slowDisk != nil {
		time.Sleep(slowDisk())
	}
	if len(batch) == 1 {
		batch[0].done <- s.update(batch[0].fn)
		return
	}
	err := s.write(func(tx *bolt.Tx) (int, error) {
		jobs := 0
		for _, w := range batch {
			n, err := runQ(tx, w.fn)
			if err != nil {
				return 0, err
			}
			jobs += n
		}
		return jobs, nil
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

// Probe makes a write transaction that changes nothing the agent reads (it
// rewrites the schema version), to tell whether the file can be written
// again after commits failed: bbolt writes and syncs pages even then.
func (s *Store) Probe() error {
	return s.group(func(q *qtx) error {
		return q.tx.Bucket(bucketMeta).Put(keySchema, u64(schemaVersion))
	}, true)
}
