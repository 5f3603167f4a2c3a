package agent

import (
	"context"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/watcher"
)

// supervisor owns the configured sources: it starts each one's Run in a
// goroutine of its own with its own cancel, and stops, starts or restarts
// them when the configuration changes (apply). Jobs of a source that is
// removed stay in the queue: the agent reports them and keeps them until
// the source comes back.
type supervisor struct {
	log   *slog.Logger
	watch bool                // run the sources; false for push, which only reads their files
	found chan []watcher.File // where running sources report; read by the agent's ingest
	// known is the local sources' localSource.known: whether the queue
	// has a file in this version already.
	known func(source, path string, size int64, mtime time.Time) bool

	mu      sync.RWMutex // guards running and ctx
	running map[string]*running
	ctx     context.Context // the agent's Run context; nil before Run and after it ends
	wg      sync.WaitGroup  // the sources' goroutines
}

// running is one source and, once started, its goroutine.
type running struct {
	cfg    config.Source
	src    Source
	cancel context.CancelFunc // nil when not started
	done   chan struct{}      // closed when its Run returned; nil when not started
}

func newSupervisor(log *slog.Logger, watch bool, known func(source, path string, size int64, mtime time.Time) bool) *supervisor {
	return &supervisor{log: log, watch: watch, known: known, found: make(chan []watcher.File), running: map[string]*running{}}
}

// get returns the source of that name: a configured one, or push's.
func (s *supervisor) get(name string) (Source, bool) {
	if name == PushSource {
		return pushSource{}, true
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.running[name]
	if !ok {
		return nil, false
	}
	return r.src, true
}

// configured lists the configured sources, by name.
func (s *supervisor) configured() []*running {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*running, 0, len(s.running))
	for _, r := range s.running {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].cfg.Name < out[j].cfg.Name })
	return out
}

// apply makes the running sources those of cfgs: it stops the sources no
// longer there and those whose settings changed, then starts the new and
// changed ones. A source that cannot be made keeps its old self running
// and is reported in the error; the others are applied regardless.
func (s *supervisor) apply(cfgs []config.Source) (added, removed, changed []string, err error) {
	want := make(map[string]config.Source, len(cfgs))
	for _, sc := range cfgs {
		want[sc.Name] = sc
	}
	s.mu.Lock()
	var stop []*running
	for name, r := range s.running {
		sc, ok := want[name]
		switch {
		case !ok:
			removed = append(removed, name)
		case !reflect.DeepEqual(sc, r.cfg):
			changed = append(changed, name)
		default:
			continue
		}
		stop = append(stop, r)
		delete(s.running, name)
	}
	s.mu.Unlock()
	for _, r := range stop {
		r.stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range cfgs {
		if _, ok := s.running[sc.Name]; ok {
			continue
		}
		src, nerr := s.newSource(sc)
		if nerr != nil {
			if err == nil {
				err = nerr
			}
			continue
		}
		if !contains(changed, sc.Name) {
			added = append(added, sc.Name)
		}
		r := &running{cfg: sc, src: src}
		s.running[sc.Name] = r
		if s.ctx != nil {
			s.start(r)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed, err
}

// newSource makes the source sc configures.
func (s *supervisor) newSource(sc config.Source) (Source, error) {
	if sc.IsFTP() {
		return newFTPSource(sc, s.log)
	}
	ls, err := newLocalSource(sc, s.watch, s.log)
	if err != nil {
		return nil, err
	}
	ls.known = s.known
	return ls, nil
}

// run starts every source and returns once ctx has ended and all of them
// have returned.
func (s *supervisor) run(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	if s.watch {
		for _, r := range s.running {
			s.start(r)
		}
	}
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.ctx = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// start runs r's source until its own cancel or the agent's end. s.mu is
// held.
func (s *supervisor) start(r *running) {
	if !s.watch {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(r.done)
		if err := r.src.Run(ctx, s.found); err != nil && ctx.Err() == nil {
			s.log.Error("watcher stopped", "source", r.cfg.Name, "err", err)
		}
	}()
}

// stop ends the source's goroutine, if it runs, and waits for it.
func (r *running) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
