package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
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
file. Exits 0 when every file is uploaded or was already, 1 otherwise. The
service must be stopped: one process owns the queue at a time.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			failed := watchPush(ctx, a, pushed, fin, quiet || !term.IsTerminal(int(os.Stderr.Fd())))
			cancel()
			<-ran
			if ctx.Err() != nil {
				return &exitError{code: 130, msg: "interrupted; the queue keeps what was not uploaded"}
			}
			if failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d of %d file(s) not uploaded", failed, len(pushed))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bars, one line per file")
	return cmd
}

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
func watchPush(ctx context.Context, a *agent.Agent, pushed []agent.Pushed, fin *finished, quiet bool) int {
	bars := map[uint64]*progressbar.ProgressBar{}
	pending := map[uint64]string{}
	failed := 0
	for _, p := range pushed {
		if p.Job == 0 {
			fmt.Fprintf(os.Stderr, "%s: already uploaded\n", esc(p.Path))
			continue
		}
		j, err := a.Job(p.Job)
		switch {
		case err != nil:
			fmt.Fprintf(os.Stderr, "%s: %s\n", esc(p.Path), esc(err.Error()))
			failed++
		case j.State == agent.StateDone:
			fmt.Fprintf(os.Stderr, "%s: already uploaded\n", esc(p.Path))
		case !j.State.Active():
			fmt.Fprintf(os.Stderr, "%s: not uploaded earlier (%s: %s); see `vela-agent queue retry %d`\n", esc(p.Path), j.State, esc(j.Reason), j.ID)
			failed++
		default:
			pending[p.Job] = p.Path
		}
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 {
		ticked := false
		select {
		case <-ctx.Done():
			return failed
		case <-tick.C:
			ticked = true
		case <-fin.more:
		}
		for _, j := range fin.take() {
			path, ok := pending[j.ID]
			if !ok {
				continue
			}
			delete(pending, j.ID)
			msg := "uploaded"
			switch j.State {
			case agent.StateParked:
				msg, failed = "NOT uploaded: "+j.Reason, failed+1
			case agent.StateSkipped:
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
		st, err := a.Status()
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
