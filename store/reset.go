package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Reset starts the state file at path afresh, on purpose: it moves an
// existing file aside as path.reset-TIME (an empty one is removed), creates
// a new, empty state file and writes its marker. Every file in the sources
// is new to the agent afterwards, and is uploaded again. It returns where
// the old file went, "" if there was none. It fails with an error wrapping
// ErrLocked while an agent has the file open.
func Reset(path string, o Options) (aside string, err error) {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("reset state file %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return "", fmt.Errorf("reset state file %s: %w", path, err)
	case fi.Size() == 0:
		if err := os.Remove(path); err != nil {
			return "", fmt.Errorf("reset state file %s: %w", path, err)
		}
	default:
		// Take bbolt's lock, to find out whether an agent runs on the
		// file; one that bbolt cannot read no agent can have open.
		db, err := openLocked(path, bolt.Options{ReadOnly: true}, o.Timeout)
		if errors.Is(err, bolterrors.ErrTimeout) {
			return "", &lockedError{dir: filepath.Dir(path)}
		}
		if db != nil {
			db.Close()
		}
		aside = freeName(path, "reset", o.Now())
		if err := os.Rename(path, aside); err != nil {
			return "", fmt.Errorf("reset state file %s: %w", path, err)
		}
	}
	s, err := createStore(path, o)
	if err != nil {
		return aside, fmt.Errorf("reset state file %s: %w", path, err)
	}
	if err := s.Close(); err != nil {
		return aside, err
	}
	if err := writeMarker(path, o.Now()); err != nil {
		return aside, err
	}
	return aside, syncDir(filepath.Dir(path))
}

// AcceptNewState is `vela-agent run --accept-new-state`: if Open would
// refuse the state file at path as lost (ErrLostState), it resets it as
// Reset does and reports true; otherwise it changes nothing and reports
// false. A damaged file is not lost, and is left for Salvage (or Reset).
func AcceptNewState(path string, o Options) (bool, error) {
	if _, _, err := lostState(path); !errors.Is(err, ErrLostState) {
		return false, nil // Open reports any other error
	}
	if _, err := Reset(path, o); err != nil {
		return false, err
	}
	return true, nil
}

// freeName returns a name next to path for a file of the given kind, such
// as queue.db.damaged-20250301-120000, that no file has yet.
func freeName(path, kind string, now time.Time) string {
	base := path + "." + kind + "-" + now.UTC().Format("20060102-150405")
	name := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}

// createStore creates a new, empty state file at path, which must not
// exist. It writes no marker.
func createStore(path string, o Options) (*Store, error) {
	db, err := openBolt(path, o, func(name string, flag int, perm os.FileMode) (*os.File, error) {
		return os.OpenFile(name, flag|os.O_CREATE|os.O_EXCL, perm)
	})
	if err != nil {
		return nil, err
	}
	return newStore(db, path, o)
}
