package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vela-agent/vela-agent/agent/config"
)

// reloadSettle is how long the configuration file must stay quiet after a
// change before it is read: editors write a file in several steps.
var reloadSettle = 500 * time.Millisecond

// configWatch is the state of hot reload: what asked for one, and what
// was wrong with the last file read.
type configWatch struct {
	now chan struct{} // a reload asked for by hand (SIGHUP); holds at most one

	mu      sync.Mutex // guards problem
	problem string     // why the file in force is not the one on disk; "" if it is
}

// ReloadConfig asks a running agent to read its configuration file again,
// as a change of the file does (SIGHUP). It does not wait.
func (a *Agent) ReloadConfig() {
	select {
	case a.reload.now <- struct{}{}:
	default:
	}
}

// SetLogLevel lets a reload change the log level: level is the one the
// logger given to the agent reads. Call it before Run.
func (a *Agent) SetLogLevel(level *slog.LevelVar) { a.level = level }

// watchConfig reloads the configuration when its file changes or when
// ReloadConfig asks, until ctx ends. The folder is watched, not the file,
// so that a file replaced by an editor (written to a temporary name, then
// renamed) is seen too. A file that does not load is refused: its
// problems are logged and shown in status, and the agent keeps the
// configuration it has.
func (a *Agent) watchConfig(ctx context.Context) {
	file := a.config().File
	if file == "" {
		return
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(file)); err != nil {
			w.Close()
		}
	}
	var events <-chan fsnotify.Event
	if err != nil {
		a.log.Warn("the configuration file is not watched for changes; send SIGHUP to reload it", "file", file, "err", err)
	} else {
		defer w.Close()
		events = w.Events
		go func() { // errors are hints: the next event or SIGHUP reloads
			for range w.Errors {
			}
		}()
	}
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Clean(ev.Name) == filepath.Clean(file) {
				settle = time.After(reloadSettle)
			}
		case <-settle:
			settle = nil
			a.reloadFile(file, "the file changed")
		case <-a.reload.now:
			a.reloadFile(file, "asked to (SIGHUP)")
		}
	}
}

// reloadFile reads the configuration file and puts it in force if it is
// valid and different from the one in force.
func (a *Agent) reloadFile(file, why string) {
	cfg, err := config.Load(file)
	if err != nil {
		var errs config.Errors
		lines := []string{err.Error()}
		if errors.As(err, &errs) {
			lines = lines[:0]
			for _, e := range errs {
				lines = append(lines, e.Error())
			}
		}
		for _, l := range lines {
			a.log.Error("configuration refused; the agent keeps the one it has", "problem", l)
		}
		a.reload.set(fmt.Sprintf("the configuration file was not reloaded (%d problem(s)): %s; the agent runs on the configuration it had", len(lines), strings.Join(lines, "; ")))
		return
	}
	a.reload.set("")
	for _, w := range cfg.Warnings {
		a.log.Warn("configuration", "warning", w.Error())
	}
	if a.level != nil {
		a.level.Set(cfg.Log.SlogLevel())
	}
	a.log.Info("reloading the configuration", "file", file, "why", why)
	if _, err := a.Reload(cfg); err != nil {
		a.log.Error("configuration partly applied", "err", err)
		a.reload.set("the new configuration was partly applied: " + err.Error())
	}
}

func (c *configWatch) set(problem string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problem = problem
}

func (c *configWatch) get() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.problem
}
