package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors wrapped by the methods that change a job.
var (
	// ErrIllegalTransition: the job may not move to the state asked for.
	ErrIllegalTransition = errors.New("illegal state transition")
	// ErrNotClaimed: Save or Release of a job the caller has not claimed.
	ErrNotClaimed = errors.New("not claimed")
	// ErrClaimed: the job is claimed by a worker and cannot be changed
	// from outside.
	ErrClaimed = errors.New("claimed by a worker")
)

// SupersededReason is the Reason of a job skipped because a newer version
// of its file was added.
const SupersededReason = "superseded by a newer version of the file"

// pruneChunk is how many jobs Prune deletes per transaction, so that a
// large prune neither builds a huge transaction nor holds up Claim for long.
var pruneChunk = 10000

// clock returns the current time without its monotonic reading, as it will
// read back from the file.
func (s *Store) clock() time.Time { return s.now().Round(0) }

// Add records new file versions in one write transaction and returns how
// many jobs it created.
//
// A job is one version of one file: the key is Source and Path, the version
// Size and ModTime. A Found whose version equals the latest known version of
// its key adds nothing, even after that version's job was pruned. Any other
// version (a file can also be replaced by an older copy) creates a Queued job
// due now (NextAttempt is the time of the Add, so a retry that fell due
// earlier is claimed first) in the Found's lane, and supersedes the job of the previous version if that is Queued,
// Staged, Ready or Presigned and not claimed: it becomes Skipped with Reason
// SupersededReason. A claimed or Uploaded job of the previous version runs
// to its end.
//
// Add leaves a superseded job's spool file where it is. A Found with a
// Parent makes a child of that job, which Add does not check exists:
// [Store.Expand] does.
func (s *Store) Add(found []Found) (int, error) {
	for i := range found {
		if err := found[i].validate(); err != nil {
			return 0, fmt.Errorf("add %s file %q: %w", found[i].Source, found[i].Path, err)
		}
	}
	if len(found) == 0 {
		return 0, nil
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var added int
	err := s.update(func(q *qtx) (err error) {
		added, err = s.addAll(q, found, 0, now)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.stats.added.Add(uint64(added))
	return added, nil
}

// addAll records file versions, as children of parent if it is not 0, and
// returns how many made a job. s.mu is held.
func (s *Store) addAll(q *qtx, found []Found, parent uint64, now time.Time) (int, error) {
	added := 0
	for i := range found {
		f := found[i]
		if parent != 0 {
			f.Parent = parent
		}
		ok, err := s.add(q, &f, now)
		if err != nil {
			return added, fmt.Errorf("add %s file %q: %w", f.Source, f.Path, err)
		}
		if ok {
			added++
		}
	}
	if q.seenNew > 0 {
		q.seen.FillPercent = seenFill(q.seenNew, q.seenLast)
	}
	return added, nil
}

// add records one file version, reporting whether it made a job. s.mu is
// held.
func (s *Store) add(q *qtx, f *Found, now time.Time) (bool, error) {
	key := seenKey(f.Source, f.Path)
	mtime := nanos(f.ModTime)
	var prev uint64
	if k, v := q.seenCursor().Seek(key); bytes.Equal(k, key) {
		same, id, err := sameVersion(v, f.Size, mtime)
		if err != nil || same {
			return false, err
		}
		prev = id
	} else {
		q.seenNew++
		if lastInFolder(key, k) {
			q.seenLast++
		}
	}
	id, err := q.jobs.NextSequence()
	if err != nil {
		return false, err
	}
	j := &Job{
		ID:          id,
		Source:      f.Source,
		Path:        f.Path,
		Size:        f.Size,
		ModTime:     fromNanos(mtime),
		Kind:        f.Kind,
		State:       Queued,
		Lane:        f.lane(),
		NextAttempt: now,
		Parent:      f.Parent,
		Created:     now,
		Updated:     now,
	}
	if f.Skip != "" {
		j.State, j.Reason = Skipped, f.Skip
	}
	if err := q.putJob(nil, j, encodeJob(j)); err != nil {
		return false, err
	}
	if err := q.seen.Put(key, seenValue(f.Size, mtime, id)); err != nil {
		return false, err
	}
	if prev == 0 {
		return true, nil
	}
	if _, ok := s.claimed[prev]; ok {
		return true, nil
	}
	old, err := q.load(prev)
	if errors.Is(err, ErrNotFound) {
		return true, nil // pruned
	}
	if err != nil {
		return false, fmt.Errorf("supersede job %d: %w", prev, err)
	}
	switch old.State {
	case Queued, Staged, Ready, Presigned:
		sj := *old
		sj.State = Skipped
		sj.Reason = SupersededReason
		sj.Updated = now
		if err := q.putJob(old, &sj, encodeJob(&sj)); err != nil {
			return false, fmt.Errorf("supersede job %d: %w", prev, err)
		}
	}
	return true, nil
}

// Claim returns the unclaimed job of the given lanes that is due earliest
// (NextAttempt at or before now) and marks it claimed, or returns nil, nil
// when none is due. Without lanes it returns nil, nil: every lane is paused.
// Jobs due at the same time come in the order they were added.
//
// Claim reads only the head of each lane in the due index: it steps over
// the claimed jobs there, at most one per worker, and stops at the first job
// not yet due.
//
// The caller owns the claim until Release, or until the Store is closed.
func (s *Store) Claim(lanes ...Lane) (*Job, error) {
	if s.readOnly {
		return nil, errors.New("claim: the state file is open read-only")
	}
	limit := keyTime(nanos(s.clock()))
	s.mu.Lock()
	defer s.mu.Unlock()
	var j *Job
	err := s.view(func(q *qtx) error {
		_, id, ok, err := s.firstDue(q, lanes, limit)
		if err != nil || !ok {
			return err
		}
		if j, err = q.loadIndexed(id, "due"); err != nil {
			return err
		}
		if !j.State.Active() {
			return fmt.Errorf("job %d: %w: %s job in the due index", id, ErrCorrupt, j.State)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	if j != nil {
		s.claimed[j.ID] = struct{}{}
		s.stats.claims.Add(1)
	}
	return j, nil
}

// NextDue reports when the earliest unclaimed active job of the lanes is
// due, with ok false if there is none. The time may be in the past, or zero
// for a job due ahead of all others: either way the job is due now.
func (s *Store) NextDue(lanes ...Lane) (t time.Time, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due uint64
	err = s.view(func(q *qtx) (err error) {
		due, _, ok, err = s.firstDue(q, lanes, math.MaxUint64)
		return err
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due job: %w", err)
	}
	if !ok {
		return time.Time{}, false, nil
	}
	return fromNanos(int64(due)), true, nil
}

// firstDue returns the first unclaimed entry of the due index in the lanes
// that is due at or before limit. s.mu is held.
func (s *Store) firstDue(q *qtx, lanes []Lane, limit uint64) (due, id uint64, ok bool, err error) {
	var seen [numLanes]bool
	c := q.due.Cursor()
	for _, l := range lanes {
		if int(l) >= numLanes {
			return 0, 0, false, fmt.Errorf("unknown lane %d", l)
		}
		if seen[l] {
			continue
		}
		seen[l] = true
		for k, _ := c.Seek([]byte{byte(l)}); k != nil && k[0] == byte(l); k, _ = c.Next() {
			if len(k) != 17 {
				return 0, 0, false, fmt.Errorf("%w: due index key of %d bytes", ErrCorrupt, len(k))
			}
			t, kid := binary.BigEndian.Uint64(k[1:]), binary.BigEndian.Uint64(k[9:])
			if t > limit {
				break
			}
			if _, claimed := s.claimed[kid]; claimed {
				continue
			}
			if !ok || t < due || (t == due && kid < id) {
				due, id, ok = t, kid, true
			}
			break
		}
	}
	return due, id, ok, nil
}

// Save persists the progress of a claimed job (its new state, presign,
// attempts, lane...) and keeps it claimed. It refuses, without writing, a
// job not claimed, an illegal transition (ErrIllegalTransition) or a change
// of the job's identity (see [Job]). The job's record, every index and the
// counters change in one transaction, shared with concurrent Saves and
// Releases. A change of j.Lane moves the job to that lane (see [Lane] for a
// change of Kind). Save sets j.Updated, and j.Lane to the lane stored.
func (s *Store) Save(j *Job) error { return s.save("save", j) }

// SaveAsync starts saving j like Save and returns at once; wait returns
// what Save returned. It lets a caller overlap a commit with work that
// needs the commit only later. Until wait has returned, the caller must
// not start another Save or Release of j (it may change j itself: the
// commit saves j as it was when SaveAsync was called).
func (s *Store) SaveAsync(j *Job) (wait func() error) {
	snap, lane := *j, j.Lane
	done := make(chan error, 1)
	go func() { done <- s.Save(&snap) }()
	return func() error {
		err := <-done
		if err == nil {
			j.Updated = snap.Updated
			if j.Lane == lane {
				j.Lane = snap.Lane // unless the caller moved j meanwhile
			}
		}
		return err
	}
}

// Release persists the job like Save and gives up the claim, so that the
// job is due again at j.NextAttempt if it is still Active. The claim ends
// even if Release fails: the job is then as it was last persisted, and due
// again as that says.
func (s *Store) Release(j *Job) error {
	defer s.unclaim(j.ID) // after the commit, so no Claim sees the job as it was before
	return s.save("release", j)
}

// TryRelease is Release for a job whose state must not be lost: when the
// commit fails, the job stays claimed and unchanged in the store, so the
// caller can keep what it knows in memory and try again (and must, or
// call Release in the end).
func (s *Store) TryRelease(j *Job) error {
	if err := s.save("release", j); err != nil {
		return err
	}
	s.unclaim(j.ID)
	return nil
}

func (s *Store) unclaim(id uint64) {
	s.mu.Lock()
	delete(s.claimed, id)
	s.mu.Unlock()
}

func (s *Store) save(op string, j *Job) error {
	s.mu.Lock()
	_, claimed := s.claimed[j.ID]
	s.mu.Unlock()
	if !claimed {
		return fmt.Errorf("%s job %d: %w", op, j.ID, ErrNotClaimed)
	}
	if err := j.validate(); err != nil {
		return fmt.Errorf("%s job %d: %w", op, j.ID, err)
	}
	nj := *j
	nj.Updated = s.clock()
	lane := nj.Lane
	// fn may run more than once (see group): it derives every change from
	// nj and the record it reads in the same transaction, so each run does
	// the same.
	fn := func(q *qtx) error {
		old, err := q.load(nj.ID)
		if err != nil {
			return err
		}
		if !old.State.CanBecome(nj.State) {
			return fmt.Errorf("%w from %s to %s", ErrIllegalTransition, old.State, nj.State)
		}
		if !sameIdentity(old, &nj) {
			return errors.New("source, path, size, modification time, creation time and parent of a job cannot change")
		}
		w := nj
		w.Lane = laneAfter(old, &nj)
		lane = w.Lane
		return q.putJob(old, &w, encodeJob(&w))
	}
	// A commit that records a confirmed upload is never kept waiting for
	// company: until it lands, a crash means sending the file again.
	urgent := nj.State == Uploaded || nj.State == Done
	if err := s.group(fn, urgent); err != nil {
		return fmt.Errorf("%s job %d: %w", op, j.ID, err)
	}
	j.Updated, j.Lane = nj.Updated, lane
	return nil
}

// Get returns job id, or an error wrapping ErrNotFound.
func (s *Store) Get(id uint64) (*Job, error) {
	var j *Job
	err := s.view(func(q *qtx) (err error) {
		j, err = q.load(id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", id, err)
	}
	return j, nil
}

// Latest returns the job of the newest version of a file, or an error
// wrapping ErrNotFound if the file is unknown or that job was pruned.
func (s *Store) Latest(source, path string) (*Job, error) {
	var j *Job
	err := s.view(func(q *qtx) error {
		v := q.seen.Get(seenKey(source, path))
		if v == nil {
			return ErrNotFound
		}
		_, id, err := sameVersion(v, 0, 0)
		if err != nil {
			return err
		}
		if j, err = q.load(id); err != nil {
			return fmt.Errorf("job %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("latest version of %s file %q: %w", source, path, err)
	}
	return j, nil
}

// Counts returns the number of jobs in each state, every state included. It
// reads the persisted counters, whatever the size of the queue.
func (s *Store) Counts() (map[State]int, error) {
	m := make(map[State]int, len(States))
	err := s.view(func(q *qtx) error {
		for _, st := range States {
			n, err := q.count(st)
			if err != nil {
				return err
			}
			m[st] = int(n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return m, nil
}

// List returns up to limit jobs with ids above afterID, in id order: those
// in the given state, or all for state 0. To page through the queue, pass
// the last id of a page as afterID of the next. It reads only the jobs it
// returns.
func (s *Store) List(state State, afterID uint64, limit int) ([]*Job, error) {
	switch {
	case limit <= 0:
		return nil, fmt.Errorf("list jobs: limit %d, want at least 1", limit)
	case state != 0 && !state.valid():
		return nil, fmt.Errorf("list jobs: invalid state %d", state)
	case afterID == math.MaxUint64:
		return nil, nil
	}
	var jobs []*Job
	err := s.view(func(q *qtx) error {
		jobs = make([]*Job, 0, min(limit, 100))
		if !state.indexed() {
			// Any state, or one the state index leaves out: scan the jobs.
			c := q.jobs.Cursor()
			for k, v := c.Seek(idKey(afterID + 1)); k != nil && len(jobs) < limit; k, v = c.Next() {
				if len(k) != 8 {
					return fmt.Errorf("%w: job key of %d bytes", ErrCorrupt, len(k))
				}
				id := binary.BigEndian.Uint64(k)
				j, err := decodeJob(id, v)
				if err != nil {
					return fmt.Errorf("job %d: %w", id, err)
				}
				if state == 0 || j.State == state {
					jobs = append(jobs, j)
				}
			}
			return nil
		}
		c := q.state.Cursor()
		for k, _ := c.Seek(stateKey(state, afterID+1)); k != nil && k[0] == byte(state) && len(jobs) < limit; k, _ = c.Next() {
			if len(k) != 9 {
				return fmt.Errorf("%w: state index key of %d bytes", ErrCorrupt, len(k))
			}
			id := binary.BigEndian.Uint64(k[1:])
			j, err := q.loadIndexed(id, "state")
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return jobs, nil
}

// Requeue sends a Parked or Skipped job back to the start: Queued, due now
// in the lane it was in, with Attempts, Reason, LastError and the presign
// cleared (the metadata it
// was made for may have been the problem). It refuses a claimed job
// (ErrClaimed) and a job in any other state (ErrIllegalTransition).
func (s *Store) Requeue(id uint64) error {
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.claimed[id]; ok {
		return fmt.Errorf("requeue job %d: %w", id, ErrClaimed)
	}
	err := s.update(func(q *qtx) error {
		old, err := q.load(id)
		if err != nil {
			return err
		}
		if old.State != Parked && old.State != Skipped {
			return fmt.Errorf("%w: only parked and skipped jobs are requeued, this one is %s", ErrIllegalTransition, old.State)
		}
		j := *old
		j.State = Queued
		j.Attempts = 0
		j.Reason = ""
		j.LastError = ""
		j.Presign = nil
		j.NextAttempt = now
		j.Updated = now
		return q.putJob(old, &j, encodeJob(&j))
	})
	if err != nil {
		return fmt.Errorf("requeue job %d: %w", id, err)
	}
	return nil
}

// Prune deletes the Done and Skipped jobs last updated before the given
// time, except claimed ones and those with children left (see
// [Store.ChildrenLeft]), and returns how many it deleted. It walks the
// retention index from its oldest entry, in transactions of pruneChunk
// jobs. The seen entries of the files stay, so a pruned version is never
// added again.
//
// A job kept for its children is pruned by a later Prune once they are
// finished. Pruning a child removes its entry from the children index;
// pruning a parent leaves its children, and their entries, until they are
// pruned in turn, so [Store.Children] of a pruned job may still list some.
func (s *Store) Prune(before time.Time) (int, error) {
	limit := keyTime(nanos(before))
	total := 0
	var from []byte
	for {
		n, next, err := s.pruneOnce(limit, from)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune jobs: %w", err)
		}
		if next == nil {
			return total, nil
		}
		from = next
	}
}

// pruneOnce deletes up to pruneChunk jobs from the retention index entry
// from on (from its first with from nil), and returns the entry to go on
// from, nil when no more are due. The jobs it keeps are before that entry,
// so a chunk of them cannot hold up the rest.
func (s *Store) pruneOnce(limit uint64, from []byte) (n int, next []byte, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.update(func(q *qtx) error {
		n, next = 0, nil
		// Collect first: deleting under a bbolt cursor can skip keys.
		var ids []uint64
		c := q.ended.Cursor()
		k, _ := c.First()
		if from != nil {
			k, _ = c.Seek(from)
		}
		for scanned := 0; k != nil; k, _ = c.Next() {
			if len(k) != 16 {
				return fmt.Errorf("%w: retention index key of %d bytes", ErrCorrupt, len(k))
			}
			if binary.BigEndian.Uint64(k) >= limit {
				break
			}
			if scanned == pruneChunk {
				next = append([]byte(nil), k...)
				break
			}
			scanned++
			id := binary.BigEndian.Uint64(k[8:])
			if _, ok := s.claimed[id]; !ok {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			j, err := q.loadIndexed(id, "retention")
			if err != nil {
				return err
			}
			if !j.State.ended() {
				return fmt.Errorf("job %d: %w: %s job in the retention index", id, ErrCorrupt, j.State)
			}
			if left, err := q.childrenLeft(id); err != nil || left {
				if err != nil {
					return fmt.Errorf("job %d: %w", id, err)
				}
				continue
			}
			if err := q.deleteJob(j); err != nil {
				return fmt.Errorf("delete job %d: %w", id, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return n, next, nil
}
