package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/store"
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
			cfg, err := g.load()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := agent.Open(cfg, logger(cfg, io.Discard), true)
			if err != nil {
				return err
			}
			defer a.Close()
			pushed, err := a.QueueFiles(args)
			if err != nil {
				return err
			}
			runCtx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- a.Run(runCtx) }()
			failed := watchPush(ctx, a, pushed, quiet || !term.IsTerminal(int(os.Stderr.Fd())))
			cancel()
			<-done
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

// watchPush follows the pushed jobs until each has finished, failed or is
// stuck behind a pause, and reports on each. It returns how many failed.
func watchPush(ctx context.Context, a *agent.Agent, pushed []agent.Pushed, quiet bool) int {
	bars := map[uint64]*progressbar.ProgressBar{}
	pending := map[uint64]string{}
	failed := 0
	for _, p := range pushed {
		if p.Job == 0 {
			fmt.Fprintf(os.Stderr, "%s: already uploaded\n", p.Path)
			continue
		}
		pending[p.Job] = p.Path
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for len(pending) > 0 {
		select {
		case <-ctx.Done():
			return failed
		case <-tick.C:
		}
		st, err := a.Status()
		if err != nil {
			fmt.Fprintln(os.Stderr, "status:", err)
			continue
		}
		if !quiet {
			for _, t := range st.Active {
				if _, ok := pending[t.Job]; !ok {
					continue
				}
				bar := bars[t.Job]
				if bar == nil {
					bar = progressbar.DefaultBytes(t.Size, filepath.Base(t.File))
					bars[t.Job] = bar
				}
				bar.Set64(t.Sent)
			}
		}
		for id, path := range pending {
			j, err := a.Store().Get(id)
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) {
					fmt.Fprintln(os.Stderr, path+":", err)
				}
				failed++
				delete(pending, id)
				continue
			}
			msg := ""
			switch j.State {
			case store.Done, store.Uploaded:
				if bar := bars[id]; bar != nil {
					bar.Finish()
				}
				msg = "uploaded"
			case store.Parked:
				msg, failed = "NOT uploaded: "+j.Reason, failed+1
			case store.Skipped:
				msg, failed = "skipped: "+j.Reason, failed+1
			default:
				continue
			}
			delete(pending, id)
			if bars[id] != nil {
				fmt.Fprintln(os.Stderr)
			}
			fmt.Fprintf(os.Stderr, "%s: %s\n", path, msg)
		}
		if len(st.Paused) > 0 {
			for _, gt := range st.Paused {
				fmt.Fprintf(os.Stderr, "paused (%s): %s\n", gt.Name, gt.Reason)
			}
			return failed + len(pending)
		}
	}
	return failed
}
