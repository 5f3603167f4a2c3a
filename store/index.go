package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// qtx is one transaction on the queue: the buckets, looked up once, and the
// counter changes not yet written. Code that changes jobs goes through
// putJob and deleteJob and ends with flush, which the update helpers call.
type qtx struct {
	tx                                *bolt.Tx
	jobs, state, due, ended, seen, cn *bolt.Bucket
	// children is nil in a file of schema 1, which only a read-only Store
	// reads unmigrated.
	children *bolt.Bucket
	delta    [maxState + 1]int64
	written  int // job records written or deleted, for Stats

	// Of the seen entries added: how many, and how many were the last of
	// their folder when added (see seenFill). sc is the cursor add seeks
	// them with.
	seenNew, seenLast int
	sc                *bolt.Cursor
}

// seenCursor returns a cursor on the seen index, the same for the whole
// transaction; every use of it seeks first.
func (q *qtx) seenCursor() *bolt.Cursor {
	if q.sc == nil {
		q.sc = q.seen.Cursor()
	}
	return q.sc
}

func newQtx(tx *bolt.Tx) *qtx {
	q := &qtx{
		tx:       tx,
		jobs:     tx.Bucket(bucketJobs),
		state:    tx.Bucket(bucketState),
		due:      tx.Bucket(bucketDue),
		ended:    tx.Bucket(bucketEnded),
		seen:     tx.Bucket(bucketSeen),
		cn:       tx.Bucket(bucketCounts),
		children: tx.Bucket(bucketChildren),
	}
	if tx.Writable() {
		for _, b := range []*bolt.Bucket{q.jobs, q.state, q.due, q.ended, q.seen, q.children} {
			if b != nil { // children: missing in a file of schema 1 opened read-only, which writes nothing
				b.FillPercent = fillPercent(b, q)
			}
		}
	}
	return q
}

// fillPercent is how full bbolt fills the first page of a split in the
// bucket b of q, suited to the order its keys are written in. bbolt keeps
// no fill percent in the file, and its default (0.5) suits keys written in
// random order: for keys that only grow it leaves every page half empty
// for good. It is set in every write transaction of the queue (newQtx).
// See docs/state-file.md for what each choice measured.
//
//   - ended (retention index): keys are the time a job ended, so new ones
//     come last, and Prune deletes from the front: pages are filled full.
//   - jobs: ids only grow, but a record grows after it is written (the
//     metadata, for a while the presign) and shrinks again (the presign
//     is dropped at upload). Pages are filled full, and putJob rewrites a
//     record by deleting and putting it, so that bbolt merges a page left
//     less than half full by a shrunk record into its neighbour, which it
//     does only after a delete.
//   - state, due, children: keys come mostly in order (ids grow, and new
//     jobs are due last), with some in between: pages are split at 90%,
//     leaving room for those.
//   - seen: the order depends on how files are named. Those named in
//     order (by time, in folders by date) come last in their folder, and
//     want full pages; those named at random (by a call's UUID) come
//     anywhere, and a page split at 90% then ends a third full, at 50%
//     two thirds. Add and Expand, which alone add entries, set what
//     seenFill says for the files they add; other transactions split at
//     90%.
func fillPercent(b *bolt.Bucket, q *qtx) float64 {
	switch b {
	case q.ended, q.jobs:
		return 1.0
	}
	return 0.9
}

// seenFill is the fill percent of the seen index for a transaction that
// added n entries of which last were the last of their folder when added:
// 100% if all were, 50% if none were, in proportion between. Measured on
// 100,000 files added 500 at a time: 99% full pages for names in order,
// 97% for ten sources each in order, 69% for random names, 74% for one in
// ten random among names in order (see docs/state-file.md).
func seenFill(n, last int) float64 {
	return 0.5 + 0.5*float64(last)/float64(n)
}

// lastInFolder reports whether the seen key k, not yet in the index, is
// the last of its folder in it: whether next, the first key after it,
// is nil or of another folder (or source). A folder's keys are
// contiguous: its path and a slash prefix them all.
func lastInFolder(k, next []byte) bool {
	if next == nil {
		return true
	}
	dir := k[:bytes.LastIndexByte(k, '/')+1]
	if len(dir) == 0 || bytes.IndexByte(dir, 0) < 0 {
		dir = k[:bytes.IndexByte(k, 0)+1] // the source's top folder
	}
	return !bytes.HasPrefix(next, dir)
}

// view runs fn in a read transaction.
func (s *Store) view(fn func(q *qtx) error) error {
	return s.viewTx(func(tx *bolt.Tx) error { return fn(newQtx(tx)) })
}

// update runs fn in a write transaction and writes its counter changes.
// An error of the commit itself, not of fn, wraps ErrWrite.
func (s *Store) update(fn func(q *qtx) error) error {
	return s.write(func(tx *bolt.Tx) (int, error) { return runQ(tx, fn) })
}

// runQ runs fn on the queue in tx and writes its counter changes; it
// returns how many job records fn wrote or deleted.
func runQ(tx *bolt.Tx, fn func(q *qtx) error) (int, error) {
	q := newQtx(tx)
	if err := fn(q); err != nil {
		return 0, err
	}
	return q.written, q.flush()
}

// Key layouts; see the bucket declarations in store.go.

func idKey(id uint64) []byte { return u64(id) }

func stateKey(s State, id uint64) []byte {
	k := make([]byte, 9)
	k[0] = byte(s)
	binary.BigEndian.PutUint64(k[1:], id)
	return k
}

func dueKey(j *Job) []byte {
	k := make([]byte, 17)
	k[0] = byte(j.Lane)
	binary.BigEndian.PutUint64(k[1:], keyTime(nanos(j.NextAttempt)))
	binary.BigEndian.PutUint64(k[9:], j.ID)
	return k
}

func childKey(parent, id uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, parent)
	binary.BigEndian.PutUint64(k[8:], id)
	return k
}

func endKey(j *Job) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, keyTime(nanos(j.Updated)))
	binary.BigEndian.PutUint64(k[8:], j.ID)
	return k
}

// keyTime is a time in an index key: negative times, which never occur in
// practice, sort with the zero time.
func keyTime(n int64) uint64 { return uint64(max(n, 0)) }

func seenKey(source, path string) []byte {
	k := make([]byte, 0, len(source)+1+len(path))
	k = append(k, source...)
	k = append(k, 0)
	return append(k, path...)
}

// seenValue is the value of a seen entry: the version and the job of it.
func seenValue(size, mtime int64, id uint64) []byte {
	v := make([]byte, 24)
	binary.BigEndian.PutUint64(v, uint64(size))
	binary.BigEndian.PutUint64(v[8:], uint64(mtime))
	binary.BigEndian.PutUint64(v[16:], id)
	return v
}

// sameVersion reports whether the seen entry v records this version; it
// also returns the job of the entry.
func sameVersion(v []byte, size, mtime int64) (same bool, id uint64, err error) {
	if len(v) != 24 {
		return false, 0, fmt.Errorf("%w: seen entry of %d bytes", ErrCorrupt, len(v))
	}
	same = int64(binary.BigEndian.Uint64(v)) == size && int64(binary.BigEndian.Uint64(v[8:])) == mtime
	return same, binary.BigEndian.Uint64(v[16:]), nil
}

// load returns job id, or an error wrapping ErrNotFound or ErrCorrupt.
func (q *qtx) load(id uint64) (*Job, error) {
	v := q.jobs.Get(idKey(id))
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeJob(id, v)
}

// loadIndexed returns job id, named by an entry of the index called name:
// a missing job means the index is corrupt. Errors name the job.
func (q *qtx) loadIndexed(id uint64, name string) (*Job, error) {
	j, err := q.load(id)
	if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: the %s index names a job that does not exist", ErrCorrupt, name)
	}
	if err != nil {
		return nil, fmt.Errorf("job %d: %w", id, err)
	}
	return j, nil
}

// putJob writes j, whose stored version is old (nil for a new job), and
// moves its index entries and counters from old to j. It keeps the
// invariants listed with the buckets in store.go, and it is idempotent: run
// twice, the second run finds j stored and changes nothing more.
func (q *qtx) putJob(old, j *Job, rec []byte) error {
	if old == nil || old.State != j.State {
		if old != nil && old.State.indexed() {
			if err := q.state.Delete(stateKey(old.State, old.ID)); err != nil {
				return err
			}
		}
		if j.State.indexed() {
			if err := q.state.Put(stateKey(j.State, j.ID), nil); err != nil {
				return err
			}
		}
		q.delta[j.State]++
		if old != nil {
			q.delta[old.State]--
		}
	}
	if err := q.move(q.due, old != nil && old.State.Active(), j.State.Active(), old, j, dueKey); err != nil {
		return err
	}
	if err := q.move(q.ended, old != nil && old.State.ended(), j.State.ended(), old, j, endKey); err != nil {
		return err
	}
	// Parent is part of a job's identity: only a new job adds an entry.
	if old == nil && j.Parent != 0 {
		if err := q.children.Put(childKey(j.Parent, j.ID), nil); err != nil {
			return err
		}
	}
	q.written++
	if old != nil {
		// Delete first, so that bbolt rebalances the page when it commits:
		// see fillPercent.
		if err := q.jobs.Delete(idKey(j.ID)); err != nil {
			return err
		}
	}
	return q.jobs.Put(idKey(j.ID), rec)
}

// move replaces old's entry in the index b, present if had, by j's, present
// if has, touching nothing when the key stays the same.
func (q *qtx) move(b *bolt.Bucket, had, has bool, old, j *Job, key func(*Job) []byte) error {
	var oldKey, newKey []byte
	if had {
		oldKey = key(old)
	}
	if has {
		newKey = key(j)
	}
	if had && has && string(oldKey) == string(newKey) {
		return nil
	}
	if had {
		if err := b.Delete(oldKey); err != nil {
			return err
		}
	}
	if has {
		return b.Put(newKey, nil)
	}
	return nil
}

// deleteJob removes j, as stored, and its index entries, its entry as a
// child included. Its seen entry stays, and so do the entries of its own
// children.
func (q *qtx) deleteJob(j *Job) error {
	if j.State.indexed() {
		if err := q.state.Delete(stateKey(j.State, j.ID)); err != nil {
			return err
		}
	}
	q.delta[j.State]--
	if err := q.move(q.due, j.State.Active(), false, j, nil, dueKey); err != nil {
		return err
	}
	if err := q.move(q.ended, j.State.ended(), false, j, nil, endKey); err != nil {
		return err
	}
	if j.Parent != 0 {
		if err := q.children.Delete(childKey(j.Parent, j.ID)); err != nil {
			return err
		}
	}
	q.written++
	return q.jobs.Delete(idKey(j.ID))
}

// flush adds the counter changes of the transaction to the counts bucket.
func (q *qtx) flush() error {
	for s := Queued; s <= maxState; s++ {
		d := q.delta[s]
		if d == 0 {
			continue
		}
		n, err := q.count(s)
		if err != nil {
			return err
		}
		if d < 0 && uint64(-d) > n {
			return fmt.Errorf("%w: counter of %s jobs would drop below zero", ErrCorrupt, s)
		}
		if err := q.cn.Put([]byte{byte(s)}, u64(n+uint64(d))); err != nil {
			return fmt.Errorf("write counter of %s jobs: %w", s, err)
		}
		q.delta[s] = 0
	}
	return nil
}

// count returns the stored counter of state s.
func (q *qtx) count(s State) (uint64, error) {
	v := q.cn.Get([]byte{byte(s)})
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("%w: counter of %s jobs has %d bytes", ErrCorrupt, s, len(v))
}
