package agent

// What the admin commands of `vela-agent` need of the state file and of the
// Vela API, so that the command wires the agent without reaching past it:
// signing in, listing and retrying jobs, checking, salvaging, compacting
// and resetting the state file, and reading the status of a stopped agent.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/vela"
	"github.com/vela-agent/vela-agent/store"
)

// Job is one version of one file in the queue, as [Agent.OnRelease] and
// [Agent.Job] give it.
type Job = store.Job

// State is the step a job has reached; its String is the name admins see
// and [ParseState] reads.
type State = store.State

// The final states of a job, which the admin commands tell apart.
const (
	StateDone    = store.Done    // uploaded and finished
	StateParked  = store.Parked  // permanent error: waits for `vela-agent queue retry`
	StateSkipped = store.Skipped // not uploaded by policy
)

// States lists every state in the order of a job's journey, for status
// output. The slice is the caller's.
func States() []State { return slices.Clone(store.States) }

// ParseState returns the state named name, as written by State.String, or an
// error listing the names.
func ParseState(name string) (State, error) { return store.ParseState(name) }

// SalvageReport says what [SalvageState] copied and what it could not.
type SalvageReport = store.SalvageReport

// Errors about the state file, to be checked with errors.Is.
var (
	// ErrLocked: another process (a running agent) holds the state file.
	ErrLocked = store.ErrLocked
	// ErrDamaged: the state file is damaged; `vela-agent state salvage`
	// copies what is readable.
	ErrDamaged = store.ErrDamaged
	// ErrLostState: the state file is empty, or missing where one was;
	// `vela-agent run --accept-new-state` starts a new one.
	ErrLostState = store.ErrLostState
	// ErrCorrupt: a record, index or counter of the state file breaks the
	// queue's invariants; salvage rebuilds them from the jobs.
	ErrCorrupt = store.ErrCorrupt
	// ErrNotFound: no job has the id asked for.
	ErrNotFound = store.ErrNotFound
	// ErrClaimed: a worker has the job in hand; try again once it lets go.
	ErrClaimed = store.ErrClaimed
)

// Session is what signing in gives the agent.
type Session struct {
	RefreshToken string // the long-lived secret to keep in api.refresh_token_file
	OrgID        string // the organisation of the account; may be empty
}

// Login signs in to the Vela API that cfg names with an e-mail address and a
// password, for `vela-agent login`. An account holds at most three refresh
// tokens: keep the session's RefreshToken rather than signing in again.
func Login(ctx context.Context, cfg *config.Config, email, password string) (*Session, error) {
	s, err := vela.Login(ctx, VelaConfig(cfg, nil), email, password)
	if err != nil {
		return nil, err
	}
	return &Session{RefreshToken: s.RefreshToken, OrgID: s.OrgID}, nil
}

// Job returns the job with the given id, as the queue holds it now.
func (a *Agent) Job(id uint64) (*Job, error) { return a.store.Get(id) }

// QueueOptions configure [OpenQueue].
type QueueOptions struct {
	// ReadOnly shares the file lock with other readers, writes nothing and
	// fails if the state file does not exist (with an error wrapping
	// fs.ErrNotExist).
	ReadOnly bool
	// Wait is how long to wait for the file lock before failing with an
	// error wrapping ErrLocked; 0 means a second.
	Wait time.Duration
}

// Queue is the state file opened by an admin command while no agent runs
// on it. Close it when done.
type Queue struct {
	s *store.Store
}

// OpenQueue opens the state file at path (see [StateFile]). It refuses a
// damaged file (ErrDamaged) and a lost one (ErrLostState), as the agent
// does.
func OpenQueue(path string, o QueueOptions) (*Queue, error) {
	s, err := store.Open(path, store.Options{ReadOnly: o.ReadOnly, Timeout: o.Wait})
	if err != nil {
		return nil, err
	}
	return &Queue{s: s}, nil
}

// Close releases the state file.
func (q *Queue) Close() error { return q.s.Close() }

// List returns up to limit jobs with ids above afterID, in id order: those
// in the given state, or all for state 0. To page through the queue, pass
// the last id of a page as afterID of the next.
func (q *Queue) List(state State, afterID uint64, limit int) ([]*Job, error) {
	return q.s.List(state, afterID, limit)
}

// Retry queues a parked or skipped job again, from the start, its attempts
// and errors cleared. Jobs in other states are refused. The queue must not
// be read-only.
func (q *Queue) Retry(id uint64) error { return retry(q.s, id) }

// Forget drops a job from the work: it becomes skipped with
// ForgottenReason, and its file version stays known, so that it is never
// uploaded again. A claimed job is refused (ErrClaimed), and so is one
// already uploaded. The queue must not be read-only.
func (q *Queue) Forget(id uint64) error { return forget(q.s, id) }

// RetryParked queues every parked job again, as Retry does, and says how
// each went.
func (q *Queue) RetryParked() ([]AdminResult, error) { return retryParked(q.s) }

// ListJobs returns the jobs f selects, in id order.
func (q *Queue) ListJobs(f ListFilter) ([]*Job, error) { return listJobs(q.s, f) }

// ForgottenReason is the reason of a job skipped by `vela-agent queue forget`.
const ForgottenReason = "forgotten by an admin"

// ListFilter selects jobs for `vela-agent queue list`.
type ListFilter struct {
	State  State  // 0 for every state
	Source string // "" for every source
	After  uint64 // only ids above this one
	Limit  int    // at most this many; 0 means 100
}

// listPage is how many jobs listJobs reads at a time while it filters by
// source.
const listPage = 1000

// listJobs returns the jobs f selects, in id order.
func listJobs(s *store.Store, f ListFilter) ([]*Job, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if f.Source == "" {
		return s.List(f.State, f.After, limit)
	}
	var out []*Job
	after := f.After
	for len(out) < limit {
		page, err := s.List(f.State, after, listPage)
		if err != nil {
			return nil, err
		}
		for _, j := range page {
			if j.Source == f.Source && len(out) < limit {
				out = append(out, j)
			}
		}
		if len(page) < listPage {
			break
		}
		after = page[len(page)-1].ID
	}
	return out, nil
}

// forget is Queue.Forget and the admin API's.
func forget(s *store.Store, id uint64) error {
	err := s.Forget(id, ForgottenReason)
	switch {
	case errors.Is(err, store.ErrClaimed):
		return fmt.Errorf("job %d is being worked on (in flight) and cannot be forgotten now; try again once it has finished or stopped: %w", id, ErrClaimed)
	case errors.Is(err, store.ErrIllegalTransition):
		return fmt.Errorf("job %d is already uploaded: nothing to forget", id)
	}
	return err
}

// retry is Queue.Retry and the admin API's.
func retry(s *store.Store, id uint64) error {
	err := s.Requeue(id)
	if errors.Is(err, store.ErrClaimed) {
		return fmt.Errorf("job %d is being worked on (in flight); try again once it has finished: %w", id, ErrClaimed)
	}
	return err
}

// retryParked requeues every parked job and says how each went. Its error
// is one of listing the jobs.
func retryParked(s *store.Store) ([]AdminResult, error) {
	var out []AdminResult
	var after uint64
	for {
		page, err := s.List(store.Parked, after, listPage)
		if err != nil {
			return out, err
		}
		for _, j := range page {
			res := AdminResult{ID: j.ID}
			if err := retry(s, j.ID); err != nil {
				res.Error = err.Error()
			}
			out = append(out, res)
		}
		if len(page) < listPage {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// Verify checks every page and record of the state file: bbolt's pages and
// consistency, then the queue's invariants. Problems bbolt copes with by
// itself are returned as warnings; a damaged file gives an error wrapping
// ErrDamaged, a broken invariant one wrapping ErrCorrupt. Use it on a queue
// opened read-only.
func (q *Queue) Verify() (warnings []string, err error) { return q.s.Verify() }

// Counts returns how many jobs are in each state.
func (q *Queue) Counts() (map[State]int, error) { return q.s.Counts() }

// Status reports what the state file alone knows: counts, pause gates and
// parked jobs (see [ReadStatus]).
func (q *Queue) Status() (*Status, error) { return ReadStatus(q.s) }

// CompactReport says what [Queue.Compact] did: the sizes of the state file
// before and after, and how long it took.
type CompactReport = store.CompactReport

// Compact rewrites the state file with its live data only, giving back to
// the file system the room freed by pruning and left in half-full pages.
// It needs free disk space about the size of the live data, and fails on
// a queue opened read-only and on Windows (wrapping errors.ErrUnsupported).
// A crash meanwhile leaves the old file or the new one, whole.
func (q *Queue) Compact(ctx context.Context) (CompactReport, error) { return q.s.Compact(ctx) }

// stateWait is how long the state commands wait for a running agent's lock.
const stateWait = time.Second

// SalvageState copies every readable job, seen file and pause of the state
// file at path into a new state file, rebuilding its indexes and counters,
// and reports what was lost. With out set, the new file is written there
// (it must not exist) and path is left as it is; with out empty, the new
// file takes path's place and the damaged one is moved aside, as the
// report's Aside says.
func SalvageState(path, out string) (*SalvageReport, error) {
	return store.Salvage(path, out, store.Options{Timeout: stateWait})
}

// ResetState moves the state file at path aside, if there is one, and
// starts a new, empty one: every file in the sources is then new to the
// agent and uploaded again. It returns where the old file went, "" if there
// was none, and fails with an error wrapping ErrLocked while an agent runs
// on it.
func ResetState(path string) (aside string, err error) {
	return store.Reset(path, store.Options{Timeout: stateWait})
}

// AcceptNewState is `vela-agent run --accept-new-state`: if the state file
// at path is lost (the agent would refuse it with ErrLostState), it starts
// a new one as ResetState does and reports true; otherwise it changes
// nothing and reports false. A damaged file is not lost: it is left for
// SalvageState.
func AcceptNewState(path string) (started bool, err error) {
	return store.AcceptNewState(path, store.Options{Timeout: stateWait})
}
