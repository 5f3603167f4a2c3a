package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
)

func queueCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List, retry or forget jobs",
		Long: `List, retry or forget jobs: through the running service (over its local
listener, status.listen, with the secret in state_dir/admin.token: run as
root or as the service user), or on the state file when it is stopped.`,
	}
	var state, source string
	var limit int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := agent.ListFilter{Source: source, Limit: limit}
			if state != "" {
				s, err := agent.ParseState(state)
				if err != nil {
					return err
				}
				f.State = s
			}
			if limit <= 0 {
				return fmt.Errorf("--limit %d: want at least 1", limit)
			}
			var jobs []agent.AdminJob
			err := withAdmin(g, true,
				func(ctx context.Context, c *agent.AdminClient) (err error) {
					jobs, err = c.List(ctx, f)
					return err
				},
				func(q *agent.Queue) error {
					js, err := q.ListJobs(f)
					for _, j := range js {
						jobs = append(jobs, agent.ViewJob(j))
					}
					return err
				})
			if err != nil {
				return err
			}
			if asJSON {
				if jobs == nil {
					jobs = []agent.AdminJob{}
				}
				return printJSON(jobs)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tSOURCE\tPATH\tUPDATED\tREASON")
			for _, j := range jobs {
				reason := j.Reason
				if reason == "" {
					reason = j.LastError
				}
				if reason == "" && len(j.Warnings) > 0 {
					reason = fmt.Sprintf("warning: %s", strings.Join(j.Warnings, "; "))
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.State, esc(j.Source), esc(j.Path), j.Updated.Local().Format(time.DateTime), esc(reason))
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&state, "state", "", "only jobs in this state (queued, ready, presigned, uploaded, done, parked, skipped...)")
	list.Flags().StringVar(&source, "source", "", "only jobs of this source (as named in the configuration; @push for pushed files)")
	list.Flags().IntVar(&limit, "limit", 100, "list at most this many jobs")
	list.Flags().BoolVar(&asJSON, "json", false, "print the jobs as JSON, with their warnings, metadata and references")

	var allParked bool
	retry := &cobra.Command{
		Use:   "retry ID...|--all-parked",
		Short: "Queue parked or skipped jobs again",
		RunE: func(cmd *cobra.Command, args []string) error {
			if allParked == (len(args) > 0) {
				return errors.New("give job ids or --all-parked")
			}
			ids, err := jobIDs(args)
			if err != nil {
				return err
			}
			var res []agent.AdminResult
			err = withAdmin(g, false,
				func(ctx context.Context, c *agent.AdminClient) (err error) {
					res, err = c.Retry(ctx, ids, allParked)
					return err
				},
				func(q *agent.Queue) (err error) {
					if allParked {
						res, err = q.RetryParked()
						return err
					}
					res = each(ids, q.Retry)
					return nil
				})
			if err != nil {
				return err
			}
			if allParked && len(res) == 0 {
				fmt.Println("no parked jobs")
			}
			return report(res, "retry", "queued again")
		},
	}
	retry.Flags().BoolVar(&allParked, "all-parked", false, "queue every parked job again")

	forget := &cobra.Command{
		Use:   "forget ID...",
		Short: "Drop jobs from the work: their files are never uploaded",
		Long: `Drop jobs from the work: each becomes skipped ("forgotten by an admin") and
its file version stays known, so that it is never uploaded again (a newer
version of the file is). A job being uploaded right now, or already
uploaded, is refused. ` + "`queue retry ID`" + ` takes a forgotten job back.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := jobIDs(args)
			if err != nil {
				return err
			}
			var res []agent.AdminResult
			err = withAdmin(g, false,
				func(ctx context.Context, c *agent.AdminClient) (err error) {
					res, err = c.Forget(ctx, ids)
					return err
				},
				func(q *agent.Queue) error {
					res = each(ids, q.Forget)
					return nil
				})
			if err != nil {
				return err
			}
			return report(res, "forget", "forgotten: it will not be uploaded")
		},
	}
	cmd.AddCommand(list, retry, forget)
	return cmd
}

func jobIDs(args []string) ([]uint64, error) {
	ids := make([]uint64, len(args))
	for i, a := range args {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("job id %q is not a number", a)
		}
		ids[i] = id
	}
	return ids, nil
}

// each runs do on every id and says how each went.
func each(ids []uint64, do func(uint64) error) []agent.AdminResult {
	res := make([]agent.AdminResult, len(ids))
	for i, id := range ids {
		res[i].ID = id
		if err := do(id); err != nil {
			res[i].Error = err.Error()
		}
	}
	return res
}

// report prints a line per job and fails if any job failed.
func report(res []agent.AdminResult, verb, done string) error {
	failed := 0
	for _, r := range res {
		if r.Error != "" {
			fmt.Fprintf(os.Stderr, "%s job %d: %s\n", verb, r.ID, esc(r.Error))
			failed++
			continue
		}
		fmt.Printf("job %d %s\n", r.ID, done)
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d job(s) not changed", failed, len(res))}
	}
	return nil
}

// service returns a client of the running service's admin API, or nil
// when no service runs with this configuration (or its configuration
// cannot be read: the command then reports why as it goes on alone).
func (g *globals) service() (*agent.AdminClient, error) {
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, nil
	}
	c, err := agent.DialAdmin(context.Background(), cfg)
	switch {
	case errors.Is(err, agent.ErrNotRunning):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return c, nil
}

// withAdmin runs remote through the running service, or local on the state
// file when none runs.
func withAdmin(g *globals, readOnly bool, remote func(context.Context, *agent.AdminClient) error, local func(*agent.Queue) error) error {
	c, err := g.service()
	if err != nil {
		return err
	}
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return remote(ctx, c)
	}
	return withQueue(g, readOnly, local)
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
