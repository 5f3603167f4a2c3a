package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
)

func zipCmd(g *globals) *cobra.Command {
	var (
		out     string
		force   bool
		quiet   bool
		maxSize = config.ByteSize(agent.DefaultZipMaxSize)
	)
	cmd := &cobra.Command{
		Use:   "zip DIR -o OUT.zip",
		Short: "Pack a folder into bulk ZIPs for Vela's upload page, with their metadata.csv",
		Long: `Pack the recordings under DIR into bulk ZIPs ready for Vela's upload page:
Deflate, lower-case extensions, and a metadata.csv in each ZIP with what the
agent would send for each recording (the same rules as explain: defaults,
file-name pattern, manifest rows, sidecars). Files explain would skip or park
are left out, each with the reason; two recordings of one name are told
apart with _2, _3. The recordings are split into OUT.zip, OUT-2.zip, ...
each below --max-size. Each ZIP is checked as the agent checks the bulk
ZIPs it finds before it is given its name. Nothing is sent.

Exits 0 when at least one ZIP was written, 1 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load("api.refresh_token_file", "api.token_file") // nothing is sent
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o := agent.ZipOptions{MaxSize: int64(maxSize), Force: force, Context: ctx}
			var bar *progressbar.ProgressBar
			if !quiet && term.IsTerminal(int(os.Stderr.Fd())) {
				o.Progress = func(done, total int64) {
					if bar == nil {
						bar = progressbar.DefaultBytes(total, "zip")
					}
					if total != bar.GetMax64() {
						bar.ChangeMax64(total)
					}
					bar.Set64(done)
				}
			}
			rep, err := agent.BuildZips(cfg, args[0], out, o)
			if bar != nil {
				bar.Finish()
			}
			printZipReport(os.Stdout, rep)
			switch {
			case ctx.Err() != nil:
				return &exitError{code: 130, msg: "interrupted; the ZIP being written was removed"}
			case err != nil:
				return err
			case len(rep.Zips) == 0:
				return &exitError{code: 1, msg: "no ZIP written: no file under " + args[0] + " can go in one"}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the first ZIP; the next are OUT-2.zip, OUT-3.zip, ...")
	_ = cmd.MarkFlagRequired("output")
	cmd.Flags().BoolVar(&force, "force", false, "replace ZIPs that exist")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	cmd.Flags().TextVar(&maxSize, "max-size", maxSize, "the largest ZIP, a `size` such as 3GB or 500MB (at most 3GiB)")
	return cmd
}

// printZipReport prints one line per ZIP written, one per file left out
// with why, and the count of manifests and sidecars read.
func printZipReport(w io.Writer, rep *agent.ZipReport) {
	for _, z := range rep.Zips {
		fmt.Fprintf(w, "wrote %s: %d recording(s), %s\n", esc(z.Path), len(z.Recordings), sizeText(z.Size))
	}
	read := 0
	for _, l := range rep.LeftOut {
		if l.Metadata {
			read++
			continue
		}
		fmt.Fprintf(w, "left out %s: %s\n", esc(l.File), esc(l.Reason))
	}
	if read > 0 {
		fmt.Fprintf(w, "read %d manifest(s) and sidecar(s) for the rows of metadata.csv\n", read)
	}
	for _, wn := range rep.Warnings {
		fmt.Fprintf(w, "warning: %s\n", esc(wn))
	}
}

// sizeText is a size in bytes as people read it: 1.2 GB (1234567890 bytes).
func sizeText(n int64) string {
	for _, u := range []struct {
		name string
		size float64
	}{{"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if float64(n) >= u.size {
			return fmt.Sprintf("%.1f %s (%d bytes)", float64(n)/u.size, u.name, n)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
