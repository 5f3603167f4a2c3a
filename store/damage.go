package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged is wrapped by the error Open returns for a state file that
// cannot be read safely: cut short, with invalid meta pages, or with a
// damaged page. Salvage copies what is readable out of such a file.
var ErrDamaged = errors.New("state file damaged")

// ErrLostState is wrapped by the error Open returns when the state file is
// missing or empty although the state directory has held one: starting
// afresh would upload every file again. Reset starts afresh on purpose.
var ErrLostState = errors.New("state file lost")

// damagedError names the damaged file, says what is wrong and what to do.
type damagedError struct {
	path string
	err  error
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("the state file %s is damaged (%v): stop the agent, see `vela-agent state check`, "+
		"then run `vela-agent state salvage` to copy what is readable into a new state file, or restore a backup", e.path, e.err)
}

func (e *damagedError) Unwrap() []error { return []error{ErrDamaged, e.err} }

// lostError says that the state file is missing or empty though the state
// directory has held one, and what to do.
type lostError struct {
	path  string
	empty bool      // the file exists and is empty; otherwise it is missing
	since time.Time // when the marker was written; zero without one
}

func (e *lostError) Error() string {
	what := "is missing"
	if e.empty {
		what = "is empty"
	}
	if !e.since.IsZero() {
		what += fmt.Sprintf(", but this state directory has held one since %s", e.since.Format(time.DateOnly))
	}
	return fmt.Sprintf("the state file %s %s: restore it from a backup, or run `vela-agent state reset` "+
		"(or `vela-agent run --accept-new-state`) to start with a new one, which treats every file in the sources as new and uploads it again", e.path, what)
}

func (e *lostError) Unwrap() error { return ErrLostState }

// The marker is a small file next to the state file, written once the state
// file has been created (or, for a state file made before markers existed,
// the first time it is opened for writing). It tells a new install from a
// lost state:
//
//	no marker, no state file:      a new install; Open creates both
//	no marker, a good state file:  made by an older build; Open adds the marker
//	marker, no state file:         lost; Open refuses
//	an empty state file:           lost, marker or not; Open refuses
//
// An empty state file is never new: bbolt writes its first pages as it
// creates the file, so only a crash within that first moment, or a
// truncation, leaves one empty.
const markerSuffix = ".created"

// markerPath is the path of the marker of the state file at path.
func markerPath(path string) string { return path + markerSuffix }

// markerTime returns when the marker of path was written, and whether it
// exists.
func markerTime(path string) (time.Time, bool, error) {
	fi, err := os.Stat(markerPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read the marker of %s: %w", path, err)
	}
	return fi.ModTime(), true, nil
}

// writeMarker writes the marker of path, atomically and durably.
func writeMarker(path string, now time.Time) error {
	text := fmt.Sprintf("vela-agent created the state file %s here on %s.\n"+
		"While this file exists, a missing or empty %[1]s is a lost state, not a new install:\n"+
		"vela-agent then refuses to start rather than upload every file again (see `vela-agent state --help`).\n",
		filepath.Base(path), now.UTC().Format(time.RFC3339))
	if err := writeFileSync(markerPath(path), []byte(text)); err != nil {
		return fmt.Errorf("write the marker of %s: %w", path, err)
	}
	return nil
}

// writeFileSync writes data to path through a synced temporary file and a
// rename, then syncs the directory.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// verifyLimit is the largest state file Open verifies page by page; a
// larger one gets its meta pages, freelist and the root page of each bucket
// checked, and `vela-agent state check` verifies the rest. Some 60,000
// jobs fit in it; verifying takes about a millisecond per MiB.
var verifyLimit int64 = 32 << 20

// inspect checks the state file at path before bbolt maps it, so that a
// damaged file is an error rather than a fault or a panic. It holds bbolt's
// shared lock while it reads, which keeps a writer out, and returns the
// read-only bbolt handle that holds it. A read-only bbolt.Open reads only
// the meta pages, with ReadAt and a size check of its own: it is safe on any
// file.
func inspect(path string, o Options) (*bolt.DB, error) {
	db, err := openLocked(path, bolt.Options{ReadOnly: true}, o.Timeout)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, &lockedError{dir: filepath.Dir(path)}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	// Any other error came after bbolt held the lock: the file is unusable,
	// and verify says why in our words.
	boltErr := err
	if err := verifyPath(path, false); err != nil {
		if db != nil {
			db.Close()
		}
		return nil, err
	}
	if boltErr != nil {
		return nil, &damagedError{path: path, err: boltErr}
	}
	return db, nil
}

// verifyPath checks the bbolt structure of the file at path: always its
// meta pages, size and freelist, and every page if full is set or the file
// is at most verifyLimit bytes. The error wraps ErrDamaged and names the
// file.
func verifyPath(path string, full bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open state file %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open state file %s: %w", path, err)
	}
	if _, err := verify(f, fi.Size(), full || fi.Size() <= verifyLimit); err != nil {
		return &damagedError{path: path, err: err}
	}
	return nil
}

// fileInfo is what verify learnt of a file that passed.
type fileInfo struct {
	pages    uint64 // pages in use or free (the high water mark)
	reached  int    // pages reached from the root
	free     int    // pages on the freelist
	warnings []string
}

// verify checks the bbolt file r of size bytes: the meta pages, the size
// they call for, the freelist and the tree of buckets. With full it reads
// every page of every tree and checks that each is referenced once, that the
// keys are in order, and that no page is both reached and free; otherwise it
// reads the root page of each bucket only.
func verify(r io.ReaderAt, size int64, full bool) (*fileInfo, error) {
	pf, err := readPageFile(r, size)
	if err != nil {
		return nil, err
	}
	if pf.short != nil {
		return nil, pf.short
	}
	info := &fileInfo{pages: pf.meta.pgid}
	for i, err := range pf.metaErr {
		if err != nil {
			info.warnings = append(info.warnings, fmt.Sprintf("meta page %d is not valid (%v): bbolt uses the other one, and its next commit rewrites this one", i, err))
		}
	}
	w := newWalker(pf, func(b *badPage) error { return b })
	var free []uint64
	if pf.meta.freelist != noFreelist {
		p, err := pf.page(pf.meta.freelist)
		if err == nil {
			free, err = p.freelist()
		}
		if err != nil {
			return nil, fmt.Errorf("freelist: %w", err)
		}
		for _, id := range free {
			if id < 2 || id >= pf.meta.pgid {
				return nil, fmt.Errorf("freelist: page %d outside the pages in use (2..%d)", id, pf.meta.pgid-1)
			}
		}
		for i := uint64(0); i < uint64(len(p.buf))/uint64(pf.pageSize); i++ {
			w.visited[pf.meta.freelist+i] = true
		}
	}
	root := make([]byte, bucketHeader)
	ne.PutUint64(root, pf.meta.root)
	err = w.tree("(root)", root, func(flags uint32, k, v []byte) error {
		if flags&leafIsBucket == 0 {
			return nil // Open reports a key outside any bucket
		}
		if !full {
			w.depth = 0
			defer func() { w.depth = -1 }()
		}
		return w.tree(string(k), v, func(uint32, []byte, []byte) error { return nil })
	})
	if err != nil {
		return nil, err
	}
	info.reached = len(w.visited) + 2 // and the two meta pages
	info.free = len(free)
	if full {
		seen := make(map[uint64]bool, len(free))
		for _, id := range free {
			if seen[id] {
				return nil, fmt.Errorf("freelist: page %d listed twice", id)
			}
			seen[id] = true
			if w.visited[id] && id != pf.meta.freelist {
				return nil, fmt.Errorf("page %d is in use and on the freelist", id)
			}
		}
	}
	return info, nil
}

// syncDir makes the renames in dir durable. Windows cannot sync a
// directory; NTFS journals renames itself.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// lostState looks at the state file at path and its marker. It returns an
// error wrapping ErrLostState if the file is empty, or missing while the
// marker exists; otherwise whether the file and the marker exist.
func lostState(path string) (exists, marked bool, err error) {
	since, marked, err := markerTime(path)
	if err != nil {
		return false, false, err
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if marked {
			return false, true, &lostError{path: path, since: since}
		}
		return false, false, nil
	case err != nil:
		return false, marked, fmt.Errorf("open state file %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return false, marked, fmt.Errorf("open state file %s: not a regular file", path)
	case fi.Size() == 0:
		return true, marked, &lostError{path: path, empty: true, since: since}
	}
	return true, marked, nil
}
