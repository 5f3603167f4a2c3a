package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SalvageReport says what Salvage copied and what it could not.
type SalvageReport struct {
	From  string // the damaged file, as named to Salvage
	To    string // the new state file
	Aside string // where the damaged file was moved; "" unless salvaged in place

	Jobs int // jobs copied
	// JobsLost is how many jobs were lost: the old counters' total less
	// the jobs copied, when the counters could be read; otherwise the
	// unreadable records and the jobs the old indexes name on unreadable
	// pages, a lower bound (JobsLostAtLeast).
	JobsLost        int
	JobsLostAtLeast bool

	Seen        int // seen entries copied
	SeenRebuilt int // seen entries rebuilt from a copied job, theirs being unreadable
	// SeenDropped counts the seen entries dropped because their job was
	// lost before it finished (the old indexes list it as active or
	// parked): the agent finds those files again and uploads them.
	SeenDropped int
	// Unknown lists, as source/path, the files whose job was lost and
	// whose state nothing tells. Their seen entries are kept, so the agent
	// does not upload them again: if one was never uploaded, push it.
	Unknown []string

	Gates int // pause gates copied

	// Damage says what could not be read, one line per page or record;
	// after maxDamage lines, one line says how many more.
	Damage []string
}

// Lost reports whether anything of the old file was not copied.
func (r *SalvageReport) Lost() bool {
	return r.JobsLost > 0 || r.SeenDropped > 0 || len(r.Unknown) > 0 || len(r.Damage) > 0
}

// maxDamage is how many lines of damage a SalvageReport lists.
var maxDamage = 50

// salvageBatch is how many records Salvage writes per transaction.
var salvageBatch = 10_000

// Salvage copies every readable job (its lane included), seen entry and
// gate of the state file at from into a new state file, and rebuilds the
// indexes and counters through putJob, the children index from each job's
// Parent included, so that the new file keeps every invariant [Store.Check]
// verifies. It salvages files of schema 1 too, into a file of this schema. It reads the old file page by page without bbolt (pages.go), so
// no damage can fault or panic it, and it never writes to the old file.
//
// With to set, the new file is written there and must not exist; from is
// left in place. With to empty, Salvage works in place: it writes the new
// file next to from, moves from aside as from.damaged-TIME and moves the new
// file to from. Either way the report says what was lost; o.Now dates the
// names, and o.Timeout bounds the wait for a running agent's lock.
//
// Jobs cannot be recovered from an unreadable page, but what they were can
// often be told from the old indexes: a seen entry whose job was lost before
// it finished is dropped, so the agent uploads that file again; one whose job
// was lost in an unknown state is kept, and listed in the report.
func Salvage(from, to string, o Options) (rep *SalvageReport, err error) {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if _, _, err := lostState(from); err != nil {
		return nil, err
	}
	now := o.Now()
	inPlace := to == ""
	if inPlace {
		to = freeName(from, "salvage", now)
	}
	rep = &SalvageReport{From: from, To: to}
	if inPlace {
		rep.To = from
	}
	// bbolt's shared lock keeps an agent out while the file is read. bbolt
	// refuses a file it cannot read after taking the lock: then no agent
	// can have it open either.
	lock, err := openLocked(from, bolt.Options{ReadOnly: true}, o.Timeout)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, &lockedError{dir: filepath.Dir(from)}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("salvage %s: %w", from, err)
	}
	unlock := func() {
		if lock != nil {
			lock.Close()
			lock = nil
		}
	}
	defer unlock()

	dst, err := createStore(to, o)
	if err != nil {
		return nil, fmt.Errorf("salvage %s: %w", from, err)
	}
	err = salvage(from, dst, rep)
	if err == nil {
		err = dst.Check()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
		return nil, fmt.Errorf("salvage %s: %w", from, err)
	}
	if !inPlace {
		return rep, nil
	}
	// Windows cannot rename a file that is open.
	unlock()
	rep.Aside = freeName(from, "damaged", now)
	if err := os.Rename(from, rep.Aside); err != nil {
		os.Remove(to)
		return nil, fmt.Errorf("salvage %s: move the damaged file aside: %w", from, err)
	}
	if err := os.Rename(to, from); err != nil {
		return nil, fmt.Errorf("salvage %s: the damaged file is now %s, but the salvaged copy %s could not take its place: %w", from, rep.Aside, to, err)
	}
	if err := syncDir(filepath.Dir(from)); err != nil {
		return nil, fmt.Errorf("salvage %s: %w", from, err)
	}
	if _, marked, err := markerTime(from); err != nil || !marked {
		if err == nil {
			err = writeMarker(from, now)
		}
		if err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// lostJobs are the job ids whose records could not be read.
type lostJobs struct {
	// ranges are the [lo, hi) of job keys on unreadable pages, nil being
	// unbounded. A walk meets pages in key order, so they are sorted and
	// disjoint.
	ranges [][2][]byte
	ids    map[uint64]bool
}

func (l *lostJobs) has(id uint64) bool {
	if l.ids[id] {
		return true
	}
	k := idKey(id)
	// The last range that starts at or before k.
	i := sort.Search(len(l.ranges), func(i int) bool {
		lo := l.ranges[i][0]
		return lo != nil && bytes.Compare(lo, k) > 0
	}) - 1
	return i >= 0 && (l.ranges[i][1] == nil || bytes.Compare(k, l.ranges[i][1]) < 0)
}

// salvage copies what is readable of the file at from into dst.
func salvage(from string, dst *Store, rep *SalvageReport) (err error) {
	// Nothing below reads through a memory map, and the page reader checks
	// every bound; this guard turns a mistake in that into an error too.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrDamaged, r)
		}
	}()
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	pf, err := readPageFile(f, fi.Size())
	if err != nil {
		return fmt.Errorf("%w: nothing can be read: %v (restore a backup, or `vela-agent state reset`)", ErrDamaged, err)
	}
	damage := func(format string, args ...any) {
		switch n := len(rep.Damage); {
		case n < maxDamage:
			rep.Damage = append(rep.Damage, fmt.Sprintf(format, args...))
		case n == maxDamage:
			rep.Damage = append(rep.Damage, "(more damage not listed)")
		}
	}
	if pf.short != nil {
		damage("the file is %v", pf.short)
	}
	lost := &lostJobs{ids: make(map[uint64]bool)}
	badIn := make(map[string]int) // unreadable pages by bucket
	w := newWalker(pf, func(b *badPage) error {
		damage("%v", b)
		badIn[b.bucket]++
		if b.bucket == string(bucketJobs) {
			lost.ranges = append(lost.ranges, [2][]byte{b.lo, b.hi})
		}
		return nil
	})

	// The buckets, from the root bucket's tree.
	headers := make(map[string][]byte)
	root := make([]byte, bucketHeader)
	ne.PutUint64(root, pf.meta.root)
	if err := w.tree("(root)", root, func(flags uint32, k, v []byte) error {
		if flags&leafIsBucket != 0 {
			headers[string(k)] = v
		}
		return nil
	}); err != nil {
		return err
	}
	for _, name := range allBuckets {
		if bytes.Equal(name, bucketChildren) {
			continue // rebuilt from the jobs, never read; schema 1 has none
		}
		if headers[string(name)] == nil {
			damage("bucket %q: not found", name)
			if bytes.Equal(name, bucketJobs) {
				lost.ranges = append(lost.ranges, [2][]byte{nil, nil})
			}
		}
	}
	walk := func(name []byte, fn entryFunc) error {
		hdr := headers[string(name)]
		if hdr == nil {
			return nil
		}
		return w.tree(string(name), hdr, func(flags uint32, k, v []byte) error {
			if flags&leafIsBucket != 0 {
				damage("bucket %q: a nested bucket %q", name, k)
				return nil
			}
			return fn(flags, k, v)
		})
	}
	if err := walk(bucketMeta, func(_ uint32, k, v []byte) error {
		if !bytes.Equal(k, keySchema) {
			return nil
		}
		if len(v) != 8 {
			damage("schema version of %d bytes", len(v))
		} else if n := binary.BigEndian.Uint64(v); n != schemaVersion && n != 1 {
			return fmt.Errorf("written with schema %d, this build knows 1 to %d: salvage it with the build that wrote it", n, schemaVersion)
		}
		return nil
	}); err != nil {
		return err
	}

	// Jobs, in batches, through putJob.
	var maxID uint64
	if hdr := headers[string(bucketJobs)]; len(hdr) >= bucketHeader {
		maxID = ne.Uint64(hdr[8:])
	}
	var batch []*Job
	flushJobs := func() error {
		err := dst.update(func(q *qtx) error {
			for _, j := range batch {
				if err := q.putJob(nil, j, encodeJob(j)); err != nil {
					return fmt.Errorf("copy job %d: %w", j.ID, err)
				}
			}
			return nil
		})
		rep.Jobs += len(batch)
		batch = batch[:0]
		return err
	}
	if err := walk(bucketJobs, func(_ uint32, k, v []byte) error {
		if len(k) != 8 {
			damage("jobs: a key of %d bytes", len(k))
			return nil
		}
		id := binary.BigEndian.Uint64(k)
		j, err := decodeJob(id, v)
		if err != nil || id == 0 {
			if err == nil {
				err = errors.New("job id 0")
			}
			damage("job %d: %v", id, err)
			lost.ids[id] = true
			return nil
		}
		maxID = max(maxID, id)
		batch = append(batch, j)
		if len(batch) == salvageBatch {
			return flushJobs()
		}
		return nil
	}); err != nil {
		return err
	}
	if err := flushJobs(); err != nil {
		return err
	}

	// What the old indexes and counters tell of the lost jobs.
	const (
		wasActive = iota + 1
		wasParked
		wasEnded
	)
	lostState := make(map[uint64]int)
	index := func(name []byte, idAt int, class func(k []byte) int) error {
		return walk(name, func(_ uint32, k, _ []byte) error {
			if len(k) != idAt+8 {
				return nil
			}
			if id := binary.BigEndian.Uint64(k[idAt:]); lost.has(id) {
				lostState[id] = max(lostState[id], class(k))
			}
			return nil
		})
	}
	if err := index(bucketDue, 9, func([]byte) int { return wasActive }); err != nil {
		return err
	}
	if err := index(bucketState, 1, func(k []byte) int {
		if State(k[0]) == Parked {
			return wasParked
		}
		return wasEnded // Skipped
	}); err != nil {
		return err
	}
	if err := index(bucketEnded, 8, func([]byte) int { return wasEnded }); err != nil {
		return err
	}
	var counted uint64
	countsRead := headers[string(bucketCounts)] != nil
	if err := walk(bucketCounts, func(_ uint32, k, v []byte) error {
		if len(k) != 1 || len(v) != 8 {
			countsRead = false
			return nil
		}
		counted += binary.BigEndian.Uint64(v)
		return nil
	}); err != nil {
		return err
	}
	if countsRead && badIn[string(bucketCounts)] == 0 && counted >= uint64(rep.Jobs) {
		rep.JobsLost = int(counted) - rep.Jobs
	} else {
		rep.JobsLost = len(lost.ids)
		for id := range lostState {
			if !lost.ids[id] {
				rep.JobsLost++
			}
		}
		rep.JobsLostAtLeast = rep.JobsLost > 0 || len(lost.ranges) > 0
	}

	// Seen entries: copied, but for those of jobs lost before they
	// finished; then rebuilt from the copied jobs where theirs was lost.
	type seenEntry struct{ k, v []byte }
	var seen []seenEntry
	flushSeen := func() error {
		err := dst.update(func(q *qtx) error {
			for _, e := range seen {
				if err := q.seen.Put(e.k, e.v); err != nil {
					return err
				}
			}
			return nil
		})
		rep.Seen += len(seen)
		seen = seen[:0]
		return err
	}
	if err := walk(bucketSeen, func(_ uint32, k, v []byte) error {
		_, id, err := sameVersion(v, 0, 0)
		if err == nil && id == 0 {
			err = errors.New("names job 0")
		}
		if err != nil {
			damage("seen entry %q: %v", k, err)
			return nil
		}
		if lost.has(id) {
			switch lostState[id] {
			case wasActive, wasParked:
				rep.SeenDropped++
				return nil
			case 0:
				src, path, _ := bytes.Cut(k, []byte{0})
				rep.Unknown = append(rep.Unknown, string(src)+"/"+string(path))
			}
		}
		maxID = max(maxID, id)
		seen = append(seen, seenEntry{k, v})
		if len(seen) == salvageBatch {
			return flushSeen()
		}
		return nil
	}); err != nil {
		return err
	}
	if err := flushSeen(); err != nil {
		return err
	}
	if err := rebuildSeen(dst, rep); err != nil {
		return err
	}

	// Gates, and the job sequence: ids are never reused.
	return dst.update(func(q *qtx) error {
		if err := walk(bucketGates, func(_ uint32, k, v []byte) error {
			g, err := decodeGate(string(k), v)
			if err != nil {
				damage("gate %q: %v", k, err)
				return nil
			}
			rep.Gates++
			return q.tx.Bucket(bucketGates).Put([]byte(g.Name), encodeGate(g))
		}); err != nil {
			return err
		}
		return q.jobs.SetSequence(maxID)
	})
}

// rebuildSeen gives every job of dst whose file has no seen entry one for
// its version. Jobs go in id order, so the latest job of a file wins, as
// Add would have it; an entry naming an older job than one copied can only
// be such a rebuilt one, as a seen entry names the latest job of its file.
func rebuildSeen(dst *Store, rep *SalvageReport) error {
	after := uint64(0)
	for {
		var n int
		err := dst.update(func(q *qtx) error {
			n = 0
			c := q.jobs.Cursor()
			k, v := c.Seek(idKey(after + 1))
			for ; k != nil && n < salvageBatch; k, v = c.Next() {
				id := binary.BigEndian.Uint64(k)
				after, n = id, n+1
				j, err := decodeJob(id, v)
				if err != nil {
					return fmt.Errorf("job %d: %w", id, err)
				}
				key := seenKey(j.Source, j.Path)
				old := q.seen.Get(key)
				if old != nil {
					if _, oid, err := sameVersion(old, 0, 0); err != nil || oid >= id {
						continue
					}
				} else {
					rep.SeenRebuilt++
				}
				if err := q.seen.Put(key, seenValue(j.Size, nanos(j.ModTime), id)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || n < salvageBatch {
			return err
		}
	}
}
