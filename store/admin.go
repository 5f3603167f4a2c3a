package store

import "fmt"

// Forget drops a job from the work on an admin's word: it becomes Skipped
// with the given reason. Its file version stays in the seen index, so the
// same version is never queued again; a newer version of the file is. A
// job already Skipped is left as it is. A claimed job (a worker has it in
// hand) is refused with an error wrapping ErrClaimed, and an Uploaded or
// Done one, whose file Vela already has, with one wrapping
// ErrIllegalTransition. Parked jobs may be forgotten too.
func (s *Store) Forget(id uint64, reason string) error {
	if s.readOnly {
		return fmt.Errorf("forget job %d: the state file is open read-only", id)
	}
	if reason == "" {
		return fmt.Errorf("forget job %d: no reason given", id)
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.claimed[id]; ok {
		return fmt.Errorf("forget job %d: %w", id, ErrClaimed)
	}
	err := s.update(func(q *qtx) error {
		old, err := q.load(id)
		if err != nil {
			return err
		}
		switch old.State {
		case Skipped:
			return nil
		case Uploaded, Done:
			return fmt.Errorf("%w: the file of this job is already uploaded (%s)", ErrIllegalTransition, old.State)
		case Queued, Staged, Ready, Presigned, Parked:
		default:
			return fmt.Errorf("%w: job in state %s", ErrCorrupt, old.State)
		}
		j := *old
		j.State = Skipped
		j.Reason = reason
		j.Presign = nil
		j.Updated = now
		return q.putJob(old, &j, encodeJob(&j))
	})
	if err != nil {
		return fmt.Errorf("forget job %d: %w", id, err)
	}
	return nil
}
