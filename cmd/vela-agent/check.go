package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent"
)

func checkCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Try the API and every source step by step and exit 1 if something fails",
		Long: `Check tries what the agent needs, in the order it needs it, and says in
plain words what works and what does not: the API credential is read and
exchanged for an access token and the organisation exists; each local folder
exists, can be listed and, when files are deleted or moved after upload, can
be written to; each FTP server resolves, accepts a TCP connection, completes
TLS (saying what is wrong with its certificate), accepts the login and lists
its folder. FTP steps have the source's timeout, API requests api.timeout,
local steps 30s. Nothing is uploaded or downloaded; the only thing written is
an empty .vela-agent-check-* file in a folder that must be writable, removed
at once.

Exits 0 when every step passes, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res := agent.Check(ctx, cfg)
			printCheck(os.Stdout, res)
			if agent.CheckFailed(res) {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}

// printCheck writes one line per step, source, step, "ok" or "FAILED" and
// the detail, then a summary line.
func printCheck(w io.Writer, res []agent.CheckResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	bad := 0
	for _, r := range res {
		verdict := "ok"
		if !r.OK {
			verdict = "FAILED"
			bad++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", esc(r.Source), r.Step, verdict, esc(r.Detail))
	}
	tw.Flush()
	if bad == 0 {
		fmt.Fprintf(w, "all %d steps passed\n", len(res))
	} else {
		fmt.Fprintf(w, "%d of %d steps FAILED\n", bad, len(res))
	}
}
