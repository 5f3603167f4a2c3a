package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent"
)

// Exit codes of `vela-agent status`; statusLong documents them.
const (
	statusHealthy    = 0 // running, nothing needs attention
	statusError      = 1 // the status could not be read
	statusNotRunning = 2 // no agent runs; the state file was read
	statusAttention  = 3 // running, but paused or with problems
)

const statusLong = `Show the queue counts, pauses and why, uploads in flight, parked jobs and
recent problems: from the running agent's status page (status.listen), or
from the state file when no agent runs.

Exit status:
  0  the agent is running and nothing needs attention
  1  the status could not be read (configuration, state file, status page)
  2  the agent is not running (what is shown comes from the state file)
  3  the agent is running, but uploads are paused or something needs fixing
     (the "needs attention" lines; "problems" and "paused" in --json)`

func statusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the queue, pauses and recent problems",
		Long:  statusLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			st, live, err := readStatus(cmd.Context(), cfg.Status.Listen, agent.StateFile(cfg))
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(st); err != nil {
					return err
				}
			} else {
				printStatus(os.Stdout, st, live)
			}
			if code := statusCode(st, live); code != statusHealthy {
				return &exitError{code: code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

// statusCode is the exit code for a status read from a running agent
// (live) or from the state file.
func statusCode(st *agent.Status, live bool) int {
	switch {
	case !live:
		return statusNotRunning
	case st.NeedsAttention() != "":
		return statusAttention
	default:
		return statusHealthy
	}
}

// readStatus asks the running agent, or reads the state file when none runs.
func readStatus(ctx context.Context, listen, stateFile string) (st *agent.Status, live bool, err error) {
	if listen != "" {
		st, err := fetchStatus(ctx, "http://"+listen+"/status")
		if err == nil {
			return st, true, nil
		}
	}
	q, err := agent.OpenQueue(stateFile, agent.QueueOptions{ReadOnly: true, Wait: 500 * time.Millisecond})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, &exitError{code: statusNotRunning,
			msg: fmt.Sprintf("vela-agent has not run with this configuration yet (no state file at %s)", stateFile)}
	}
	if errors.Is(err, agent.ErrLocked) {
		return nil, false, fmt.Errorf("an agent is running on %s but its status page (status.listen) is off or unreachable", stateFile)
	}
	if err != nil {
		return nil, false, err
	}
	defer q.Close()
	st, err = q.Status()
	return st, false, err
}

func fetchStatus(ctx context.Context, url string) (*agent.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var st agent.Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&st); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return &st, nil
}

// printStatus writes st for people. Every name and message in it comes
// from outside (file names, server replies) and goes through esc.
func printStatus(w io.Writer, st *agent.Status, live bool) {
	if live {
		fmt.Fprintf(w, "vela-agent %s running since %s\n", esc(st.Version), st.Started.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "vela-agent is not running (state from %s)\n", esc(st.StateFile))
	}
	if len(st.Paused) == 0 {
		fmt.Fprintln(w, "uploads: active")
	}
	gateLines := map[string]bool{}
	for _, gt := range st.Paused {
		fmt.Fprintf(w, "PAUSED (%s) since %s: %s\n", esc(gt.Name), gt.Since.Format(time.RFC3339), esc(gt.Reason))
		gateLines[agent.GateProblem(gt)] = true
	}
	var attention []string
	for _, p := range st.Problems {
		if !gateLines[p] { // a pause is shown above, with its time
			attention = append(attention, p)
		}
	}
	if len(attention) > 0 {
		fmt.Fprintln(w, "needs attention:")
		for _, p := range attention {
			fmt.Fprintf(w, "  %s\n", esc(p))
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range agent.States() {
		fmt.Fprintf(tw, "%s\t%d\n", s, st.Counts[s.String()])
	}
	tw.Flush()
	if live {
		fmt.Fprintf(w, "\nuploaded since start: %d files, %s\n", st.Uploaded, humanBytes(st.UploadedBytes))
	}
	if len(st.Sources) > 0 {
		fmt.Fprintln(w, "\nsources:")
		for _, s := range st.Sources {
			line := fmt.Sprintf("  %s  %s  (%s)", esc(s.Name), esc(s.Path), esc(s.Mode))
			if s.Reason != "" {
				line += ": " + esc(s.Reason)
			}
			if s.Problem != "" {
				line += "  PROBLEM (see above)"
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(st.Active) > 0 {
		fmt.Fprintln(w, "\nuploading:")
		sort.Slice(st.Active, func(i, j int) bool { return st.Active[i].Job < st.Active[j].Job })
		for _, t := range st.Active {
			fmt.Fprintf(w, "  #%d %s  %s / %s\n", t.Job, esc(t.File), humanBytes(t.Sent), humanBytes(t.Size))
		}
	}
	if len(st.Parked) > 0 {
		fmt.Fprintln(w, "\nparked (fix, then `vela-agent queue retry ID`):")
		for _, j := range st.Parked {
			fmt.Fprintf(w, "  #%d %s/%s: %s\n", j.ID, esc(j.Source), esc(j.Path), esc(j.Reason))
		}
	}
	if len(st.Recent) > 0 {
		fmt.Fprintln(w, "\nrecent problems:")
		for _, e := range st.Recent {
			fmt.Fprintf(w, "  %s #%d %s: %s\n", e.Time.Format(time.TimeOnly), e.Job, esc(e.File), esc(e.Error))
		}
	}
	if len(st.MetaWarnings) > 0 {
		fmt.Fprintln(w, "\nrecent metadata warnings (sent without the value; check with `vela-agent explain FILE`):")
		for _, e := range st.MetaWarnings {
			fmt.Fprintf(w, "  %s #%d %s: %s\n", e.Time.Format(time.TimeOnly), e.Job, esc(e.File), esc(e.Error))
		}
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
