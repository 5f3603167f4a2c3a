package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent"
)

func baselineCmd(g *globals) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "baseline SOURCE",
		Short: "Record every file a source holds now as handled, without uploading it",
		Long: `Record every file the local source SOURCE holds now as already handled, so
that it is never uploaded: for installing on a folder that keeps years of
recordings, each of which would cost allocation. Files added or changed
afterwards are uploaded as usual. The files are listed in the queue as
skipped, with the reason. Run it with the agent stopped, before its first
start on the folder; sources[].ignore_older does the same by age.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			q, err := agent.OpenQueue(agent.StateFile(cfg), agent.QueueOptions{})
			if errors.Is(err, agent.ErrLocked) {
				return errors.New("the agent is running on this state file: stop it (`vela-agent stop`), then run baseline")
			}
			if err != nil {
				return stateError(g, err)
			}
			defer q.Close()
			progress := func(n int) {
				if !quiet {
					fmt.Fprintf(os.Stderr, "\r%d files recorded", n)
				}
			}
			rep, err := q.Baseline(cfg, args[0], progress)
			if !quiet {
				fmt.Fprintln(os.Stderr)
			}
			if err != nil {
				return err
			}
			fmt.Printf("source %s: %d files recorded as handled, not to be uploaded (%d new, %d already known), in %s\n",
				esc(rep.Source), rep.Files, rep.Added, rep.Known, rep.Took.Round(1e6))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress")
	return cmd
}
