// Package agent moves every found file through the durable queue to Vela:
// it owns the scheduler, the workers, the retry policy and the pause gates.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/upload"
	"github.com/vela-agent/vela-agent/agent/vela"
	"github.com/vela-agent/vela-agent/store"
	"github.com/vela-agent/vela-agent/watcher"
)

// Version is the agent's version, set at build time with
// -ldflags "-X github.com/vela-agent/vela-agent/agent.Version=...".
var Version = "dev"

// API is what the agent needs of the Vela API.
type API interface {
	Presign(ctx context.Context, fileName string, meta map[string]any) (*upload.Form, error)
	Organisation(ctx context.Context) (*vela.Organisation, error)
}

// Uploader sends one file to a presigned POST form.
type Uploader interface {
	Post(ctx context.Context, f *upload.Form, b upload.Body, progress func(sent int64)) (*upload.Result, error)
}

var (
	_ API      = (*vela.Client)(nil)
	_ Uploader = (*upload.Uploader)(nil)
)

// presignMargin is how long a stored presign must still be valid to be used:
// a presign that expires sooner is dropped and a new one asked for.
var presignMargin = time.Minute

// Options are what New needs; Open builds them from a configuration.
type Options struct {
	Config   *config.Config
	Store    *store.Store
	API      API
	Uploader Uploader
	Logger   *slog.Logger
	// NoWatch runs the workers only, without watching the sources (push).
	NoWatch bool
}

// Agent uploads the files its sources find. Create it with New or Open,
// then call Run once.
type Agent struct {
	cfg   *config.Config
	store *store.Store
	api   API
	up    Uploader
	log   *slog.Logger
	now   func() time.Time

	sources  map[string]*source // by name; fixed after New
	gates    *gates
	apiPace  *pacer // the Vela API
	upPace   *pacer // the upload service
	wake     *signal
	track    *tracker
	health   *commitHealth
	claimLog limitedLog // claim failures, logged at most once a minute
	addLog   limitedLog // failures to queue found files, likewise
	noWatch  bool
	started  time.Time
	// released, if set, is told of every job a worker hands back. Set
	// before Run, read only by workers.
	released func(store.Job)
	closer   func() error // closes what Open opened
}

// source is one configured source and its watcher.
type source struct {
	cfg config.Source
	w   *watcher.Local // nil for push and when not watching
}

// New creates an agent from its parts.
func New(o Options) (*Agent, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{
		cfg:     o.Config,
		store:   o.Store,
		api:     o.API,
		up:      o.Uploader,
		log:     log,
		now:     time.Now,
		sources: map[string]*source{},
		wake:    newSignal(),
		track:   newTracker(),
		noWatch: o.NoWatch,
		started: time.Now(),
	}
	a.health = &commitHealth{log: log, now: a.now, wake: a.wake.Broadcast}
	a.claimLog = limitedLog{every: time.Minute, now: a.now}
	a.addLog = limitedLog{every: time.Minute, now: a.now}
	up := o.Config.Upload
	a.apiPace = newPacer(up.RetryMin.D(), up.RetryMax.D(), a.now)
	a.upPace = newPacer(up.RetryMin.D(), up.RetryMax.D(), a.now)
	g, err := loadGates(o.Store, log, a.now)
	if err != nil {
		return nil, err
	}
	a.gates = g
	for _, sc := range o.Config.Sources {
		src := &source{cfg: sc}
		if !o.NoWatch {
			w, err := watcher.New(watcher.Options{
				Name:           sc.Name,
				Root:           sc.Path,
				Recursive:      sc.Recurse(),
				Include:        sc.Include,
				Exclude:        sc.Exclude,
				Settle:         sc.Settle.D(),
				RescanInterval: sc.RescanInterval.D(),
				Poll:           sc.Poll,
				Logger:         log,
			})
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", sc.Name, err)
			}
			src.w = w
		}
		a.sources[sc.Name] = src
	}
	return a, nil
}

// OnRelease makes the agent call f with a copy of every job a worker has
// processed and committed, whatever its state. f must not block. Call it
// before Run.
func (a *Agent) OnRelease(f func(store.Job)) { a.released = f }

// Close releases what Open opened (the store). Call it after Run returned.
func (a *Agent) Close() error {
	if a.closer == nil {
		return nil
	}
	return a.closer()
}

// Run works until ctx is cancelled, then stops every goroutine it started
// and returns. Jobs in flight are left in the store where they were: an
// interrupted upload resumes with the same presign on the next run.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var srv *http.Server
	served := make(chan struct{})
	if l := a.cfg.Status.Listen; l != "" && !a.noWatch {
		ln, err := net.Listen("tcp", l)
		if err != nil {
			return fmt.Errorf("status page: listen on %s: %w (set status.listen to another port, or \"\" to disable it)", l, err)
		}
		srv = &http.Server{Handler: a.statusHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { defer close(served); _ = srv.Serve(ln) }()
		a.log.Info("status page", "url", "http://"+ln.Addr().String()+"/status")
	} else {
		close(served)
	}

	var wg sync.WaitGroup
	goRun := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}

	if !a.noWatch {
		found := make(chan []watcher.File)
		for _, src := range a.sources {
			w := src.w
			goRun(func(ctx context.Context) {
				if err := w.Run(ctx, found); err != nil {
					a.log.Error("watcher stopped", "source", src.cfg.Name, "err", err)
				}
			})
		}
		goRun(func(ctx context.Context) { a.ingest(ctx, found) })
		goRun(a.pruneLoop)
	}
	// A pause recorded before a restart is checked at once, not after a
	// whole recheck interval.
	a.checkGates(ctx)
	goRun(a.gateLoop)
	for i := 0; i < a.cfg.Upload.Concurrency; i++ {
		goRun(a.worker)
	}
	a.log.Info("vela-agent running", "version", Version, "sources", len(a.sources),
		"concurrency", a.cfg.Upload.Concurrency, "state", a.store.Path())

	<-ctx.Done()
	wg.Wait()
	if srv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
	}
	<-served
	a.log.Info("vela-agent stopped")
	return nil
}

// ingest records what the watchers found, one store transaction per batch.
func (a *Agent) ingest(ctx context.Context, in <-chan []watcher.File) {
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-in:
			found := make([]store.Found, len(batch))
			for i, f := range batch {
				found[i] = store.Found{Source: f.Source, Path: f.Path, Size: f.Size, ModTime: f.ModTime, Kind: store.Call}
			}
			n, err := a.store.Add(found)
			a.committed(err)
			if err != nil {
				// The watcher believes these were delivered: make it offer
				// them again on its next scan rather than lose them.
				a.addLog.Error(a.log, "queue found files; they are offered again on the next scan", "files", len(batch), "err", err)
				for _, f := range batch {
					if src := a.sources[f.Source]; src != nil && src.w != nil {
						src.w.Forget(f.Path)
					}
				}
				continue
			}
			if n > 0 {
				a.log.Info("queued", "source", batch[0].Source, "files", n)
				a.wake.Broadcast()
			}
		}
	}
}

// worker claims due jobs from the open lanes and drives each as far as it goes.
func (a *Agent) worker(ctx context.Context) {
	for ctx.Err() == nil {
		woken := a.wake.C() // before Claim, so a wake-up in between is not lost
		if a.health.broken() {
			// An upload now could not be recorded: wait for the commits
			// that retry, or probe the file now and then.
			a.sleep(ctx, woken, a.cfg.Upload.RetryMin.D())
			if ctx.Err() == nil && a.health.broken() {
				a.committed(a.store.Probe())
			}
			continue
		}
		lanes := a.gates.lanes()
		j, err := a.store.Claim(lanes...)
		if err != nil {
			a.claimLog.Error(a.log, "claim a job", "err", err)
			a.sleep(ctx, woken, a.cfg.Upload.RetryMin.D())
			continue
		}
		if j != nil {
			a.process(ctx, j)
			continue
		}
		wait := time.Duration(-1)
		if t, ok, err := a.store.NextDue(lanes...); err == nil && ok {
			wait = max(time.Until(t), 0)
		}
		a.sleep(ctx, woken, wait)
	}
}

// sleep waits for d (forever if d < 0), a wake-up or the end of ctx.
func (a *Agent) sleep(ctx context.Context, woken <-chan struct{}, d time.Duration) {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
	case <-woken:
	case <-timer:
	}
}

func (a *Agent) pruneLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.store.Prune(a.now().Add(-a.cfg.Retention.D())); err != nil {
			a.log.Error("prune finished jobs", "err", err)
		} else if n > 0 {
			a.log.Debug("pruned finished jobs", "jobs", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// gateLoop checks closed gates every api.allocation_recheck and opens them
// when Vela says the reason is gone.
func (a *Agent) gateLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.API.AllocationRecheck.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.checkGates(ctx)
	}
}

// checkGates asks Vela whether the reasons for closed gates are gone.
func (a *Agent) checkGates(ctx context.Context) {
	if !a.gates.closed(GateCalls) && !a.gates.closed(GateAll) {
		return
	}
	org, err := a.api.Organisation(ctx)
	var ve *vela.Error
	switch {
	case ctx.Err() != nil:
		return
	case err == nil:
		if a.gates.clear(GateAll) {
			a.log.Info("resumed: Vela accepts the credentials and the organisation again")
		}
		if org.AcceptsCalls() && a.gates.clear(GateCalls) {
			a.log.Info("resumed call uploads: minutes available", "minutes_left", org.MinutesLeft())
		}
	case errors.As(err, &ve) && ve.Action == vela.PauseAll:
		a.gates.set(GateAll, err.Error())
	default:
		// The check itself failed: let the next presign find out.
		if a.gates.clear(GateCalls) {
			a.log.Info("resuming call uploads to retest the allocation", "check_err", err)
		}
	}
	a.wake.Broadcast()
}

// signal wakes every waiter at once. C returns a channel that is closed by
// the next Broadcast.
type signal struct {
	mu sync.Mutex // guards c
	c  chan struct{}
}

func newSignal() *signal { return &signal{c: make(chan struct{})} }

func (s *signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

func (s *signal) Broadcast() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.c)
	s.c = make(chan struct{})
}
