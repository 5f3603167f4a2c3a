// Package store is vela-agent's durable job queue in a bbolt file.
//
// A job is one version of one file. Watchers offer settled files with
// [Store.Add]; workers take due jobs with [Store.Claim], record each step
// with [Store.Save] before its side effect, and hand the job back with
// [Store.Release]. Every change is committed (fsynced) before the method
// returns.
//
// A job waits in a [Lane] of the caller's choice, stored with it, and
// Claim serves the lanes it is given. A job can have children, the files
// expanded from it (a ZIP's recordings), added with [Store.Expand] and
// followed with [Store.ChildrenLeft]. [Store.Stats] counts the work of the
// store since Open, for metrics. [Store.Compact] gives the file system
// back the room that pruned jobs leave in the file (see
// docs/state-file.md for what the file costs).
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the layout of the state file this build reads and
// writes. Raise it, and migrate in Open, whenever a bucket, a key or a record
// changes in a way an older build would misread.
//
//	1: the buckets below but children; job records of version 1.
//	2: the children index; job records of version 2, which hold the lane
//	   (records of version 1 remain until their job changes). Open
//	   migrates a file of schema 1 (see migrateV1).
const schemaVersion = 2

// The state file holds the buckets below. All integers in keys and values
// are 8-byte big-endian, so keys sort by number; times are [nanos], clamped
// to 0 in keys (dueTime, endTime). These invariants hold after every
// committed transaction. putJob and deleteJob (index.go) are the only code
// that writes jobs, their index entries and the counters, but for
// migrateV1, which builds the children index of a file of schema 1;
// [Store.Check] verifies all of it.
var (
	// meta: "schema" -> schemaVersion of the writer.
	bucketMeta = []byte("meta")
	// jobs: id -> job record (record.go). The bucket's sequence is the last
	// id handed out: ids only grow and are never reused, even after Prune.
	bucketJobs = []byte("jobs")
	// state: state(1)|id -> empty, for every Parked or Skipped job and no
	// other (State.indexed): the states an admin lists.
	bucketState = []byte("state")
	// due: lane(1)|dueTime(NextAttempt)|id -> empty, for every Active job
	// and no other job. The lane is the job's Lane.
	bucketDue = []byte("due")
	// ended: endTime(Updated)|id -> empty, for every Done or Skipped job and
	// no other job: the retention index Prune walks.
	bucketEnded = []byte("ended")
	// counts: state(1) -> number of jobs in that state.
	bucketCounts = []byte("counts")
	// seen: source NUL path -> size|nanos(ModTime)|id: the latest version
	// known of the file and the job made for it. Entries are never deleted,
	// so a pruned file is never uploaded again; the id may name a pruned job.
	bucketSeen = []byte("seen")
	// gates: name -> gate record (record.go).
	bucketGates = []byte("gates")
	// children: parent(8)|id -> empty, for every job whose Parent is not 0
	// and no other job, whether the parent exists or not: a pruned parent's
	// children keep their entries until they are pruned themselves (see
	// Prune). Since schema 2.
	bucketChildren = []byte("children")

	// bucketsV1 are the buckets of schema 1, allBuckets those of this one.
	bucketsV1  = [][]byte{bucketMeta, bucketJobs, bucketState, bucketDue, bucketEnded, bucketCounts, bucketSeen, bucketGates}
	allBuckets = append(bucketsV1[:len(bucketsV1):len(bucketsV1)], bucketChildren)

	keySchema = []byte("schema")
)

// Options configure Open.
type Options struct {
	Timeout  time.Duration    // how long to wait for the file lock; default 1s
	ReadOnly bool             // for `vela-agent status` when no agent runs
	Now      func() time.Time // injected clock; default time.Now
}

// ErrLocked is wrapped by the error Open returns when another process holds
// the state file.
var ErrLocked = errors.New("state file locked")

// ErrNotFound is wrapped by the errors about a job that does not exist.
var ErrNotFound = errors.New("not found")

// lockedError says which state directory is in use and what to do.
type lockedError struct{ dir string }

func (e *lockedError) Error() string {
	return fmt.Sprintf("the state directory %s is in use by another vela-agent process (stop it first, or point state_dir elsewhere)", e.dir)
}

func (e *lockedError) Unwrap() error { return ErrLocked }

// Store is the job queue. Its methods are safe for concurrent use.
type Store struct {
	// db is the open state file. Every use of it holds dbMu for reading
	// for the length of its transaction (viewTx, write); Compact holds
	// dbMu for writing while it puts a new file and handle in its place,
	// and Close while it closes it. Never take dbMu for reading twice in
	// one goroutine: a Compact waiting in between would deadlock.
	db   *bolt.DB
	dbMu sync.RWMutex
	// writeMu is held for reading by every write transaction (write) and
	// for writing by Compact, from the start of its copy to the end of its
	// swap, so that no commit lands in the old file after the copy; and by
	// Close. Take it before dbMu.
	writeMu sync.RWMutex
	closed  bool // set by Close; guarded by writeMu and dbMu, both held to set it

	path     string
	now      func() time.Time
	readOnly bool
	timeout  time.Duration // Options.Timeout, for the files Compact opens

	// mu guards claimed. Claim, NextDue, Add, Requeue and Prune hold it
	// across their whole transaction, so the claims they see cannot change
	// under them: a job is either claimed, and then written only by its
	// claimer through Save and Release, or unclaimed, and then written only
	// under mu.
	mu sync.Mutex
	// claimed holds the ids of the jobs handed out by Claim and not yet
	// released. Claims live in memory only, never in the file: bbolt's
	// exclusive file lock admits one process per state file, and the lock
	// dies with the process, so after a crash nothing persisted can be left
	// claimed. That is the whole of the "reclaim at start-up".
	claimed map[uint64]struct{}

	commit committer // shares transactions among Saves and Releases
	stats  stats     // counters for Stats; atomic, so guarded by nothing
}

// Open opens the state file at path, creating it (mode 0600) and its
// directory (mode 0700) on a new install. It fails after o.Timeout with an
// error wrapping ErrLocked if another process has the file open for
// writing, and refuses a file written by a newer schema. It migrates a
// file of an older schema in place, in one transaction, unless o.ReadOnly.
//
// Open tells a new install from a lost state by a marker file next to the
// state file (see markerSuffix): it refuses, with an error wrapping
// ErrLostState, a state file that is empty, or missing where the marker says
// one existed, rather than start afresh and upload every file again. It
// checks an existing file before bbolt maps it (see inspect) and refuses,
// with an error wrapping ErrDamaged, one that is cut short, has no valid meta
// page, or has a damaged page among those it reads. Every such error names
// the file and says what to do.
//
// With o.ReadOnly, Open takes a shared lock, creates nothing (not even the
// marker) and fails if the file does not exist; methods that write return an
// error.
func Open(path string, o Options) (*Store, error) {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("open state file %s: %w", path, err)
		}
	}
	exists, marked, err := lostState(path)
	if err != nil {
		return nil, err
	}
	if !exists && o.ReadOnly {
		return nil, fmt.Errorf("open state file %s: %w", path, fs.ErrNotExist)
	}
	var db *bolt.DB
	if exists {
		ro, err := inspect(path, o)
		if err != nil {
			return nil, err
		}
		if o.ReadOnly {
			db = ro
		} else if err := ro.Close(); err != nil {
			return nil, fmt.Errorf("open state file %s: %w", path, err)
		}
	}
	if db == nil {
		if db, err = openBolt(path, o, nil); err != nil {
			return nil, err
		}
		// Holding the lock, this process is the only one that can be
		// compacting: a copy left by a Compact that did not finish is
		// never used (see Compact).
		if err := removeCompactCopy(path); err != nil {
			db.Close()
			return nil, err
		}
	}
	s, err := newStore(db, path, o)
	if err != nil {
		return nil, err
	}
	if !o.ReadOnly && !marked {
		if err := writeMarker(path, o.Now()); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// openBolt opens the bbolt file at path for writing, with openFile, if
// set, to open the file.
func openBolt(path string, o Options, openFile func(string, int, os.FileMode) (*os.File, error)) (*bolt.DB, error) {
	db, err := openLocked(path, writeOptions(openFile), o.Timeout)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, &lockedError{dir: filepath.Dir(path)}
	}
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	return db, nil
}

// writeOptions are the bbolt options of a state file open for writing,
// with openFile, if set, to open the file.
func writeOptions(openFile func(string, int, os.FileMode) (*os.File, error)) bolt.Options {
	return bolt.Options{
		// The hashmap freelist allocates in constant time however
		// fragmented a large file becomes after pruning.
		FreelistType: bolt.FreelistMapType,
		OpenFile:     openFile,
	}
}

// openLocked is bolt.Open of the file at path with the options bo, but
// for their Timeout: it waits up to timeout for the file's lock, and makes
// sure that the file it locked is still the one at path. A process that
// waits for the lock while the holder compacts the file (see
// [Store.Compact]) gets it when the holder closes the old file, which by
// then is in no directory any more, while the holder keeps the lock of the
// new one: openLocked then opens path again, to wait for that lock in
// turn, until timeout has passed (bbolt's ErrTimeout). A file gone from
// path meanwhile is an error: opened for writing, path would be created
// empty.
func openLocked(path string, bo bolt.Options, timeout time.Duration) (*bolt.DB, error) {
	openFile := bo.OpenFile
	if openFile == nil {
		openFile = os.OpenFile
	}
	deadline := time.Now().Add(timeout)
	for {
		var f *os.File
		bo.Timeout = max(time.Until(deadline), time.Millisecond) // 0 would wait for ever
		bo.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
			file, err := openFile(name, flag, perm)
			f = file
			return file, err
		}
		db, err := bolt.Open(path, 0o600, &bo)
		if err != nil {
			return nil, err
		}
		locked, err := f.Stat()
		if err != nil {
			db.Close()
			return nil, err
		}
		now, err := os.Stat(path)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("the file was moved away while this process waited for its lock: %w", err)
		}
		if os.SameFile(locked, now) {
			return db, nil
		}
		db.Close()
		if !time.Now().Before(deadline) {
			return nil, bolterrors.ErrTimeout
		}
	}
}

// newStore makes the Store of db, the state file at path, checking its
// schema and creating the buckets of a new file. It closes db if it fails.
func newStore(db *bolt.DB, path string, o Options) (*Store, error) {
	s := &Store{
		db:       db,
		path:     path,
		now:      o.Now,
		readOnly: o.ReadOnly,
		timeout:  o.Timeout,
		claimed:  make(map[uint64]struct{}),
		commit:   committer{hurry: make(chan struct{}, 1)},
	}
	if err := s.initSchema(); err != nil {
		db.Close()
		if errors.Is(err, ErrDamaged) {
			return nil, err
		}
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	return s, nil
}

// initSchema checks the schema of the file, creates the buckets of a new
// one and migrates an old one. It writes only to a new or old file, so
// opening a current one costs no fsync. A bbolt panic or memory fault on a
// damaged page it reads is returned as an error wrapping ErrDamaged.
func (s *Store) initSchema() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &damagedError{path: s.path, err: fmt.Errorf("%v", r)}
		}
	}()
	var fresh bool
	schema := uint64(schemaVersion)
	err = s.viewTx(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return errors.New("not a vela-agent state file (no schema version)")
			}
			fresh = true
			return nil
		}
		v := meta.Get(keySchema)
		if len(v) != 8 {
			return fmt.Errorf("%w: schema version of %d bytes", ErrCorrupt, len(v))
		}
		buckets := allBuckets
		switch n := binary.BigEndian.Uint64(v); {
		case n > schemaVersion:
			return fmt.Errorf("written by a newer vela-agent: schema %d, this build knows %d", n, schemaVersion)
		case n == 1:
			// Read-only, it stays so: without the children index, which
			// the children queries and Check then do without.
			schema, buckets = 1, bucketsV1
		case n < schemaVersion:
			return fmt.Errorf("unknown schema %d, this build knows %d", n, schemaVersion)
		}
		return hasBuckets(tx, buckets)
	})
	switch {
	case err != nil:
		return err
	case fresh && s.readOnly:
		return errors.New("the state file is empty: no agent has run with it yet")
	case fresh:
		return s.write(func(tx *bolt.Tx) (int, error) {
			for _, name := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return 0, fmt.Errorf("create bucket %q: %w", name, err)
				}
			}
			return 0, tx.Bucket(bucketMeta).Put(keySchema, u64(schemaVersion))
		})
	case schema == 1 && !s.readOnly:
		if err := s.write(migrateV1); err != nil {
			return fmt.Errorf("migrate from schema 1 to %d: %w", schemaVersion, err)
		}
	}
	return nil
}

// hasBuckets reports a missing bucket of those named.
func hasBuckets(tx *bolt.Tx, names [][]byte) error {
	for _, name := range names {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("%w: bucket %q missing", ErrCorrupt, name)
		}
	}
	return nil
}

// migrateV1 takes a file of schema 1 to schema 2 in one transaction: it
// creates the children index, with an entry for every job that has a
// parent, and writes the schema version. The job records stay as they
// are: records of version 1 read back in their kind's lane, where schema 1
// kept them, so the due index is already right. It reads every job, once.
func migrateV1(tx *bolt.Tx) (int, error) {
	if err := hasBuckets(tx, bucketsV1); err != nil {
		return 0, err
	}
	if tx.Bucket(bucketChildren) != nil {
		// Schema 1 has no such bucket; should one be there anyway, it is
		// rebuilt from scratch.
		if err := tx.DeleteBucket(bucketChildren); err != nil {
			return 0, err
		}
	}
	children, err := tx.CreateBucket(bucketChildren)
	if err != nil {
		return 0, fmt.Errorf("create bucket %q: %w", bucketChildren, err)
	}
	err = tx.Bucket(bucketJobs).ForEach(func(k, v []byte) error {
		if len(k) != 8 {
			return fmt.Errorf("%w: job key of %d bytes", ErrCorrupt, len(k))
		}
		id := binary.BigEndian.Uint64(k)
		j, err := decodeJob(id, v)
		if err != nil {
			return fmt.Errorf("job %d: %w (see `vela-agent state check`)", id, err)
		}
		if j.Parent == 0 {
			return nil
		}
		return children.Put(childKey(j.Parent, id), nil)
	})
	if err != nil {
		return 0, err
	}
	return 0, tx.Bucket(bucketMeta).Put(keySchema, u64(schemaVersion))
}

// Close closes the state file. Claims end with it. It waits for the
// transactions under way, and for a Compact to finish.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state file %s: %w", s.path, err)
	}
	return nil
}

// viewTx runs fn in a read transaction of the state file. Every read of
// the store goes through viewTx.
func (s *Store) viewTx(fn func(tx *bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(fn)
}

// Path returns the path of the state file.
func (s *Store) Path() string { return s.path }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }
