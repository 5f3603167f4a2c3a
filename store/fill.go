package store

import (
	"fmt"
	"iter"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fillBatch is how many jobs Fill and FillDone write per transaction; a
// variable so that tests can change it.
var fillBatch = 25_000

// Fill adds n Queued call jobs of the given source to the state file at
// path, creating the file when missing. It is for benchmarks and tests: it
// writes in large transactions without fsync and syncs once at the end, so
// a crash during Fill can leave a damaged file.
//
// The jobs are the files fill/000000000.wav, fill/000000001.wav... with
// sizes and times derived from their number; calling Fill again for the
// same source adds only the numbers it has not seen.
func Fill(path string, n int, source string) (err error) {
	s, err := Open(path, Options{})
	if err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	defer func() {
		if cerr := s.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("fill: %w", cerr)
		}
	}()
	s.db.NoSync = true
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	found := make([]Found, 0, min(n, fillBatch))
	for i := 0; i < n; {
		found = found[:0]
		for ; i < n && len(found) < fillBatch; i++ {
			found = append(found, Found{
				Source:  source,
				Path:    fmt.Sprintf("fill/%09d.wav", i),
				Size:    1<<20 + int64(i),
				ModTime: base.Add(time.Duration(i) * time.Second),
				Kind:    Call,
			})
		}
		if _, err := s.Add(found); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	s.db.NoSync = false
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("fill: sync %s: %w", path, err)
	}
	return nil
}

// DoneFile is a file version [FillDone] records as uploaded: the version,
// as a watcher offers it, and the metadata its upload sent ([Job.Meta]).
type DoneFile struct {
	Found
	Meta []byte
}

// FillDone records file versions in the state file at path as finished
// uploads leave them, creating the file when missing, and returns how many
// jobs it made. It is for benchmarks and tests of a store that has
// uploaded a large archive: like [Fill], it writes in large transactions
// without fsync and syncs once at the end, so a crash during FillDone can
// leave a damaged file.
//
// Each version is recorded by the code of [Store.Add], with the jobs' and
// indexes' fill of Add's transactions, and then moved to Done with its
// Meta, as the upload's last step moves it: the same job record, seen
// entry, index entries and counters, with Created, NextAttempt and Updated
// all at. A version already known adds nothing, as with Add; a new version
// of a known file supersedes the old one's job as Add does. files is read
// outside the transactions, so it may walk a tree as it goes. A DoneFile
// with Skip set is refused: FillDone records uploads.
func FillDone(path string, files iter.Seq[DoneFile], at time.Time) (n int, err error) {
	s, err := Open(path, Options{})
	if err != nil {
		return 0, fmt.Errorf("fill done: %w", err)
	}
	defer func() {
		if cerr := s.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("fill done: %w", cerr)
		}
	}()
	s.db.NoSync = true
	at = at.Round(0)
	batch := make([]DoneFile, 0, fillBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		added := 0
		err := s.update(func(q *qtx) error {
			added = 0
			for _, b := range []*bolt.Bucket{q.jobs, q.state, q.due, q.seen, q.children} {
				if b != nil { // as addAll
					b.FillPercent = 0.9
				}
			}
			for i := range batch {
				ok, err := s.addDone(q, &batch[i], at)
				if err != nil {
					return fmt.Errorf("%s file %q: %w", batch[i].Source, batch[i].Path, err)
				}
				if ok {
					added++
				}
			}
			return nil
		})
		batch = batch[:0]
		if err != nil {
			return err
		}
		n += added
		s.stats.added.Add(uint64(added))
		return nil
	}
	for f := range files {
		if err := f.validate(); err != nil {
			return n, fmt.Errorf("fill done: %s file %q: %w", f.Source, f.Path, err)
		}
		if f.Skip != "" {
			return n, fmt.Errorf("fill done: %s file %q: Skip is set, and FillDone records uploads", f.Source, f.Path)
		}
		batch = append(batch, f)
		if len(batch) == fillBatch {
			if err := flush(); err != nil {
				return n, fmt.Errorf("fill done: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return n, fmt.Errorf("fill done: %w", err)
	}
	s.db.NoSync = false
	if err := s.db.Sync(); err != nil {
		return n, fmt.Errorf("fill done: sync %s: %w", path, err)
	}
	return n, nil
}

// addDone records one version as Add does and moves the job it made to
// Done with f's metadata, reporting whether it made a job. s.mu is held.
func (s *Store) addDone(q *qtx, f *DoneFile, at time.Time) (bool, error) {
	ok, err := s.add(q, &f.Found, at)
	if err != nil || !ok {
		return false, err
	}
	// add handed out exactly one id, the sequence's last, to the job it made.
	old, err := q.load(q.jobs.Sequence())
	if err != nil {
		return false, fmt.Errorf("read back the new job: %w", err)
	}
	j := *old
	j.State = Done
	j.Meta = f.Meta
	j.Updated = at
	return true, q.putJob(old, &j, encodeJob(&j))
}
