package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vela-agent/vela-agent/store"
)

// The spool holds the local copies of remote files (state_dir/spool/
// SOURCE/ID.EXT, with ID.EXT.part while downloading): a copy lives from its
// job's stage step until the job is done, skipped or pruned.

// spoolPath is where the job's staged copy goes.
func spoolPath(stateDir string, j *store.Job) string {
	return filepath.Join(stateDir, "spool", j.Source, fmt.Sprintf("%d%s", j.ID, strings.ToLower(path.Ext(j.Path))))
}

// dropSpool removes the job's spool copy, if it has one; the job keeps
// the path, for the record.
func (a *Agent) dropSpool(j *store.Job) {
	if j.Spool == "" {
		return
	}
	for _, p := range []string{j.Spool, j.Spool + ".part"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.log.Warn("remove a spool copy", "file", p, "err", err)
		}
	}
}

// cleanSpool removes, at start-up, every spool file that no unfinished job
// points at: copies left by jobs finished, pruned or superseded while the
// agent was down, and partial downloads of them. It returns how many.
func (a *Agent) cleanSpool(stateDir string) int {
	root := filepath.Join(stateDir, "spool")
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		base := strings.TrimSuffix(d.Name(), ".part")
		id, perr := strconv.ParseUint(strings.TrimSuffix(base, filepath.Ext(base)), 10, 64)
		keep := false
		if perr == nil {
			j, err := a.store.Get(id)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				keep = true // unsure: keep it
			default:
				keep = j.State.Active() && (j.Spool == "" || j.Spool == filepath.Join(filepath.Dir(p), base))
			}
		}
		if !keep && os.Remove(p) == nil {
			n++
		}
		return nil
	})
	return n
}

// spoolReserve is the space a download leaves free in the spool's file
// system, for the state file and everything else on it.
var spoolReserve uint64 = 64 << 20

// spoolFull: the spool has no room for this download. The job waits, not
// counted as a failure, and its source shows the problem until a download
// fits again.
type spoolFull struct {
	source     string
	need, free uint64
	err        error // the write that failed, if that is how it was found
}

func (e spoolFull) Error() string {
	if e.err != nil {
		return fmt.Sprintf("the spool is full: %v", e.err)
	}
	return fmt.Sprintf("the spool has %.1f MB free, a download needs %.1f MB (with %.1f MB kept free)", mb(e.free), mb(e.need), mb(spoolReserve))
}

func mb(n uint64) float64 { return float64(n) / 1e6 }

// spoolRecheck is how often a download waiting for room is tried again.
var spoolRecheck = 30 * time.Second

// roomFor checks that the spool's file system has room for size bytes.
func roomFor(dir, source string, size int64) error {
	free, err := freeBytes(dir)
	if err != nil {
		return nil // cannot tell: let the download find out
	}
	if need := uint64(size) + spoolReserve; free < need {
		return spoolFull{source: source, need: need, free: free}
	}
	return nil
}

// spoolProblems is what status shows for sources whose downloads wait for
// room in the spool.
type spoolProblems struct {
	mu sync.Mutex        // guards m
	m  map[string]string // source -> problem
}

func (p *spoolProblems) set(source, problem string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[source] = problem
}

func (p *spoolProblems) clear(source string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, source)
}

func (p *spoolProblems) get(source string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.m[source]
}
