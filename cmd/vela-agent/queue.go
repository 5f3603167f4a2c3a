package main

import (
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent"
)

func queueCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List jobs or retry parked ones (the agent must be stopped)",
	}
	var state string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var want agent.State
			if state != "" {
				s, err := agent.ParseState(state)
				if err != nil {
					return err
				}
				want = s
			}
			return withQueue(g, true, func(q *agent.Queue) error {
				jobs, err := q.List(want, 0, limit)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tSOURCE\tPATH\tUPDATED\tREASON")
				for _, j := range jobs {
					sum := agent.Summarise(j)
					reason := sum.Reason
					if reason == "" {
						reason = j.LastError
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", sum.ID, sum.State, esc(sum.Source), esc(sum.Path), sum.Updated.Format(time.DateTime), esc(reason))
				}
				return tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&state, "state", "", "only jobs in this state (queued, ready, presigned, uploaded, done, parked, skipped...)")
	list.Flags().IntVar(&limit, "limit", 100, "list at most this many jobs")

	retry := &cobra.Command{
		Use:   "retry ID...",
		Short: "Queue parked or skipped jobs again",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withQueue(g, false, func(q *agent.Queue) error {
				for _, a := range args {
					id, err := strconv.ParseUint(a, 10, 64)
					if err != nil {
						return fmt.Errorf("job id %q is not a number", a)
					}
					if err := q.Retry(id); err != nil {
						return fmt.Errorf("retry job %d: %w", id, err)
					}
					fmt.Printf("job %d queued again\n", id)
				}
				return nil
			})
		},
	}
	cmd.AddCommand(list, retry)
	return cmd
}

// withQueue opens the state file for a command that needs it directly.
func withQueue(g *globals, readOnly bool, f func(*agent.Queue) error) error {
	cfg, err := g.load()
	if err != nil {
		return err
	}
	q, err := agent.OpenQueue(agent.StateFile(cfg), agent.QueueOptions{ReadOnly: readOnly, Wait: time.Second})
	if err != nil {
		return err
	}
	defer q.Close()
	return f(q)
}
