package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vela-agent/vela-agent/agent"
)

func pushCmd(g *globals) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "push FILE|DIR...",
		Short: "Upload files now through the same queue, then exit",
		Long: `Queue the files (folders are searched for .wav, .mp3, .m4a and .flac) and
upload them through the same queue as the service, with a progress bar per
file. Exits 0 when every file is uploaded or was already, 1 otherwise.

When the service runs, the files are handed to it over its local listener
(status.listen, with the secret in state_dir/admin.token: run as root or as
the service user) and push shows their progress from its status. When it is
stopped, push uploads them itself.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			quiet := quiet || !term.IsTerminal(int(os.Stderr.Fd()))
			c, err := g.service()
			if err != nil {
				return err
			}
			if c != nil {
				return pushToService(c, args, quiet)
			}
			ctx, a, closeAgent, err := g.openAgent(io.Discard, true)
			if err != nil {
				return err
			}
			defer closeAgent()
			pushed, err := a.QueueFiles(args)
			if err != nil {
				return err
			}
			fin := newFinished()
			a.OnRelease(fin.add)
			runCtx, cancel := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- a.Run(runCtx) }()
			jobs := make([]pushedFile, len(pushed))
			for i, p := range pushed {
				jobs[i] = pushedFile{path: p.Path, id: p.Job}
			}
			failed := watchPush(ctx, localFeed{a: a, fin: fin}, jobs, quiet)
			cancel()
			<-ran
			return pushResult(ctx, failed, len(pushed))
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bars, one line per file")
	return cmd
}

// pushToService hands the files to the running service and follows them.
func pushToService(c *agent.AdminClient, args []string, quiet bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pushed, err := c.Push(ctx, args)
	if err != nil {
		return err
	}
	feed := &serviceFeed{ctx: ctx, c: c, known: map[uint64]agent.AdminJob{}}
	jobs := make([]pushedFile, len(pushed))
	for i, p := range pushed {
		jobs[i] = pushedFile{path: p.Path}
		if p.Job != nil {
			jobs[i].id = p.Job.ID
			feed.known[p.Job.ID] = *p.Job
		}
	}
	failed := watchPush(ctx, feed, jobs, quiet)
	return pushResult(ctx, failed, len(pushed))
}

func pushResult(ctx context.Context, failed, pushed int) error {
	if ctx.Err() != nil {
		return &exitError{code: 130, msg: "interrupted; the queue keeps what was not uploaded"}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d file(s) not uploaded", failed, pushed)}
	}
	return nil
}

// pushedFile is one file given to push and its job, 0 if it was uploaded
// long enough ago to be pruned.
type pushedFile struct {
	path string
	id   uint64
}

// pushFeed is where watchPush learns how the pushed jobs fare: the agent
// push runs itself, or the running service.
type pushFeed interface {
	// job returns a pushed job as it was when pushed.
	job(id uint64) (agent.AdminJob, error)
	// ended returns the jobs among pending that have finished since the
	// last call.
	ended(pending map[uint64]string) ([]agent.AdminJob, error)
	// more has a token when ended has news before the next tick; nil if
	// the feed is only polled.
	more() <-chan struct{}
	status() (*agent.Status, error)
}

// localFeed follows the jobs of the agent push runs itself.
type localFeed struct {
	a   *agent.Agent
	fin *finished
}

func (f localFeed) job(id uint64) (agent.AdminJob, error) {
	j, err := f.a.Job(id)
	if err != nil {
		return agent.AdminJob{}, err
	}
	return agent.ViewJob(j), nil
}

func (f localFeed) ended(map[uint64]string) ([]agent.AdminJob, error) {
	var out []agent.AdminJob
	for _, j := range f.fin.take() {
		out = append(out, agent.ViewJob(&j))
	}
	return out, nil
}

func (f localFeed) more() <-chan struct{}          { return f.fin.more }
func (f localFeed) status() (*agent.Status, error) { return f.a.Status() }

// serviceFeed follows the jobs of the running service through its admin
// API and status.
type serviceFeed struct {
	ctx   context.Context
	c     *agent.AdminClient
	known map[uint64]agent.AdminJob // as the push reply gave them
}

func (f *serviceFeed) job(id uint64) (agent.AdminJob, error) {
	if j, ok := f.known[id]; ok {
		return j, nil
	}
	jobs, err := f.c.Jobs(f.ctx, []uint64{id})
	if err != nil {
		return agent.AdminJob{}, err
	}
	return jobs[0], nil
}

func (f *serviceFeed) ended(pending map[uint64]string) ([]agent.AdminJob, error) {
	ids := make([]uint64, 0, len(pending))
	for id := range pending {
		ids = append(ids, id)
	}
	jobs, err := f.c.Jobs(f.ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []agent.AdminJob
	for _, j := range jobs {
		if !active(j) {
			out = append(out, j)
		}
	}
	return out, nil
}

func (f *serviceFeed) more() <-chan struct{}          { return nil }
func (f *serviceFeed) status() (*agent.Status, error) { return f.c.Status(f.ctx) }

// active reports whether j still has work to do.
func active(j agent.AdminJob) bool {
	s, err := agent.ParseState(j.State)
	return err == nil && s.Active()
}

// maxFeedErrors is how many failures in a row to read the pushed jobs end
// the watch: the service has stopped answering.
const maxFeedErrors = 50

// finished collects the jobs the workers released in a final state.
type finished struct {
	mu   sync.Mutex
	jobs []agent.Job
	more chan struct{} // holds a token while jobs has news
}

func newFinished() *finished { return &finished{more: make(chan struct{}, 1)} }

func (f *finished) add(j agent.Job) {
	if j.State.Active() {
		return
	}
	f.mu.Lock()
	f.jobs = append(f.jobs, j)
	f.mu.Unlock()
	select {
	case f.more <- struct{}{}:
	default:
	}
}

func (f *finished) take() []agent.Job {
	f.mu.Lock()
	defer f.mu.Unlock()
	jobs := f.jobs
	f.jobs = nil
	return jobs
}

// watchPush follows the pushed jobs until each has finished, failed or is
// stuck behind a pause, and reports on each. It returns how many failed.
func watchPush(ctx context.Context, feed pushFeed, pushed []pushedFile, quiet bool) int {
	bars := map[uint64]*progressbar.ProgressBar{}
	pending := map[uint64]string{}
	failed := 0
	for _, p := range pushed {
		if p.id == 0 {
			fmt.Fprintf(os.Stderr, "%s: already uploaded\n", esc(p.path))
			continue
		}
		j, err := feed.job(p.id)
		switch {
		case err != nil:
			fmt.Fprintf(os.Stderr, "%s: %s\n", esc(p.path), esc(err.Error()))
			failed++
		case j.State == agent.StateDone.String():
			fmt.Fprintf(os.Stderr, "%s: already uploaded\n", esc(p.path))
		case !active(j):
			fmt.Fprintf(os.Stderr, "%s: not uploaded earlier (%s: %s); see `vela-agent queue retry %d`\n", esc(p.path), j.State, esc(j.Reason), j.ID)
			failed++
		default:
			pending[p.id] = p.path
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	feedErrors := 0
	for len(pending) > 0 {
		ticked := false
		select {
		case <-ctx.Done():
			return failed
		case <-tick.C:
			ticked = true
		case <-feed.more():
		}
		ended, err := feed.ended(pending)
		if err != nil {
			if feedErrors++; feedErrors >= maxFeedErrors {
				fmt.Fprintln(os.Stderr, "the service stopped answering:", esc(err.Error()))
				return failed + len(pending)
			}
			continue
		}
		feedErrors = 0
		for _, j := range ended {
			path, ok := pending[j.ID]
			if !ok {
				continue
			}
			delete(pending, j.ID)
			msg := "uploaded"
			switch j.State {
			case agent.StateParked.String():
				msg, failed = "NOT uploaded: "+j.Reason, failed+1
			case agent.StateSkipped.String():
				msg, failed = "skipped: "+j.Reason, failed+1
			}
			if bar := bars[j.ID]; bar != nil {
				bar.Finish()
				fmt.Fprintln(os.Stderr)
			}
			fmt.Fprintf(os.Stderr, "%s: %s\n", esc(path), esc(msg))
		}
		if !ticked || len(pending) == 0 {
			continue // progress and pauses are looked at on the tick
		}
		st, err := feed.status()
		if err != nil {
			fmt.Fprintln(os.Stderr, "status:", esc(err.Error()))
			continue
		}
		if !quiet {
			for _, t := range st.Active {
				if _, ok := pending[t.Job]; !ok {
					continue
				}
				bar := bars[t.Job]
				if bar == nil {
					bar = progressbar.DefaultBytes(t.Size, esc(filepath.Base(t.File)))
					bars[t.Job] = bar
				}
				bar.Set64(t.Sent)
			}
		}
		if len(st.Paused) > 0 && len(pending) > 0 {
			for _, gt := range st.Paused {
				fmt.Fprintf(os.Stderr, "paused (%s): %s\n", esc(gt.Name), esc(gt.Reason))
			}
			return failed + len(pending)
		}
	}
	return failed
}
