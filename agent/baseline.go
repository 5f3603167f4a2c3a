package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/store"
	"github.com/vela-agent/vela-agent/watcher"
)

// BaselineReason is why a file recorded by Baseline is not uploaded.
const BaselineReason = "present when `vela-agent baseline` ran: recorded, not uploaded"

// BaselineReport says what Baseline recorded.
type BaselineReport struct {
	Source string
	Files  int // files of the source the walk found
	Added  int // recorded now, so not uploaded
	Known  int // already known (queued, uploaded or recorded before)
	Took   time.Duration
}

// baselineBatch is how many files one transaction records.
const baselineBatch = 5000

// Baseline records every file the local source holds now as seen, without
// uploading it: installing on an archive of years of recordings does not
// upload (and pay for) them all. Files added or changed later are uploaded
// as usual. It walks the folder as the watcher does (include, exclude,
// recursive; no link followed) and writes in batches; progress, if set, is
// told the files found so far. The queue must not be read-only, so no agent
// may run on it.
func (q *Queue) Baseline(cfg *config.Config, source string, progress func(files int)) (*BaselineReport, error) {
	sc, ok := cfg.Source(source)
	switch {
	case !ok:
		return nil, fmt.Errorf("baseline: no source %q in %s", source, cfg.File)
	case sc.IsFTP():
		return nil, fmt.Errorf("baseline: source %s is an FTP source; use sources[].ignore_older for it", source)
	}
	filter, err := watcher.NewFilter(sc.Include, sc.Exclude)
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", source, err)
	}
	start := time.Now()
	rep := &BaselineReport{Source: source}
	batch := make([]store.Found, 0, baselineBatch)
	flush := func() error {
		n, err := q.s.Add(batch)
		if err != nil {
			return fmt.Errorf("baseline %s: record files: %w", source, err)
		}
		rep.Added += n
		rep.Known += len(batch) - n
		batch = batch[:0]
		if progress != nil {
			progress(rep.Files)
		}
		return nil
	}
	err = filepath.WalkDir(sc.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == sc.Path {
				return err
			}
			return nil // an unreadable folder: its files are uploaded when found
		}
		rel, rerr := filepath.Rel(sc.Path, p)
		if rerr != nil || rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && (!sc.Recurse() || !filter.Dir(rel)):
			return filepath.SkipDir
		case d.IsDir(), !d.Type().IsRegular(), !filter.File(rel):
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rep.Files++
		batch = append(batch, store.Found{Source: source, Path: rel, Size: fi.Size(), ModTime: fi.ModTime(),
			Kind: kindOf(sc, rel), Skip: BaselineReason})
		if len(batch) == baselineBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("baseline %s: the folder %s does not exist", source, sc.Path)
	}
	if err != nil {
		return nil, err
	}
	rep.Took = time.Since(start)
	return rep, nil
}
