package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bbolt never gives a file's pages back to the file system: pages freed by
// Prune, and the room left in pages by splits (see fillPercent), stay in the
// file and are reused by later commits. Compact writes the live data into a
// new file, every page filled, and puts it in the old one's place.

// compactSuffix names the copy Compact writes next to the state file, and
// that Open removes if a Compact did not finish.
const compactSuffix = ".compact"

// The thresholds of NeedsCompact: the file is at least compactRatio times
// its live data, and that leaves at least compactMinFree bytes to win.
// Package variables so that tests can change them.
var (
	compactRatio   int64 = 2
	compactMinFree int64 = 64 << 20
)

// compactTxBytes is how many bytes of keys and values Compact writes to the
// copy per transaction, so that its memory stays bounded whatever the size
// of the file.
var compactTxBytes = 8 << 20

// compactSupported reports whether Compact can replace the state file
// while it is open. Windows refuses to replace a file another handle has
// open, and this process must keep the old one open, and locked, until
// the new one is in its place.
var compactSupported = runtime.GOOS != "windows"

// compactStep, when set, is called by Compact as it reaches each of its
// steps, named: the kill test prints them for its parent.
var compactStep func(step string)

func compactReached(name string) {
	if compactStep != nil {
		compactStep(name)
	}
}

// Space is how the state file uses its bytes.
type Space struct {
	// File is the size of the state file.
	File int64
	// Live is the bytes of the data: keys, values and the headers of the
	// pages that hold them. A compacted file is a little larger (its last
	// pages are not full, and bbolt grows files in steps).
	Live int64
	// Free is the bytes of the pages on bbolt's freelist, freed by deletes
	// and earlier commits and kept for later ones. The rest of File less
	// Live is room left in pages that are not full.
	Free int64
}

// Space measures the state file. It reads every page of every bucket,
// some 50 ms for a million jobs, in a read transaction, which delays no
// other method, then lets go of the pages it read (Trim).
func (s *Store) Space() (Space, error) {
	var sp Space
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	err := s.db.View(func(tx *bolt.Tx) error {
		// As of the last commit, pages freed by it included.
		sp.Free = int64(s.db.Stats().FreeAlloc)
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			st := b.Stats()
			sp.Live += int64(st.BranchInuse + st.LeafInuse + st.InlineBucketInuse)
			return nil
		})
	})
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(s.path); err == nil {
			sp.File = fi.Size()
		}
		s.Trim() // the walk mapped every page; a failure to let go costs only memory
	}
	if err != nil {
		return Space{}, fmt.Errorf("measure the state file %s: %w", s.path, err)
	}
	return sp, nil
}

// NeedsCompact reports whether Compact would win much: whether the state
// file is at least twice its live data and that is more than 64 MiB of
// room, as after a Prune of many jobs. It always reports false for a
// store open read-only, and on Windows, where Compact cannot run (see
// Compact).
//
// It reads no page (Space walks them all, and would map the whole file
// into the agent's memory at every start): its Live is the bytes of the
// pages in use, the file's high-water mark less its free pages, an upper
// bound of the live data that is close to it because the store keeps its
// pages full (see putJob and the buckets' fill).
//
// The agent calls it at start and after each Prune, and calls Compact
// when it reports true.
func (s *Store) NeedsCompact() (bool, Space, error) {
	var sp Space
	var used int64
	err := s.viewTx(func(tx *bolt.Tx) error {
		sp.Free = int64(s.db.Stats().FreeAlloc)
		used = tx.Size()
		return nil
	})
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Stat(s.path)
	}
	if err != nil {
		return false, sp, fmt.Errorf("measure the state file %s: %w", s.path, err)
	}
	sp.File = fi.Size()
	sp.Live = max(used-sp.Free, 0)
	need := compactSupported && !s.readOnly &&
		sp.File >= compactRatio*sp.Live && sp.File-sp.Live >= compactMinFree
	return need, sp, nil
}

// CompactReport says what Compact did.
type CompactReport struct {
	Before, After int64         // size of the state file, in bytes
	Took          time.Duration // from the call to the return, waits included
}

// Compact rewrites the state file with its live data only, every page
// filled, and returns the sizes before and after. Jobs, indexes, counters,
// sequences and gates are copied as they are; claims, which live in
// memory, stay as they are.
//
// It copies the file into a new one next to it (the state file's name
// with compactSuffix), syncs it, renames it over the state file, syncs the
// directory, and then closes the old file: a crash at any moment leaves
// either the old file whole at its path or the new one, and a copy that
// was not renamed is removed by the next Open. While it copies, reads go
// on and every write waits, so that none is lost in the old file (some
// 5 s for a million jobs); while it swaps the files, every method waits.
// The copy needs free disk space about the size of the live data (see
// [Store.Space]). The new file has mode 0600, as Open creates it, and the
// old one's owner (when the process runs as root, which may give it).
//
// The new file is created, and so locked, by this process, which keeps it
// open from then on: the state file's lock passes to no other process at
// any moment. A process that waited for the old file's lock gets it once
// the old file is closed, finds that the file at the path is another one
// and waits for that one's lock in turn (see openLocked). No lock file
// is needed.
//
// ctx stops the copy, which is then removed; once the copy is made, the
// swap takes milliseconds and is not stopped. Compact fails on a store
// open read-only, and on Windows (wrapping errors.ErrUnsupported), which
// cannot replace a file that is open: there, `vela-agent state compact`
// is not available either.
func (s *Store) Compact(ctx context.Context) (CompactReport, error) {
	start := time.Now()
	var rep CompactReport
	fail := func(err error) (CompactReport, error) {
		return rep, fmt.Errorf("compact the state file %s: %w", s.path, err)
	}
	switch {
	case s.readOnly:
		return fail(errors.New("it is open read-only"))
	case !compactSupported:
		return fail(fmt.Errorf("%w on %s", errors.ErrUnsupported, runtime.GOOS))
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return fail(errors.New("the store is closed"))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fail(err)
	}
	rep.Before = fi.Size()

	tmp := s.path + compactSuffix
	if err := removeCompactCopy(s.path); err != nil {
		return fail(err)
	}
	dst, err := openLocked(tmp, writeOptions(createNew), s.timeout)
	if err == nil {
		if err = sameOwner(tmp, fi); err != nil {
			dst.Close()
		}
	}
	if err != nil {
		os.Remove(tmp)
		return fail(fmt.Errorf("create %s: %w", tmp, err))
	}
	compactReached("created")
	// Synced once, at the end: the copy is of no use before it is whole.
	dst.NoSync, dst.NoGrowSync = true, true
	s.dbMu.RLock()
	err = copyLive(ctx, dst, s.db)
	s.dbMu.RUnlock()
	if err == nil {
		compactReached("copied")
		err = dst.Sync()
	}
	if err != nil {
		dst.Close()
		os.Remove(tmp)
		return fail(err)
	}
	dst.NoSync, dst.NoGrowSync = false, false
	compactReached("synced")

	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	if err := os.Rename(tmp, s.path); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fail(err)
	}
	// From here on the new file is the state file: s.db must be it, even if
	// something below fails.
	old := s.db
	s.db = dst
	compactReached("renamed")
	err = syncDir(filepath.Dir(s.path))
	if err != nil {
		// Rare, and not undone: the rename may not survive a power cut,
		// after which the old file comes back, whole, without the
		// commits made to the new one meanwhile.
		err = fmt.Errorf("sync the directory after the rename: %w", err)
	}
	if cerr := old.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close the old file: %w", cerr)
	}
	compactReached("closed")
	if fi, serr := os.Stat(s.path); serr == nil {
		rep.After = fi.Size()
	} else if err == nil {
		err = serr
	}
	rep.Took = time.Since(start)
	if err != nil {
		return fail(err)
	}
	return rep, nil
}

// createNew opens a file that must not exist yet, for bbolt.
func createNew(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag|os.O_CREATE|os.O_EXCL, perm)
}

// removeCompactCopy removes the copy of the state file at path that a
// Compact left, if there is one. Only the holder of the state file's lock
// may call it.
func removeCompactCopy(path string) error {
	err := os.Remove(path + compactSuffix)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the unfinished copy of the state file %s: %w", path, err)
	}
	return nil
}

// copyLive copies every bucket of src, with its sequence, into dst, a new
// file, in transactions of about compactTxBytes, filling every page. The
// state file has no nested buckets; one is refused as corrupt.
func copyLive(ctx context.Context, dst, src *bolt.DB) error {
	return src.View(func(stx *bolt.Tx) error {
		dtx, err := dst.Begin(true)
		if err != nil {
			return err
		}
		defer func() {
			if dtx != nil {
				dtx.Rollback() // after a failure; a no-op after Commit
			}
		}()
		size := 0
		err = stx.ForEach(func(name []byte, sb *bolt.Bucket) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			b, err := dtx.CreateBucket(name)
			if err != nil {
				return fmt.Errorf("create bucket %q: %w", name, err)
			}
			if err := b.SetSequence(sb.Sequence()); err != nil {
				return err
			}
			c := sb.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if v == nil {
					return fmt.Errorf("%w: bucket %q holds a bucket %q", ErrCorrupt, name, k)
				}
				if size >= compactTxBytes {
					if err := ctx.Err(); err != nil {
						return err
					}
					if err := dtx.Commit(); err != nil {
						return err
					}
					if dtx, err = dst.Begin(true); err != nil {
						return err
					}
					b, size = dtx.Bucket(name), 0
				}
				// Keys come in order: full pages, as bbolt advises for
				// appends. Set in each transaction: bbolt does not keep it.
				b.FillPercent = 1.0
				if err := b.Put(k, v); err != nil {
					return fmt.Errorf("copy bucket %q: %w", name, err)
				}
				size += len(k) + len(v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return dtx.Commit()
	})
}
