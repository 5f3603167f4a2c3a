package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent/config"
)

func runCmd(g *globals) *cobra.Command {
	var acceptNew bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Watch the sources and upload until stopped (SIGINT/SIGTERM)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if acceptNew {
				if err := acceptNewState(g); err != nil {
					return err
				}
			}
			ctx, a, done, err := g.openAgent(os.Stderr, false)
			if err != nil {
				return stateError(g, err)
			}
			defer done()
			return a.Run(ctx)
		},
	}
	cmd.Flags().BoolVar(&acceptNew, "accept-new-state", false,
		"if the state file is lost (empty, or missing where one was), start a new one: every file in the sources is then treated as new and uploaded again")
	return cmd
}

func validateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration file and exit 1 if it is wrong",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.load()
			if err != nil {
				if errs, ok := err.(config.Errors); ok {
					for _, e := range errs {
						fmt.Fprintln(os.Stderr, esc(e.Error()))
					}
					return &exitError{code: 1, msg: fmt.Sprintf("%d problem(s) in %s", len(errs), g.config)}
				}
				return err
			}
			fmt.Printf("%s: OK (%d source(s), state in %s)\n", cfg.File, len(cfg.Sources), cfg.StateDir)
			return nil
		},
	}
}
