package agent

// The admin API: what `vela-agent push` and `vela-agent queue` ask of a
// running agent, on its loopback status listener under /admin/. Every
// request carries the per-install secret the agent writes to
// state_dir/admin.token at each start (readable by the service user and
// root only): "Authorization: Bearer <token>". Requests and replies are
// JSON:
//
//	POST /admin/push   {"paths": [...]}                 -> {"pushed": [{"path", "job"}]}
//	GET  /admin/jobs   ?state=&source=&after=&limit=     -> {"jobs": [...]}
//	GET  /admin/jobs   ?id=1&id=2                        -> {"jobs": [...]}
//	POST /admin/retry  {"ids": [...]} | {"all_parked": true} -> {"results": [{"id", "error"}]}
//	POST /admin/forget {"ids": [...]}                    -> {"results": [{"id", "error"}]}
//
// A failed request answers {"error": "..."}; one without the right token
// 401 and nothing more.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/store"
)

// AdminTokenFile is the name, in the state directory, of the file holding
// the admin API's secret.
const AdminTokenFile = "admin.token"

// AdminTokenPath is where the agent configured by cfg keeps the admin
// API's secret.
func AdminTokenPath(cfg *config.Config) string { return filepath.Join(cfg.StateDir, AdminTokenFile) }

// AdminJob is a job as the admin API and `vela-agent queue list` show it.
type AdminJob struct {
	ID        uint64 `json:"id"`
	Source    string `json:"source"`
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Kind      string `json:"kind"`
	State     string `json:"state"`
	Reason    string `json:"reason,omitempty"`
	LastError string `json:"last_error,omitempty"`
	Attempts  int    `json:"attempts,omitempty"`
	// Warnings are what the agent noticed but did not fail the job for
	// (metadata values dropped, manifest problems).
	Warnings []string `json:"warnings,omitempty"`
	// Meta is the metadata sent (or to be sent), once described.
	Meta json.RawMessage `json:"metadata,omitempty"`
	// Ref is what Vela calls the upload (a chat's id), once known.
	Ref     string    `json:"ref,omitempty"`
	Parent  uint64    `json:"parent,omitempty"`
	Updated time.Time `json:"updated"`
}

// ViewJob describes j for the admin API.
func ViewJob(j *Job) AdminJob {
	return AdminJob{ID: j.ID, Source: j.Source, Path: j.Path, Size: j.Size, Kind: j.Kind.String(), State: j.State.String(),
		Reason: j.Reason, LastError: j.LastError, Attempts: j.Attempts, Warnings: j.Warnings,
		Meta: json.RawMessage(j.Meta), Ref: j.Ref, Parent: j.Parent, Updated: j.Updated}
}

// PushedJob is one file given to POST /admin/push and its job, nil if the
// file was uploaded long enough ago for its job to be pruned.
type PushedJob struct {
	Path string    `json:"path"`
	Job  *AdminJob `json:"job,omitempty"`
}

// AdminResult says how one job of a retry or a forget went: Error is
// empty when it was done.
type AdminResult struct {
	ID    uint64 `json:"id"`
	Error string `json:"error,omitempty"`
}

type pushRequest struct {
	Paths []string `json:"paths"`
}

type pushReply struct {
	Pushed []PushedJob `json:"pushed"`
}

type jobsReply struct {
	Jobs []AdminJob `json:"jobs"`
}

type idsRequest struct {
	IDs       []uint64 `json:"ids,omitempty"`
	AllParked bool     `json:"all_parked,omitempty"`
}

type resultsReply struct {
	Results []AdminResult `json:"results"`
}

type errorReply struct {
	Error string `json:"error"`
}

// maxAdminBody bounds a request body; maxAdminIDs the ids of one request.
const (
	maxAdminBody = 4 << 20
	maxAdminIDs  = 10000
)

// adminHandler writes a new admin token to the state directory and serves
// the admin API with it. If the token cannot be written, the API answers
// 503 and the log says why.
func (a *Agent) adminHandler() http.Handler {
	token, err := writeAdminToken(a.config().StateDir)
	if err != nil {
		a.log.Error("admin API off: cannot write its token", "err", err)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "the admin API is off: the agent could not write its token", http.StatusServiceUnavailable)
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/push", a.adminPush)
	mux.HandleFunc("GET /admin/jobs", a.adminJobs)
	mux.HandleFunc("POST /admin/retry", a.adminRetry)
	mux.HandleFunc("POST /admin/forget", a.adminForget)
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// writeAdminToken puts 32 new random bytes, in hex, in dir's token file,
// readable by its owner only, and returns them.
func writeAdminToken(dir string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	f, err := os.CreateTemp(dir, AdminTokenFile+".*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(token + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, AdminTokenFile))
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return token, nil
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func replyError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(errorReply{Error: msg})
}

// decode reads a JSON request body into v, answering 400 if it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		replyError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

func (a *Agent) adminPush(w http.ResponseWriter, r *http.Request) {
	var req pushRequest
	if !decode(w, r, &req) {
		return
	}
	if len(req.Paths) == 0 {
		replyError(w, http.StatusBadRequest, "push: no paths given")
		return
	}
	for _, p := range req.Paths {
		if !filepath.IsAbs(p) {
			replyError(w, http.StatusBadRequest, fmt.Sprintf("push %s: the agent takes absolute paths only", p))
			return
		}
	}
	pushed, err := a.QueueFiles(req.Paths)
	if err != nil {
		replyError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := pushReply{Pushed: make([]PushedJob, len(pushed))}
	for i, p := range pushed {
		out.Pushed[i].Path = p.Path
		if p.Job == 0 {
			continue
		}
		j, err := a.store.Get(p.Job)
		if err != nil {
			replyError(w, http.StatusInternalServerError, err.Error())
			return
		}
		v := ViewJob(j)
		out.Pushed[i].Job = &v
	}
	reply(w, out)
}

func (a *Agent) adminJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	out := jobsReply{Jobs: []AdminJob{}}
	if ids := q["id"]; len(ids) > 0 {
		if len(ids) > maxAdminIDs {
			replyError(w, http.StatusBadRequest, fmt.Sprintf("at most %d ids at a time", maxAdminIDs))
			return
		}
		for _, s := range ids {
			id, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				replyError(w, http.StatusBadRequest, fmt.Sprintf("job id %q is not a number", s))
				return
			}
			j, err := a.store.Get(id)
			if errors.Is(err, store.ErrNotFound) {
				replyError(w, http.StatusNotFound, fmt.Sprintf("job %d: not found", id))
				return
			}
			if err != nil {
				replyError(w, http.StatusInternalServerError, err.Error())
				return
			}
			out.Jobs = append(out.Jobs, ViewJob(j))
		}
		reply(w, out)
		return
	}
	var f ListFilter
	if s := q.Get("state"); s != "" {
		st, err := ParseState(s)
		if err != nil {
			replyError(w, http.StatusBadRequest, err.Error())
			return
		}
		f.State = st
	}
	f.Source = q.Get("source")
	for _, p := range []struct {
		name string
		to   func(uint64)
	}{
		{"after", func(n uint64) { f.After = n }},
		{"limit", func(n uint64) { f.Limit = int(min(n, maxAdminIDs)) }},
	} {
		if s := q.Get(p.name); s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				replyError(w, http.StatusBadRequest, fmt.Sprintf("%s %q is not a number", p.name, s))
				return
			}
			p.to(n)
		}
	}
	jobs, err := listJobs(a.store, f)
	if err != nil {
		replyError(w, http.StatusInternalServerError, err.Error())
		return
	}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, ViewJob(j))
	}
	reply(w, out)
}

// eachID reads an ids request and answers with do's result for each id.
func (a *Agent) eachID(w http.ResponseWriter, r *http.Request, allParked bool, do func(uint64) error) {
	var req idsRequest
	if !decode(w, r, &req) {
		return
	}
	out := resultsReply{Results: []AdminResult{}}
	switch {
	case req.AllParked && !allParked:
		replyError(w, http.StatusBadRequest, "all_parked is for retry only")
		return
	case req.AllParked && len(req.IDs) > 0:
		replyError(w, http.StatusBadRequest, "give ids or all_parked, not both")
		return
	case req.AllParked:
		res, err := retryParked(a.store)
		out.Results = append(out.Results, res...)
		if err != nil {
			replyError(w, http.StatusInternalServerError, err.Error())
			return
		}
	case len(req.IDs) == 0:
		replyError(w, http.StatusBadRequest, "no job ids given")
		return
	case len(req.IDs) > maxAdminIDs:
		replyError(w, http.StatusBadRequest, fmt.Sprintf("at most %d ids at a time", maxAdminIDs))
		return
	default:
		for _, id := range req.IDs {
			res := AdminResult{ID: id}
			if err := do(id); err != nil {
				res.Error = err.Error()
			}
			out.Results = append(out.Results, res)
		}
	}
	a.wake.Broadcast()
	reply(w, out)
}

func (a *Agent) adminRetry(w http.ResponseWriter, r *http.Request) {
	a.eachID(w, r, true, func(id uint64) error { return retry(a.store, id) })
}

func (a *Agent) adminForget(w http.ResponseWriter, r *http.Request) {
	a.eachID(w, r, false, func(id uint64) error { return forget(a.store, id) })
}

// ErrNotRunning is wrapped by DialAdmin's error when no agent answers: the
// service is stopped, or its status listener is off.
var ErrNotRunning = errors.New("no agent is running with this configuration")

// ErrAdminDenied is wrapped by DialAdmin's error when the admin token
// cannot be read for want of permission.
var ErrAdminDenied = errors.New("run as root or as the service user")

// AdminClient speaks to a running agent's admin API.
type AdminClient struct {
	base  string // http://host:port
	token string
	hc    *http.Client
}

// DialAdmin returns a client of the admin API of the agent cfg configures,
// once it has answered. It fails with an error wrapping ErrNotRunning when
// status.listen is off, when there is no token file (the agent has never
// run with its listener on) or when nothing answers on the listener (the
// agent is stopped), and with one wrapping ErrAdminDenied when the token
// file may not be read.
func DialAdmin(ctx context.Context, cfg *config.Config) (*AdminClient, error) {
	if cfg.Status.Listen == "" {
		return nil, fmt.Errorf("%w (status.listen is off)", ErrNotRunning)
	}
	path := AdminTokenPath(cfg)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w (no %s)", ErrNotRunning, path)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("read the admin token %s: permission denied: %w", path, ErrAdminDenied)
	case err != nil:
		return nil, fmt.Errorf("read the admin token: %w", err)
	}
	c := &AdminClient{base: "http://" + dialAddr(cfg.Status.Listen), token: strings.TrimSpace(string(b)),
		hc: &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var probe jobsReply
	if err := c.do(pctx, http.MethodGet, "/admin/jobs?limit=1", nil, &probe); err != nil {
		return nil, err
	}
	return c, nil
}

// dialAddr is the address to reach a listener on listen: a wildcard host
// is reached on loopback.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// do sends one request and decodes its JSON reply into out.
func (c *AdminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w (nothing answers on %s)", ErrNotRunning, strings.TrimPrefix(c.base, "http://"))
		}
		return fmt.Errorf("the running agent: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("the running agent: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return errors.New("the agent on " + strings.TrimPrefix(c.base, "http://") + " refused the admin token (is it the agent of this configuration?)")
	case resp.StatusCode != http.StatusOK:
		var e errorReply
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("the running agent answered %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the running agent's reply: %w", err)
	}
	return nil
}

// Push hands files and folders to the running agent, as QueueFiles does;
// relative paths are made absolute first.
func (c *AdminClient) Push(ctx context.Context, paths []string) ([]PushedJob, error) {
	req := pushRequest{Paths: make([]string, len(paths))}
	for i, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		req.Paths[i] = abs
	}
	var out pushReply
	if err := c.do(ctx, http.MethodPost, "/admin/push", req, &out); err != nil {
		return nil, err
	}
	return out.Pushed, nil
}

// Jobs returns the jobs with the given ids, in that order.
func (c *AdminClient) Jobs(ctx context.Context, ids []uint64) ([]AdminJob, error) {
	v := url.Values{}
	for _, id := range ids {
		v.Add("id", strconv.FormatUint(id, 10))
	}
	var out jobsReply
	if err := c.do(ctx, http.MethodGet, "/admin/jobs?"+v.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

// List returns the jobs f selects, in id order.
func (c *AdminClient) List(ctx context.Context, f ListFilter) ([]AdminJob, error) {
	v := url.Values{}
	if f.State != 0 {
		v.Set("state", f.State.String())
	}
	if f.Source != "" {
		v.Set("source", f.Source)
	}
	if f.After != 0 {
		v.Set("after", strconv.FormatUint(f.After, 10))
	}
	if f.Limit > 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	var out jobsReply
	if err := c.do(ctx, http.MethodGet, "/admin/jobs?"+v.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

// Retry queues parked or skipped jobs again; with allParked, every parked
// job (and ids must be empty).
func (c *AdminClient) Retry(ctx context.Context, ids []uint64, allParked bool) ([]AdminResult, error) {
	var out resultsReply
	if err := c.do(ctx, http.MethodPost, "/admin/retry", idsRequest{IDs: ids, AllParked: allParked}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// Forget drops jobs from the work, as Queue.Forget does.
func (c *AdminClient) Forget(ctx context.Context, ids []uint64) ([]AdminResult, error) {
	var out resultsReply
	if err := c.do(ctx, http.MethodPost, "/admin/forget", idsRequest{IDs: ids}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// Status returns the running agent's status, as GET /status serves it.
func (c *AdminClient) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.do(ctx, http.MethodGet, "/status", nil, &st); err != nil {
		return nil, err
	}
	return &st, nil
}
