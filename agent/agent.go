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
	"sync/atomic"
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
	Presign(ctx context.Context, fileName string, meta map[string]any) (*vela.Presign, error)
	// Chat posts one chat body and returns the id Vela gave it.
	Chat(ctx context.Context, name string, body []byte) (string, error)
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
	// Limiter is the uploader's bandwidth limiter, if any, so that a new
	// configuration can change its limits.
	Limiter *upload.Limiter
	// NoWatch runs the workers only, without watching the sources (push).
	NoWatch bool
}

// Agent uploads the files its sources find. Create it with New or Open,
// then call Run once.
type Agent struct {
	cfg     atomic.Pointer[config.Config] // the configuration in force; read a snapshot with config()
	store   *store.Store
	api     API
	up      Uploader
	limiter *upload.Limiter // nil if the uploader has none
	log     *slog.Logger
	now     func() time.Time

	sources *supervisor // the configured sources, running while Run does
	workers *pool       // the upload workers: lanes calls and chats, held by the pause gates
	locals  *pool       // the local workers: localLanes, held by nothing
	gates   *gates
	apiPace *pacer // the Vela API
	upPace  *pacer // the upload service
	wake    *signal
	// ingested counts the files ingest took from the sources (queued or
	// not); first, while a new install holds its first uploads, what it
	// queued (firstrun.go).
	ingested  atomic.Uint64
	first     atomic.Pointer[firstRun]
	track     *tracker
	health    *commitHealth
	claimLog  limitedLog     // claim failures, logged at most once a minute
	addLog    limitedLog     // failures to queue found files, likewise
	orphanLog limitedLog     // jobs whose source is gone, likewise
	retries   retries        // by cause, for Stats
	outcomes  outcomes       // parked and skipped by reason class, for Stats
	spoolFull spoolProblems  // sources whose downloads wait for room
	manifests manifests      // parsed folder manifests, by file and version
	zips      openZips       // ZIPs being extracted, open and checked
	reload    configWatch    // hot reload of the configuration file
	level     *slog.LevelVar // the logger's level, if a reload may change it
	noWatch   bool
	started   time.Time
	// released, if set, is told of every job a worker hands back. Set
	// before Run, read only by workers.
	released func(store.Job)
	closer   func() error // closes what Open opened
}

// New creates an agent from its parts.
func New(o Options) (*Agent, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{
		store:   o.Store,
		api:     o.API,
		up:      o.Uploader,
		limiter: o.Limiter,
		log:     log,
		now:     time.Now,
		sources: newSupervisor(log, !o.NoWatch, func(source, path string, size int64, mtime time.Time) bool {
			known, err := o.Store.Known(source, path, size, mtime)
			return err == nil && known // unsure: the file is offered, and Add dedups it
		}),
		wake:    newSignal(),
		track:   newTracker(),
		noWatch: o.NoWatch,
		started: time.Now(),
	}
	a.cfg.Store(o.Config)
	a.reload.now = make(chan struct{}, 1)
	a.workers = newPool(a.worker(func() []store.Lane { return a.gates.lanes() }))
	a.locals = newPool(a.worker(func() []store.Lane { return localLanes }))
	a.health = &commitHealth{log: log, now: a.now, wake: a.wake.Broadcast}
	a.claimLog = limitedLog{every: time.Minute, now: a.now}
	a.addLog = limitedLog{every: time.Minute, now: a.now}
	a.orphanLog = limitedLog{every: time.Minute, now: a.now}
	up := o.Config.Upload
	a.apiPace = newPacer(up.RetryMin.D(), up.RetryMax.D(), a.now)
	a.upPace = newPacer(up.RetryMin.D(), up.RetryMax.D(), a.now)
	a.apiPace.timed, a.upPace.timed = newTiming(&presignTiming), newTiming(&uploadTiming)
	a.api = pacedAPI{API: o.API, p: a.apiPace}
	a.up = pacedUploader{Uploader: o.Uploader, p: a.upPace}
	g, err := loadGates(o.Store, log, a.now)
	if err != nil {
		return nil, err
	}
	a.gates = g
	if _, _, _, err := a.sources.apply(o.Config.Sources); err != nil {
		return nil, err
	}
	return a, nil
}

// config returns the configuration in force. Read it once per job or per
// decision: a reload may replace it at any time.
func (a *Agent) config() *config.Config { return a.cfg.Load() }

// Reload puts cfg in force without stopping: sources added, removed or
// changed are started, stopped or restarted (a removed source's queued
// jobs stay queued), and the bandwidth limit, the number of upload
// workers, the retry bounds and everything read per job follow. Settings
// that need a restart (state_dir, status.listen) keep their old values,
// and the returned list names them. Reload may be called before or while
// Run runs.
func (a *Agent) Reload(cfg *config.Config) (needRestart []string, err error) {
	old := a.config()
	if cfg.StateDir != old.StateDir {
		needRestart = append(needRestart, "state_dir")
	}
	if cfg.Status.Listen != old.Status.Listen {
		needRestart = append(needRestart, "status.listen")
	}
	nc := *cfg
	nc.StateDir, nc.Status = old.StateDir, old.Status
	a.cfg.Store(&nc)
	added, removed, changed, err := a.sources.apply(nc.Sources)
	if a.limiter != nil {
		a.limiter.Set(int64(nc.Upload.BandwidthLimit), windows(&nc))
	}
	a.apiPace.setBounds(nc.Upload.RetryMin.D(), nc.Upload.RetryMax.D())
	a.upPace.setBounds(nc.Upload.RetryMin.D(), nc.Upload.RetryMax.D())
	a.workers.resize(nc.Upload.Concurrency)
	a.log.Info("configuration reloaded", "sources_added", added, "sources_removed", removed, "sources_changed", changed,
		"concurrency", nc.Upload.Concurrency, "bandwidth_limit", int64(nc.Upload.BandwidthLimit))
	if len(needRestart) > 0 {
		a.log.Warn("these settings take effect at the next start", "keys", needRestart)
	}
	a.wake.Broadcast()
	return needRestart, err
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
	defer a.zips.closeAll() // after every worker stopped: deferred first, run last
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var srv *http.Server
	served := make(chan struct{})
	if l := a.config().Status.Listen; l != "" && !a.noWatch {
		ln, err := net.Listen("tcp", l)
		if err != nil {
			return fmt.Errorf("status page: listen on %s: %w (set status.listen to another port, or \"\" to disable it)", l, err)
		}
		srv = &http.Server{Handler: a.statusHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { defer close(served); _ = srv.Serve(ln) }()
		a.log.Info("status page", "url", "http://"+ln.Addr().String()+"/")
	} else {
		close(served)
	}

	var wg sync.WaitGroup
	goRun := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}

	if !a.noWatch {
		goRun(a.watchConfig)
		goRun(a.sources.run)
		goRun(func(ctx context.Context) { a.ingest(ctx, a.sources.found) })
		goRun(a.pruneLoop)
		goRun(a.trimLoop)
	}
	if n := a.cleanSpool(a.config().StateDir); n > 0 {
		a.log.Info("removed spool copies no unfinished job needs", "files", n)
	}
	// A pause recorded before a restart is checked at once, not after a
	// whole recheck interval.
	a.checkGates(ctx)
	goRun(a.gateLoop)
	first := a.newInstall()
	a.first.Store(first)
	goRun(func(ctx context.Context) {
		if first != nil {
			a.awaitFirstScans(ctx)
			a.first.Store(nil)
			a.reportFirstRun(first)
		}
		a.workers.run(ctx, a.config().Upload.Concurrency)
	})
	goRun(func(ctx context.Context) { a.locals.run(ctx, localWorkers) })
	cfg := a.config()
	a.log.Info("vela-agent running", "version", Version, "sources", len(cfg.Sources),
		"concurrency", cfg.Upload.Concurrency, "state", a.store.Path())

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
			cfg := a.config()
			var found, older []store.Found
			for _, f := range batch {
				sc, _ := cfg.Source(f.Source)
				fd := store.Found{Source: f.Source, Path: f.Path, Size: f.Size, ModTime: f.ModTime, Kind: kindOf(sc, f.Path)}
				if src, ok := a.sources.get(f.Source); ok {
					lane := firstLane(fd.Kind, src)
					fd.Lane = &lane
				}
				if sc, ok := cfg.Source(f.Source); ok && fd.Kind == store.Call && sc.IgnoreOlder > 0 && a.now().Sub(f.ModTime) > sc.IgnoreOlder.D() {
					fd.Skip = "older than the source's ignore_older (" + sc.IgnoreOlder.D().String() + "): recorded, not uploaded"
					older = append(older, fd)
					continue
				}
				found = append(found, fd)
			}
			n, err := a.store.Add(found)
			if err == nil {
				a.first.Load().note(found, n)
			}
			var ignored int
			if err == nil && len(older) > 0 {
				ignored, err = a.store.Add(older)
			}
			a.committed(err)
			if err != nil {
				// The watcher believes these were delivered: make it offer
				// them again on its next scan rather than lose them.
				a.addLog.Error(a.log, "queue found files; they are offered again on the next scan", "files", len(batch), "err", err)
				for _, f := range batch {
					if src, ok := a.sources.get(f.Source); ok {
						src.Forget(f.Path)
					}
				}
				a.ingested.Add(uint64(len(batch)))
				continue
			}
			if ignored > 0 {
				a.log.Info("recorded without uploading: older than ignore_older", "source", batch[0].Source, "files", ignored)
			}
			if n > 0 {
				a.log.Info("queued", "source", batch[0].Source, "files", n)
				a.wake.Broadcast()
			}
			a.ingested.Add(uint64(len(batch)))
		}
	}
}

// localLanes are the lanes of the local workers: work that never waits for
// Vela (a download to the spool, a ZIP to expand, a post-action to retry),
// so that it neither takes an upload worker nor is held by a pause.
var localLanes = []store.Lane{store.LaneLocal, store.LaneStage}

// localWorkers is how many local workers run.
var localWorkers = 2

// worker returns a worker of a pool: it claims due jobs from the lanes
// lanes() opens and drives each as far as its steps are this pool's.
//
// A worker returns when ctx ends or when its pool no longer wants it (stop).
func (a *Agent) worker(lanes func() []store.Lane) func(ctx context.Context, stop func() bool) {
	return func(ctx context.Context, stop func() bool) {
		for ctx.Err() == nil && !stop() {
			woken := a.wake.C() // before Claim, so a wake-up in between is not lost
			if a.health.broken() {
				// An upload now could not be recorded: wait for the commits
				// that retry, or probe the file now and then.
				a.sleep(ctx, woken, a.config().Upload.RetryMin.D())
				if ctx.Err() == nil && a.health.broken() {
					a.committed(a.store.Probe())
				}
				continue
			}
			open := lanes()
			if len(open) == 0 {
				a.sleep(ctx, woken, -1)
				continue
			}
			j, err := a.store.Claim(open...)
			if err != nil {
				a.claimLog.Error(a.log, "claim a job", "err", err)
				a.sleep(ctx, woken, a.config().Upload.RetryMin.D())
				continue
			}
			if j != nil {
				a.process(ctx, j, open)
				continue
			}
			wait := time.Duration(-1)
			if t, ok, err := a.store.NextDue(open...); err == nil && ok {
				wait = max(time.Until(t), 0)
			}
			a.sleep(ctx, woken, wait)
		}
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
		if n, err := a.store.Prune(a.now().Add(-a.config().Retention.D())); err != nil {
			a.log.Error("prune finished jobs", "err", err)
		} else if n > 0 {
			a.log.Debug("pruned finished jobs", "jobs", n)
		}
		a.compactIfNeeded(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// compactIfNeeded rewrites the state file with its live data when it has
// become mostly free space (store.NeedsCompact): at start and after each
// prune. Commits wait while it copies (about 5 s for a million jobs).
func (a *Agent) compactIfNeeded(ctx context.Context) {
	need, sp, err := a.store.NeedsCompact()
	if err != nil || !need {
		return
	}
	a.log.Info("compacting the state file: it is mostly free space", "file", a.store.Path(), "bytes", sp.File, "in_use_bytes", sp.Live)
	rep, err := a.store.Compact(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("compact the state file; it is used as it is", "err", err)
		}
		return
	}
	a.log.Info("state file compacted", "before", rep.Before, "after", rep.After, "took", rep.Took.Round(time.Millisecond))
}

// trimEvery is how often the agent lets go of the state file's pages it
// has read (store.Trim), and at the latest trimCheck after a source's full
// scan, whose lookups (a restart on a big tree asks the store about every
// file) touch the most: its memory then stays what it holds itself, not
// the pages of a big state file.
var (
	trimEvery = time.Minute
	trimCheck = 5 * time.Second
)

func (a *Agent) trimLoop(ctx context.Context) {
	t := time.NewTicker(trimCheck)
	defer t.Stop()
	var scans uint64
	last := a.now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var n uint64
		for _, r := range a.sources.configured() {
			if r.src != nil {
				n += r.src.Stats().Scans
			}
		}
		if n == scans && a.now().Sub(last) < trimEvery {
			continue
		}
		scans, last = n, a.now()
		if err := a.store.Trim(); err != nil {
			a.log.Debug("let go of the state file's pages", "err", err)
		}
	}
}

// gateLoop checks closed gates every api.allocation_recheck and opens them
// when Vela says the reason is gone.
func (a *Agent) gateLoop(ctx context.Context) {
	t := time.NewTicker(a.config().API.AllocationRecheck.D())
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
	if a.gates.clear(GateChats) {
		// The organisation does not tell chats left: the next chat finds out.
		a.log.Info("resuming chat uploads to retest the chat allocation")
	}
	if !a.gates.closed(GateCalls) && !a.gates.closed(GateAll) {
		a.wake.Broadcast()
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
