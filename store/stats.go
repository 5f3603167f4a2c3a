package store

import (
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BatchBounds are the upper bounds of the buckets of [Stats.Batches], in
// job records per commit. Do not change them: they are the buckets a
// metrics endpoint reports.
var BatchBounds = [...]int{0, 1, 2, 4, 8, 16, 64, 256, 1024}

// Stats counts the work of a Store since Open, for metrics. Every field
// only grows, except the maxima, which are the largest seen so far. A
// write transaction is a commit if bbolt wrote it, a failure if bbolt could
// not, and a rollback if the store refused a change in it.
type Stats struct {
	// Commits is the number of write transactions committed: each is
	// fsynced, whatever it holds. Group commit makes it smaller than the
	// number of Saves and Releases.
	Commits uint64
	// CommitFailures is the number of write transactions that could not be
	// written (a full disk, an I/O error): their errors wrap ErrWrite, and
	// nothing of them is in the file.
	CommitFailures uint64
	// Rollbacks is the number of write transactions rolled back because
	// the store refused a change in them (an illegal transition, say). A
	// shared one is then retried write by write, each in a commit of its
	// own.
	Rollbacks uint64

	// Written is the number of job records written or deleted by the
	// commits: one for a Save or Release, one per job for Add, Expand and
	// Prune (a superseded job counts too).
	Written uint64
	// MaxBatch is the most job records written or deleted by one commit.
	MaxBatch int
	// Batches counts commits by the job records they wrote or deleted:
	// Batches[i] those with more than BatchBounds[i-1] (none for i = 0)
	// and at most BatchBounds[i]; the last those with more than the last
	// bound. Gate changes and schema writes are the commits of 0 jobs.
	Batches [len(BatchBounds) + 1]uint64

	// CommitTime is the total time spent in write transactions, committed
	// or not: their work, bbolt's page writes and both fsyncs.
	CommitTime time.Duration
	// MaxCommitTime is the longest write transaction.
	MaxCommitTime time.Duration

	Claims   uint64 // jobs handed out by Claim
	Added    uint64 // jobs created by Add
	Expanded uint64 // jobs created by Expand
}

// stats holds the counters of Stats, updated without locks.
type stats struct {
	commits, failures, rollbacks atomic.Uint64
	written                      atomic.Uint64
	maxBatch                     atomic.Int64
	batches                      [len(BatchBounds) + 1]atomic.Uint64
	commitNanos, maxCommitNanos  atomic.Int64
	claims, added, expanded      atomic.Uint64
}

// Stats returns the counters of the store since Open. It takes no lock:
// each field is read atomically, but fields may be of slightly different
// moments when commits run meanwhile.
func (s *Store) Stats() Stats {
	st := &s.stats
	out := Stats{
		Commits:        st.commits.Load(),
		CommitFailures: st.failures.Load(),
		Rollbacks:      st.rollbacks.Load(),
		Written:        st.written.Load(),
		MaxBatch:       int(st.maxBatch.Load()),
		CommitTime:     time.Duration(st.commitNanos.Load()),
		MaxCommitTime:  time.Duration(st.maxCommitNanos.Load()),
		Claims:         st.claims.Load(),
		Added:          st.added.Load(),
		Expanded:       st.expanded.Load(),
	}
	for i := range st.batches {
		out.Batches[i] = st.batches[i].Load()
	}
	return out
}

// commit counts a write transaction that took d and wrote jobs job records:
// committed if err is nil, refused if fnErr is not nil, failed otherwise.
func (st *stats) commit(d time.Duration, jobs int, err, fnErr error) {
	st.commitNanos.Add(int64(d))
	storeMax(&st.maxCommitNanos, int64(d))
	switch {
	case fnErr != nil:
		st.rollbacks.Add(1)
		return
	case err != nil:
		st.failures.Add(1)
		return
	}
	st.commits.Add(1)
	st.written.Add(uint64(jobs))
	storeMax(&st.maxBatch, int64(jobs))
	i := 0
	for i < len(BatchBounds) && jobs > BatchBounds[i] {
		i++
	}
	st.batches[i].Add(1)
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// write runs fn in a write transaction and counts it in the stats; fn
// returns how many job records it wrote or deleted. Every write
// transaction of the store goes through write; it waits while Compact
// copies and swaps the file. An error of the commit itself, not of fn,
// wraps ErrWrite.
func (s *Store) write(fn func(tx *bolt.Tx) (jobs int, err error)) error {
	var (
		jobs  int
		fnErr error
		ran   bool
	)
	s.writeMu.RLock()
	defer s.writeMu.RUnlock()
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	start := time.Now()
	err := s.db.Update(func(tx *bolt.Tx) error {
		ran = true
		jobs, fnErr = fn(tx)
		return fnErr
	})
	if ran {
		s.stats.commit(time.Since(start), jobs, err, fnErr)
	}
	if err != nil && fnErr == nil {
		return fmt.Errorf("%w %s: %w", ErrWrite, s.path, err)
	}
	return err
}
