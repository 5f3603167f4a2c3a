package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent"
)

// printJSON prints v indented, with terminal-unsafe characters escaped.
func printJSON(v any) error {
	enc := json.NewEncoder(jsonWriter{os.Stdout})
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func explainCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "explain FILE...",
		Short: "Show what would be sent for files, and which rule gave each field, without sending",
		Long: `Show, for each file, what the agent would do with it and the metadata it would
send: every field with the rule that gave it (defaults, file-name pattern,
manifest row, sidecar), the call's duration and every warning. Nothing is
sent and nothing is recorded: use it to check a new folder layout before
going live. Files inside a local source are explained with that source's
rules; others as push would send them.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load("api.refresh_token_file", "api.token_file") // nothing is sent
			if err != nil {
				return err
			}
			ex := agent.Explain(cfg, args)
			if asJSON {
				return printJSON(ex)
			}
			printExplanations(os.Stdout, ex)
			for _, e := range ex {
				if strings.HasPrefix(e.Outcome, "error") {
					return &exitError{code: 1}
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printExplanations prints one block per file: its outcome, then a table
// of fields and where each came from, then its warnings.
func printExplanations(w io.Writer, ex []agent.Explanation) {
	for i, e := range ex {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s\n", esc(e.File))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, esc(v)) }
		if e.Source != "" {
			row("source", e.Source)
		}
		row("kind", e.Kind)
		row("outcome", e.Outcome)
		if e.FileName != "" {
			row("fileName", e.FileName)
		}
		if e.Format != "" {
			row("audio", fmt.Sprintf("%s, %.1f s", e.Format, e.Duration))
		}
		if e.Kind == "manifest" {
			row("rows", fmt.Sprint(e.Rows))
		}
		tw.Flush()
		if len(e.Fields) > 0 {
			tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  FIELD\tVALUE\tFROM")
			names := agent.MetaFields()
			for k := range e.Fields {
				if !slices.Contains(names, k) {
					names = append(names, k)
				}
			}
			for _, k := range names {
				f, ok := e.Fields[k]
				if !ok {
					continue
				}
				v, _ := json.Marshal(f.Value)
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", k, esc(string(v)), esc(f.From))
			}
			tw.Flush()
		}
		for _, wn := range e.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", esc(wn))
		}
	}
}
