package store

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// State is the step a job has reached. The zero value is not a state.
type State uint8

// The states of a job, in the order of its journey. Their numeric values are
// written to the state file: never renumber them.
const (
	Queued    State = iota + 1 // settled file, waiting for its first step (the watcher settles in memory, so jobs enter here)
	Staged                     // a local copy is in the spool (FTP sources); local files go Queued -> Ready
	Ready                      // described: kind and metadata known
	Presigned                  // presign reply stored in the job, not yet confirmed uploaded
	Uploaded                   // the upload service confirmed (2xx); post-action pending
	Done                       // finished
	Parked                     // permanent error: waits for an admin (`vela-agent queue retry ID`)
	Skipped                    // policy: deleted before upload, superseded, too short, unsupported...

	maxState = Skipped
)

// States lists every state in order, for status output.
var States = []State{Queued, Staged, Ready, Presigned, Uploaded, Done, Parked, Skipped}

var stateNames = [...]string{
	Queued:    "queued",
	Staged:    "staged",
	Ready:     "ready",
	Presigned: "presigned",
	Uploaded:  "uploaded",
	Done:      "done",
	Parked:    "parked",
	Skipped:   "skipped",
}

func (s State) valid() bool { return s >= Queued && s <= maxState }

// String returns the lower-case name of the state, as shown to admins.
func (s State) String() string {
	if !s.valid() {
		return fmt.Sprintf("state(%d)", uint8(s))
	}
	return stateNames[s]
}

// ParseState returns the state named name, as written by [State.String].
func ParseState(name string) (State, error) {
	for _, s := range States {
		if stateNames[s] == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown job state %q (want one of queued, staged, ready, presigned, uploaded, done, parked, skipped)", name)
}

// Active reports whether a job in state s still has work to do, that is
// whether it is between Queued and Uploaded. Only active jobs are claimed.
func (s State) Active() bool { return s >= Queued && s <= Uploaded }

// indexed reports whether jobs in state s are listed in the state index:
// the states an admin lists and acts on. The states a job passes through
// on its way to Done are not, so that the commits of the hot path touch
// one index fewer; [Store.List] scans the jobs for those.
func (s State) indexed() bool { return s == Parked || s == Skipped }

// ended reports whether a job in state s is a candidate for [Store.Prune].
func (s State) ended() bool { return s == Done || s == Skipped }

// next holds, for each state, the set of states a job may move to from it,
// as a bit mask indexed by State. Staying in the same state is always legal
// and is not listed. The agent commits a job only before a step with an
// outside effect, so one commit may cover several steps: every forward
// move along queued, staged, ready, presigned, uploaded, done is legal.
var next = [...]uint16{
	Queued:    bits(Staged, Ready, Presigned, Uploaded, Done, Parked, Skipped),
	Staged:    bits(Ready, Presigned, Uploaded, Done, Queued, Parked, Skipped), // Queued: the spool copy was lost
	Ready:     bits(Presigned, Uploaded, Done, Parked, Skipped),                // chats skip Presigned
	Presigned: bits(Uploaded, Done, Ready, Parked, Skipped),                    // Ready: the presign was dropped (expired)
	Uploaded:  bits(Done),
	Done:      0,
	Parked:    bits(Queued),
	Skipped:   bits(Queued),
}

func bits(states ...State) uint16 {
	var m uint16
	for _, s := range states {
		m |= 1 << s
	}
	return m
}

// CanBecome reports whether a job may move from state s to state to.
// Staying in the same state, a retry of the same step, is always legal.
func (s State) CanBecome(to State) bool {
	if !s.valid() || !to.valid() {
		return false
	}
	return s == to || next[s]&(1<<to) != 0
}

// Kind is what a job's file holds. Its numeric values are written to the
// state file: never renumber them. A job record has 4 bits for the kind: at
// most 16 kinds.
type Kind uint8

// The kinds of file the agent uploads.
const (
	Call     Kind = iota // a call recording
	Chat                 // a chat transcript
	Zip                  // a bulk ZIP of recordings with metadata.csv
	Manifest             // a metadata manifest (CSV, TSV, JSON) naming recordings

	maxKind = Manifest
)

var kindNames = [...]string{Call: "call", Chat: "chat", Zip: "zip", Manifest: "manifest"}

func (k Kind) valid() bool { return k <= maxKind }

// String returns the lower-case name of the kind.
func (k Kind) String() string {
	if !k.valid() {
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
	return kindNames[k]
}

// Lane returns the default lane of jobs of kind k: the lane [Store.Add]
// puts a job in when its [Found] names none.
func (k Kind) Lane() Lane {
	switch k {
	case Call:
		return LaneCalls
	case Chat:
		return LaneChats
	default:
		return LaneLocal
	}
}

// Lane is where a job waits for its next step: the due index is ordered by
// lane first, and [Store.Claim] takes jobs of the lanes it is given only, so
// that a paused lane holds back its jobs and no other, and each lane can
// have workers of its own. Call uploads pause when the minute allocation is
// used up, chat uploads when the chat allocation is; local work (expanding a
// ZIP or a manifest) never waits for the API, and neither do downloads from
// FTP servers to the spool.
//
// A job's lane is the caller's choice, stored with the job ([Job.Lane]):
// [Store.Add] puts a job in [Found.Lane], by default its kind's lane
// ([Kind.Lane]), and a Save or Release that changes Job.Lane moves the job
// to the new lane. A job in its kind's lane that changes Kind, in a Save
// or Release that leaves Lane as stored, moves to the new kind's lane (a
// call found to be a chat goes to LaneChats); a job in any other lane stays
// there when its Kind changes.
type Lane uint8

// The lanes. Their numeric values are part of the due index and the job
// records on disk: never renumber them, append new ones. A job record
// has 4 bits for the lane: at most 16 lanes.
const (
	LaneCalls Lane = iota // call uploads: held by the calls allocation gate
	LaneChats             // chat uploads: held by the chats allocation gate
	LaneLocal             // local work: expanding ZIPs and manifests
	LaneStage             // downloads of remote files to the spool: never held by an allocation gate

	numLanes = int(LaneStage) + 1
)

// Lanes lists every lane in order, for status output.
var Lanes = []Lane{LaneCalls, LaneChats, LaneLocal, LaneStage}

var laneNames = [...]string{LaneCalls: "calls", LaneChats: "chats", LaneLocal: "local", LaneStage: "stage"}

func (l Lane) valid() bool { return int(l) < numLanes }

// String returns the lower-case name of the lane.
func (l Lane) String() string {
	if !l.valid() {
		return fmt.Sprintf("lane(%d)", uint8(l))
	}
	return laneNames[l]
}

// Field is one form field of a presigned POST.
type Field struct{ Name, Value string }

// Presign is the reply of the presign request: where to POST the file and
// the form fields to send with it, unchanged.
type Presign struct {
	URL     string
	Fields  []Field // in the order the API returned them
	Expires time.Time
}

// Job is one version of one file and how far its upload has come.
//
// Source, Path, Size, ModTime, Created and Parent identify the job and never
// change once it is added; [Store.Save] refuses a job whose identity differs
// from the stored one.
type Job struct {
	ID          uint64
	Source      string    // source name from the config
	Path        string    // path relative to the source root, always slash-separated
	Size        int64     // bytes, as found
	ModTime     time.Time // as found
	SHA256      string    // hex, once known (optional)
	Kind        Kind
	State       State
	Lane        Lane      // where the job waits when due; set it before Save or Release to move the job (see [Lane])
	Attempts    int       // consecutive failures at the current step
	NextAttempt time.Time // when the job is next due; zero means now, ahead of every job with a time
	LastError   string    // last transient error, for status
	Reason      string    // why Parked or Skipped
	Meta        []byte    // JSON object of metadata built by the agent; opaque to the store
	Spool       string    // local copy for remote sources; "" for local ones
	Presign     *Presign
	Parent      uint64   // job this one was expanded from (ZIP, manifest); 0 if none
	Warnings    []string // what the agent noticed but did not fail the job for (a metadata value dropped), for status
	Ref         string   // what the remote calls the upload (a chat's id), once known
	Created     time.Time
	Updated     time.Time
}

// validate reports a job the store must not write.
func (j *Job) validate() error {
	switch {
	case !j.State.valid():
		return fmt.Errorf("invalid state %d", j.State)
	case !j.Kind.valid():
		return fmt.Errorf("invalid kind %d", j.Kind)
	case !j.Lane.valid():
		return fmt.Errorf("invalid lane %d", j.Lane)
	case j.Attempts < 0:
		return fmt.Errorf("negative attempts %d", j.Attempts)
	}
	return nil
}

// laneAfter returns the lane j, the new version of the job stored as old,
// is stored in: j.Lane, but for a job in its kind's lane that changes Kind
// and leaves Lane as stored, the new kind's lane (see [Lane]).
func laneAfter(old, j *Job) Lane {
	if j.Kind != old.Kind && j.Lane == old.Lane && old.Lane == old.Kind.Lane() {
		return j.Kind.Lane()
	}
	return j.Lane
}

// sameIdentity reports whether a and b are the same version of the same file.
func sameIdentity(a, b *Job) bool {
	return a.Source == b.Source && a.Path == b.Path && a.Size == b.Size &&
		nanos(a.ModTime) == nanos(b.ModTime) && nanos(a.Created) == nanos(b.Created) &&
		a.Parent == b.Parent
}

// Found is one settled file version offered by a watcher.
type Found struct {
	Source  string
	Path    string // relative to the source root, slash-separated
	Size    int64
	ModTime time.Time
	Kind    Kind
	Parent  uint64 // the job this file was expanded from (ZIP, manifest); 0 if none, or the parent given to [Store.Expand]
	// Lane is the lane the new job waits in; nil means Kind.Lane(). It is
	// a pointer because the zero Lane, LaneCalls, is a lane like the
	// others.
	Lane *Lane
	// Skip, if set, records the version as known without uploading it: the
	// job is made Skipped with this reason (a file older than a source's
	// ignore_older, say).
	Skip string
}

// lane returns the lane of the job made for f.
func (f *Found) lane() Lane {
	if f.Lane != nil {
		return *f.Lane
	}
	return f.Kind.Lane()
}

func (f *Found) validate() error {
	switch {
	case f.Source == "":
		return errors.New("empty source name")
	case f.Path == "":
		return errors.New("empty path")
	case strings.IndexByte(f.Source, 0) >= 0:
		return errors.New("NUL byte in source name")
	case f.Size < 0:
		return fmt.Errorf("negative size %d", f.Size)
	case !f.Kind.valid():
		return fmt.Errorf("invalid kind %d", f.Kind)
	case !f.lane().valid():
		return fmt.Errorf("invalid lane %d", f.lane())
	}
	return nil
}
