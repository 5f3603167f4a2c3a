package agent

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vela-agent/vela-agent/store"
)

// Status is what the agent reports about itself: served as JSON on
// /status and printed by `vela-agent status`. Every JSON key is snake_case.
type Status struct {
	Version    string         `json:"version"`
	Started    time.Time      `json:"started"`
	StateFile  string         `json:"state_file"`
	ConfigFile string         `json:"config_file,omitempty"` // the configuration in use; empty when read from the store alone
	Counts     map[string]int `json:"counts"`
	Paused     []store.Gate   `json:"paused,omitempty"`
	// Problems lists, one line each, what an admin must fix now: every
	// closed pause gate (as GateProblem words it) and every source that
	// cannot be watched. Empty when all is well. /healthz and the exit code
	// of `vela-agent status` are decided by Problems and Paused alone (see
	// NeedsAttention), so whatever is appended here counts.
	Problems []string       `json:"problems,omitempty"`
	Sources  []SourceStatus `json:"sources,omitempty"`
	Active   []Transfer     `json:"active,omitempty"`
	Recent   []Event        `json:"recent_errors,omitempty"`
	// MetaWarnings are the latest metadata warnings, newest first: values
	// dropped, dates that could not be read, manifest rows not used.
	MetaWarnings  []Event      `json:"metadata_warnings,omitempty"`
	Parked        []JobSummary `json:"parked,omitempty"`
	Uploaded      int64        `json:"uploaded_files"`
	UploadedBytes int64        `json:"uploaded_bytes"`
}

// SourceStatus describes one source.
type SourceStatus struct {
	Name    string `json:"name"`
	Path    string `json:"path"`
	Mode    string `json:"mode"`
	Reason  string `json:"reason,omitempty"`
	Problem string `json:"problem,omitempty"` // what an admin must fix, if anything
	// Scans is the number of full scans (folders) or polls (FTP) done
	// since the agent started; LastScanFiles and LastScanMillis describe
	// the latest one.
	Scans          uint64 `json:"scans,omitempty"`
	LastScanFiles  int    `json:"last_scan_files,omitempty"`
	LastScanMillis int64  `json:"last_scan_ms,omitempty"`
}

// Transfer is an upload in progress.
type Transfer struct {
	Job   uint64    `json:"job"`
	File  string    `json:"file"`
	Size  int64     `json:"size"`
	Sent  int64     `json:"sent"`
	Since time.Time `json:"since"`
}

// JobSummary is one job as status lists it.
type JobSummary struct {
	ID     uint64 `json:"id"`
	Source string `json:"source"`
	Path   string `json:"path"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Warnings are what the agent noticed but did not fail the job for.
	Warnings []string `json:"warnings,omitempty"`
	// Ref is what Vela calls the upload (a chat's id), once known.
	Ref     string    `json:"ref,omitempty"`
	Updated time.Time `json:"updated"`
}

// maxParked is how many parked jobs the status lists.
const maxParked = 20

// Event is a recent problem, newest first.
type Event struct {
	Time  time.Time `json:"time"`
	Job   uint64    `json:"job"`
	File  string    `json:"file"`
	Error string    `json:"error"`
}

// maxEvents is how many recent problems the status keeps.
const maxEvents = 20

// tracker keeps the in-memory part of the status: uploads in flight and
// recent problems. Everything else comes from the store.
type tracker struct {
	mu     sync.Mutex           // guards active and events
	active map[uint64]*progress // by job ID
	events []Event              // oldest first, at most maxEvents
	warns  []Event              // metadata warnings, likewise

	files, bytes atomic.Int64
}

type progress struct {
	Transfer
	sent atomic.Int64
}

func (p *progress) set(n int64) { p.sent.Store(n) }

func newTracker() *tracker { return &tracker{active: map[uint64]*progress{}} }

func (t *tracker) start(j *store.Job) *progress {
	p := &progress{Transfer: Transfer{Job: j.ID, File: j.Path, Size: j.Size, Since: time.Now()}}
	t.mu.Lock()
	t.active[j.ID] = p
	t.mu.Unlock()
	return p
}

func (t *tracker) done(id uint64) {
	t.mu.Lock()
	delete(t.active, id)
	t.mu.Unlock()
}

func (t *tracker) uploaded(size int64) {
	t.files.Add(1)
	t.bytes.Add(size)
}

func (t *tracker) event(j *store.Job, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = keep(t.events, Event{Time: time.Now(), Job: j.ID, File: j.Path, Error: msg})
}

// warn records a metadata warning about j.
func (t *tracker) warn(j *store.Job, msg string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.warns = keep(t.warns, Event{Time: time.Now(), Job: j.ID, File: j.Path, Error: msg})
}

// keep appends e to the list, dropping the oldest beyond maxEvents.
func keep(list []Event, e Event) []Event {
	if len(list) == maxEvents {
		copy(list, list[1:])
		list = list[:maxEvents-1]
	}
	return append(list, e)
}

// newestFirst returns a copy of list in reverse.
func newestFirst(list []Event) []Event {
	var out []Event
	for i := len(list) - 1; i >= 0; i-- {
		out = append(out, list[i])
	}
	return out
}

func (t *tracker) snapshot() (active []Transfer, events, warns []Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.active {
		tr := p.Transfer
		tr.Sent = p.sent.Load()
		active = append(active, tr)
	}
	sort.Slice(active, func(i, j int) bool { return active[i].Job < active[j].Job })
	return active, newestFirst(t.events), newestFirst(t.warns)
}

// ReadStatus reports what the store alone knows: counts, pause gates and
// parked jobs. `vela-agent status` uses it when no agent is running.
func ReadStatus(s *store.Store) (*Status, error) {
	gates, err := s.Gates()
	if err != nil {
		return nil, err
	}
	return readStatus(s, gates)
}

// readStatus reports the store's counts and parked jobs, and the gates.
func readStatus(s *store.Store, gates []store.Gate) (*Status, error) {
	counts, err := s.Counts()
	if err != nil {
		return nil, err
	}
	parked, err := s.List(store.Parked, 0, maxParked)
	if err != nil {
		return nil, err
	}
	st := &Status{Version: Version, StateFile: s.Path(), Counts: CountsByName(counts), Paused: gates}
	for _, g := range gates {
		st.Problems = append(st.Problems, GateProblem(g))
	}
	for _, j := range parked {
		st.Parked = append(st.Parked, Summarise(j))
	}
	return st, nil
}

// Summarise describes a job for status and queue listings.
func Summarise(j *store.Job) JobSummary {
	return JobSummary{ID: j.ID, Source: j.Source, Path: j.Path, State: j.State.String(), Reason: j.Reason,
		Warnings: j.Warnings, Ref: j.Ref, Updated: j.Updated}
}

// Status reports the agent's current state.
func (a *Agent) Status() (*Status, error) {
	st, err := readStatus(a.store, a.gates.list())
	if err != nil {
		return nil, err
	}
	st.Started = a.started
	st.ConfigFile = a.config().File
	if p := a.health.problem(); p != "" {
		st.Problems = append([]string{p}, st.Problems...)
	}
	if p := a.reload.get(); p != "" {
		st.Problems = append(st.Problems, p)
	}
	st.Uploaded = a.track.files.Load()
	st.UploadedBytes = a.track.bytes.Load()
	st.Active, st.Recent, st.MetaWarnings = a.track.snapshot()
	for _, sc := range a.config().Sources {
		ss := SourceStatus{Name: sc.Name, Path: sc.Path}
		if src, ok := a.sources.get(sc.Name); ok {
			ss = src.Status()
			ws := src.Stats()
			ss.Scans, ss.LastScanFiles, ss.LastScanMillis = ws.Scans, ws.LastScanFiles, ws.LastScanDuration.Milliseconds()
		}
		if p := a.spoolFull.get(sc.Name); p != "" {
			ss.Problem = strings.TrimPrefix(ss.Problem+"; "+p, "; ")
		}
		if ss.Problem != "" {
			st.Problems = append(st.Problems, "source "+ss.Name+": "+ss.Problem)
		}
		st.Sources = append(st.Sources, ss)
	}
	return st, nil
}

// GateProblem is how Status.Problems words a closed pause gate.
func GateProblem(g store.Gate) string {
	return fmt.Sprintf("uploads paused (%s): %s", g.Name, g.Reason)
}

// NeedsAttention says in one line why the agent is not healthy: the first
// of Problems (with how many more there are), or else the first pause gate.
// It returns "" when both are empty: the agent runs and nothing needs an
// admin. /healthz answers 503 with this line, and `vela-agent status` exits
// 3, when it is not "".
func (st *Status) NeedsAttention() string {
	var line string
	switch {
	case len(st.Problems) > 1:
		line = fmt.Sprintf("%s (and %d more)", st.Problems[0], len(st.Problems)-1)
	case len(st.Problems) == 1:
		line = st.Problems[0]
	case len(st.Paused) > 0:
		line = GateProblem(st.Paused[0])
	default:
		return ""
	}
	return strings.Join(strings.Fields(line), " ") // one line, whatever the names hold
}

// CountsByName turns the store's counters into a map keyed by state name,
// with every state present.
func CountsByName(c map[store.State]int) map[string]int {
	m := make(map[string]int, len(store.States))
	for _, s := range store.States {
		m[s.String()] = c[s]
	}
	return m
}

// statusHandler serves / (the status page, see page.go), /status (JSON),
// /healthz and /metrics (Prometheus) on the loopback listener.
//
// /healthz answers 200 "ok" while the agent runs and nothing needs an
// admin, and 503 with Status.NeedsAttention's line when a pause gate is
// closed or Status.Problems is not empty (500 if the status cannot be read).
func (a *Agent) statusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.servePage)
	mux.Handle("/admin/", a.adminHandler()) // the admin API, with its token: adminhttp.go
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		st, err := a.Status()
		if err != nil {
			http.Error(w, strings.Join(strings.Fields(err.Error()), " "), http.StatusInternalServerError)
			return
		}
		if why := st.NeedsAttention(); why != "" {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st, err := a.Status()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(st)
	})
	mux.Handle("GET /metrics", a.metricsHandler())
	return loopbackOnly(mux)
}

// loopbackOnly refuses requests whose Host is not a loopback address or
// localhost: the listener is on loopback, but a web page in a browser on
// this machine could otherwise read it through a name it points at
// 127.0.0.1 (DNS rebinding).
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hp, _, err := net.SplitHostPort(host); err == nil {
			host = hp
		}
		ip := net.ParseIP(strings.Trim(host, "[]"))
		if !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "the status page answers only to localhost and loopback addresses", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
