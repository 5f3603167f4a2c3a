package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A job's children are the jobs of the files expanded from it: the
// recordings of a ZIP, the files a manifest names. Each child has the
// parent's id as its Parent, which never changes, and an entry in the
// children index (store.go), so that the children of a job are read
// without a scan of the queue.
//
// A child is finished when it is no longer Active: Done, Skipped or
// Parked. A parked child waits for an admin, not for its parent, so it
// does not hold its parent back; requeued, it is active again.

// errNoChildIndex is the error of the children queries on a file of
// schema 1, opened read-only and so not migrated.
var errNoChildIndex = errors.New("the state file has schema 1, which has no children index: " +
	"start the agent once, which migrates it")

// Expand adds the files expanded from job parent as its children, in one
// write transaction, and returns how many jobs it created. It refuses,
// without writing, a parent that does not exist (ErrNotFound) and a Found
// whose Parent is neither 0 nor parent.
//
// Each child is added as [Store.Add] adds a file, with Parent set to
// parent: a version already known of its Source and Path adds nothing,
// even if it was known under another parent or its job was pruned, and any
// other version supersedes the job of the previous one. So Expand can be
// called again with the same children, after a crash between the
// expansion and the parent's next commit, and adds nothing twice. For that,
// a child's Source and Path must name the same file whenever its parent is
// expanded, and no other file: the parent's path joined with the child's
// name within it, say. A child known before under another parent (the same
// recording in a newer version of the ZIP) is not a child of this parent.
//
// Expand does not change the parent itself, and does not need it claimed:
// the caller records the parent's progress with Save or Release, before or
// after.
func (s *Store) Expand(parent uint64, children []Found) (int, error) {
	for i := range children {
		f := &children[i]
		err := f.validate()
		if err == nil && f.Parent != 0 && f.Parent != parent {
			err = fmt.Errorf("the file names job %d as its parent", f.Parent)
		}
		if err != nil {
			return 0, fmt.Errorf("expand job %d: %s file %q: %w", parent, f.Source, f.Path, err)
		}
	}
	if s.readOnly {
		return 0, fmt.Errorf("expand job %d: the state file is open read-only", parent)
	}
	now := s.clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var added int
	err := s.update(func(q *qtx) (err error) {
		if _, err := q.load(parent); err != nil {
			return err
		}
		added, err = s.addAll(q, children, parent, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expand job %d: %w", parent, err)
	}
	s.stats.expanded.Add(uint64(added))
	return added, nil
}

// Children returns the children of job parent, in id order (the order
// they were added). A job that does not exist has none; a pruned job may
// still have children that are not pruned yet.
func (s *Store) Children(parent uint64) ([]*Job, error) {
	var jobs []*Job
	err := s.view(func(q *qtx) error {
		jobs = nil
		return q.eachChild(parent, func(j *Job) (bool, error) {
			jobs = append(jobs, j)
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("children of job %d: %w", parent, err)
	}
	return jobs, nil
}

// ChildCounts returns the number of children of job parent in each state,
// every state included. It reads the parent's children, not the queue.
func (s *Store) ChildCounts(parent uint64) (map[State]int, error) {
	var counts [maxState + 1]int
	err := s.view(func(q *qtx) error {
		counts = [maxState + 1]int{}
		return q.eachChild(parent, func(j *Job) (bool, error) {
			counts[j.State]++
			return true, nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("count the children of job %d: %w", parent, err)
	}
	m := make(map[State]int, len(States))
	for _, st := range States {
		m[st] = counts[st]
	}
	return m, nil
}

// ChildrenLeft returns how many children of job parent are not finished,
// that is still Active (see the comment on children above): the parent is
// done with its children when it is 0. It reads the parent's children,
// not the queue.
func (s *Store) ChildrenLeft(parent uint64) (int, error) {
	n := 0
	err := s.view(func(q *qtx) error {
		n = 0
		return q.eachChild(parent, func(j *Job) (bool, error) {
			if j.State.Active() {
				n++
			}
			return true, nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("count the children of job %d: %w", parent, err)
	}
	return n, nil
}

// eachChild calls fn with each child of parent, in id order, until fn
// returns false or an error.
func (q *qtx) eachChild(parent uint64, fn func(j *Job) (more bool, err error)) error {
	if q.children == nil {
		return errNoChildIndex
	}
	c := q.children.Cursor()
	prefix := idKey(parent)
	for k, _ := c.Seek(prefix); k != nil && string(k[:min(len(k), 8)]) == string(prefix); k, _ = c.Next() {
		if len(k) != 16 {
			return fmt.Errorf("%w: children index key of %d bytes", ErrCorrupt, len(k))
		}
		id := binary.BigEndian.Uint64(k[8:])
		j, err := q.loadIndexed(id, "children")
		if err != nil {
			return err
		}
		if j.Parent != parent {
			return fmt.Errorf("job %d: %w: in the children index of job %d, its parent is %d", id, ErrCorrupt, parent, j.Parent)
		}
		if more, err := fn(j); err != nil || !more {
			return err
		}
	}
	return nil
}

// childrenLeft reports whether job parent has a child not finished.
func (q *qtx) childrenLeft(parent uint64) (bool, error) {
	left := false
	err := q.eachChild(parent, func(j *Job) (bool, error) {
		left = j.State.Active()
		return !left, nil
	})
	return left, err
}
