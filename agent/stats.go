package agent

import (
	"errors"
	"strings"
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

// Classes of the reasons jobs are parked or skipped for, as Stats counts
// them: a small fixed set, for labels.
const (
	ReasonTooLarge   = "too_large"  // over upload.max_file_size
	ReasonUnreadable = "unreadable" // the file could not be read
	ReasonRefused    = "refused"    // Vela or the storage refused it for good
	ReasonGone       = "gone"       // the file no longer exists
	ReasonChanged    = "changed"    // a new version of the file is queued instead
	ReasonEmpty      = "empty"      // an empty file
	ReasonLink       = "link"       // the file or a folder above it is a link, or not a regular file
	ReasonForgotten  = "forgotten"  // an admin said so
	ReasonOther      = "other"
)

var reasonClasses = [...]string{ReasonTooLarge, ReasonUnreadable, ReasonRefused, ReasonGone, ReasonChanged, ReasonEmpty, ReasonLink, ReasonForgotten, ReasonOther}

// reasonClass sorts a parked or skipped job's reason into its class.
func reasonClass(reason string) string {
	switch r := strings.ToLower(reason); {
	case strings.Contains(r, "max_file_size"):
		return ReasonTooLarge
	case strings.Contains(r, "cannot read"):
		return ReasonUnreadable
	case strings.Contains(r, "no longer exists"):
		return ReasonGone
	case strings.Contains(r, "changed"):
		return ReasonChanged
	case strings.Contains(r, "empty file"):
		return ReasonEmpty
	case strings.Contains(r, "symbolic link"), strings.Contains(r, "not a regular file"):
		return ReasonLink
	case strings.Contains(r, "forgotten"):
		return ReasonForgotten
	case strings.HasPrefix(r, "presign "), strings.HasPrefix(r, "upload "), strings.Contains(r, "refused"):
		return ReasonRefused
	}
	return ReasonOther
}

// outcomes counts jobs parked and skipped since start, by reason class.
type outcomes struct {
	parked, skipped [len(reasonClasses)]atomic.Uint64
}

func (o *outcomes) count(parked bool, reason string) {
	c := reasonClass(reason)
	for i, rc := range reasonClasses {
		if rc == c {
			if parked {
				o.parked[i].Add(1)
			} else {
				o.skipped[i].Add(1)
			}
			return
		}
	}
}

// Stats are the agent's figures for monitoring (a /metrics page reads
// them; nothing here is computed for it). Counters only grow.
type Stats struct {
	Retries map[string]uint64        // by cause (Cause*)
	Parked  map[string]uint64        // jobs parked since start, by reason class (Reason*)
	Skipped map[string]uint64        // jobs skipped since start, by reason class
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
	st.Parked, st.Skipped = map[string]uint64{}, map[string]uint64{}
	for i, rc := range reasonClasses {
		st.Parked[rc] = a.outcomes.parked[i].Load()
		st.Skipped[rc] = a.outcomes.skipped[i].Load()
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
