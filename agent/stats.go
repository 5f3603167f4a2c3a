package agent

import (
	"errors"
	"sync/atomic"

	"github.com/vela-agent/vela-agent/agent/upload"
	"github.com/vela-agent/vela-agent/agent/vela"
	"github.com/vela-agent/vela-agent/store"
	"github.com/vela-agent/vela-agent/watcher"
)

// Why a job was tried again: the causes Stats counts retries by.
const (
	CausePresign  = "presign"  // the Vela API failed transiently
	CauseUpload   = "upload"   // the upload service failed transiently
	CauseFile     = "file"     // the file could not be read
	CauseCommit   = "commit"   // the state file could not be written
	CauseOrphaned = "orphaned" // the job's source is not configured
	CauseOther    = "other"
)

var causes = [...]string{CausePresign, CauseUpload, CauseFile, CauseCommit, CauseOrphaned, CauseOther}

// retries counts retries by cause, lock-free.
type retries [len(causes)]atomic.Uint64

func (r *retries) count(cause string) {
	for i, c := range causes {
		if c == cause {
			r[i].Add(1)
			return
		}
	}
	r[len(causes)-1].Add(1)
}

// retryCause names the cause of a transient failure.
func retryCause(err error) string {
	var (
		fe fileError
		ve *vela.Error
		ue *upload.Error
	)
	switch {
	case errors.As(err, &fe):
		return CauseFile
	case errors.Is(err, errCommit):
		return CauseCommit
	case errors.As(err, &ve):
		return CausePresign
	case errors.As(err, &ue):
		return CauseUpload
	}
	return CauseOther
}

// Stats are the agent's figures for monitoring (a /metrics page reads
// them; nothing here is computed for it). Counters only grow.
type Stats struct {
	Retries map[string]uint64        // by cause (Cause*)
	Pacers  map[string]PacerStats    // by remote: "api", "upload"
	Sources map[string]watcher.Stats // by source name
	Workers struct{ Want, Live int } // upload workers
	Locals  struct{ Want, Live int } // local workers (downloads, ZIPs, post-actions)
	Store   store.Stats              // the state file's commits, batches and their time
	// StateWriteFailing is true while the state file cannot be written.
	StateWriteFailing bool
}

// Stats returns the agent's figures now.
func (a *Agent) Stats() Stats {
	st := Stats{
		Retries: make(map[string]uint64, len(causes)),
		Pacers:  map[string]PacerStats{"api": a.apiPace.Stats(), "upload": a.upPace.Stats()},
		Sources: map[string]watcher.Stats{},
	}
	for i, c := range causes {
		st.Retries[c] = a.retries[i].Load()
	}
	for _, r := range a.sources.configured() {
		st.Sources[r.cfg.Name] = r.src.Stats()
	}
	st.Workers.Want, st.Workers.Live = a.workers.size()
	st.Locals.Want, st.Locals.Live = a.locals.size()
	st.Store = a.store.Stats()
	st.StateWriteFailing = a.health.broken()
	return st
}
