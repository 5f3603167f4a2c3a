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
