package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
)

func stateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Check, salvage, compact or reset the state file (the agent must be stopped)",
		Long: `The state file (queue.db in state_dir) is the agent's record of every file
it has found and uploaded. A marker next to it (queue.db.created) tells a new
install from a lost state: the agent refuses to start on a state file that is
empty, or missing where the marker says one was, and on one that is damaged,
rather than upload every file again.

  check    verify every page and record of the state file; exit 0 if good, 1 if not
  salvage  copy what is readable into a new state file, keeping the damaged one
  compact  rewrite the state file with its live data only, to make it smaller
  reset    start a new, empty state file, keeping the old one`,
	}
	cmd.AddCommand(stateCheckCmd(g), stateSalvageCmd(g), stateCompactCmd(g), stateResetCmd(g))
	return cmd
}

func stateCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify the state file; exit 0 if it is good, 1 if not",
		Long: `Check every bbolt page of the state file, run bbolt's consistency check, then
the queue's own: every job record readable, every index and counter in
agreement with the jobs. Exits 0 if the file is good, 1 if not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			path := agent.StateFile(cfg)
			q, err := agent.OpenQueue(path, agent.QueueOptions{ReadOnly: true})
			if err != nil {
				return stateError(g, err)
			}
			defer q.Close()
			warnings, err := q.Verify()
			for _, w := range warnings {
				fmt.Fprintf(os.Stderr, "warning: %s: %s\n", path, w)
			}
			if errors.Is(err, agent.ErrCorrupt) {
				err = fmt.Errorf("%w: run `vela-agent state salvage` to rebuild the indexes and counters from the jobs", err)
			}
			if err != nil {
				return stateError(g, err)
			}
			counts, err := q.Counts()
			if err != nil {
				return err
			}
			var jobs int
			for _, n := range counts {
				jobs += n
			}
			fmt.Printf("%s: OK (%d jobs)\n", path, jobs)
			return nil
		},
	}
}

func stateSalvageCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "salvage",
		Short: "Copy what is readable of a damaged state file into a new one",
		Long: `Copy every readable job, seen file and pause of the state file into a new
state file, rebuilding its indexes and counters, and say what was lost.

Without -o, the new file takes the place of the old one, which is kept as
queue.db.damaged-TIME. With -o, the new file is written there and the old one
is left as it is.

The files of jobs lost before they finished are uploaded again once the agent
finds them. Files whose job was lost in an unknown state are listed: the
agent takes them as uploaded; push any that is not in Vela.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			rep, err := agent.SalvageState(agent.StateFile(cfg), out)
			if err != nil {
				return stateError(g, err)
			}
			printSalvage(os.Stdout, rep)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the new state file here (it must not exist) and leave the damaged one in place")
	return cmd
}

// maxUnknown is how many files of unknown state salvage lists.
const maxUnknown = 20

func printSalvage(w io.Writer, rep *agent.SalvageReport) {
	if rep.Aside != "" {
		fmt.Fprintf(w, "salvaged %s; the damaged file is kept as %s\n", rep.To, rep.Aside)
	} else {
		fmt.Fprintf(w, "salvaged %s into %s\n", rep.From, rep.To)
	}
	lost := fmt.Sprintf("%d lost", rep.JobsLost)
	if rep.JobsLostAtLeast {
		lost = fmt.Sprintf("at least %d lost (the old counters are unreadable)", rep.JobsLost)
	}
	fmt.Fprintf(w, "  jobs:  %d copied, %s\n", rep.Jobs, lost)
	fmt.Fprintf(w, "  seen files:  %d copied, %d rebuilt from their job\n", rep.Seen, rep.SeenRebuilt)
	if rep.SeenDropped > 0 {
		fmt.Fprintf(w, "  %d file(s) whose job was lost before it finished will be uploaded again once found\n", rep.SeenDropped)
	}
	if n := len(rep.Unknown); n > 0 {
		fmt.Fprintf(w, "  %d file(s) whose job was lost in an unknown state are taken as uploaded; push any that is not in Vela:\n", n)
		for _, f := range rep.Unknown[:min(n, maxUnknown)] {
			fmt.Fprintf(w, "    %s\n", f)
		}
		if n > maxUnknown {
			fmt.Fprintf(w, "    ... and %d more\n", n-maxUnknown)
		}
	}
	fmt.Fprintf(w, "  pauses:  %d copied\n", rep.Gates)
	if len(rep.Damage) > 0 {
		fmt.Fprintln(w, "  unreadable:")
		for _, d := range rep.Damage {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
	if !rep.Lost() {
		fmt.Fprintln(w, "  nothing was lost")
	}
}

func stateCompactCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "compact",
		Short: "Rewrite the state file with its live data only, to make it smaller",
		Long: `The state file never shrinks by itself: the room of pruned jobs, and that
left in pages, stays in the file for later use. Compact copies the live data
into a new file next to it (queue.db.compact), every page filled, and renames
it over the old one. It needs free disk space about the size of the live
data. A crash meanwhile leaves the old file or the new one, whole; an
unfinished copy is removed when the state file is next opened. Prints the
sizes before and after.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			path := agent.StateFile(cfg)
			q, err := agent.OpenQueue(path, agent.QueueOptions{})
			if err != nil {
				return stateError(g, err)
			}
			// Interrupted, the copy is removed and the state file stays
			// as it was.
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := q.Compact(ctx)
			if cerr := q.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return stateError(g, err)
			}
			printCompact(os.Stdout, path, rep)
			return nil
		},
	}
}

func printCompact(w io.Writer, path string, rep agent.CompactReport) {
	fmt.Fprintf(w, "compacted %s in %v\n  before: %s\n  after:  %s\n", path, rep.Took.Round(time.Millisecond), sizeText(rep.Before), sizeText(rep.After))
}

func stateResetCmd(g *globals) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Start a new, empty state file; every file in the sources is then uploaded again",
		Long: `Move the state file aside as queue.db.reset-TIME and start a new, empty one.
The agent then knows no file: it treats every file in the sources as new and
uploads it again (files already deleted or moved by after_upload are not).
Restore a backup instead if you have one; salvage a damaged file instead if
it holds anything readable. Needs --yes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			path := agent.StateFile(cfg)
			if !yes {
				return &exitError{code: 1, msg: fmt.Sprintf("not reset: this moves %s aside and starts a new, empty state file, "+
					"after which every file in the sources is uploaded again; add --yes to do it", path)}
			}
			aside, err := agent.ResetState(path)
			if err != nil {
				return stateError(g, err)
			}
			if aside != "" {
				fmt.Printf("the old state file is kept as %s\n", aside)
			}
			fmt.Printf("started a new, empty state file %s: the agent treats every file in the sources as new and uploads it again\n", path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really reset")
	return cmd
}

// acceptNewState is `run --accept-new-state`: it starts a new state file if
// the configured one is lost (missing or empty), and says so. A damaged file
// it leaves for `state salvage`.
func acceptNewState(g *globals) error {
	// openAgent loads the configuration again, and prints its warnings.
	cfg, err := config.Load(g.config)
	if err != nil {
		return err
	}
	path := agent.StateFile(cfg)
	started, err := agent.AcceptNewState(path)
	if err != nil {
		return stateError(g, err)
	}
	if started {
		fmt.Fprintf(os.Stderr, "vela-agent: the state file %s was lost; started a new one as --accept-new-state asks: "+
			"every file in the sources is treated as new and uploaded again\n", path)
	}
	return nil
}

// stateError adds to an error about the state file the configuration that
// the commands it names need, when it is not the default one.
func stateError(g *globals, err error) error {
	if g.config != defaultConfig() && (errors.Is(err, agent.ErrDamaged) || errors.Is(err, agent.ErrLostState) || errors.Is(err, agent.ErrCorrupt)) {
		return fmt.Errorf("%w (give those commands -c %s)", err, g.config)
	}
	return err
}
