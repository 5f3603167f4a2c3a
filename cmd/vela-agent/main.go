// Command vela-agent uploads call recordings to Vela, unattended.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"

	"github.com/spf13/cobra"
	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
)

// exitError ends the program with a code and, if msg is set, a message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	root := rootCmd()
	stop := startProfile()
	err := root.Execute()
	stop()
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.msg == "" {
			os.Exit(code)
		}
	}
	fmt.Fprintln(os.Stderr, "vela-agent:", escLines(err.Error()))
	os.Exit(code)
}

// globals are the flags every command takes.
type globals struct {
	config string
}

func rootCmd() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "vela-agent",
		Short:         "Upload call recordings to Vela, unattended",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       agent.Version,
	}
	root.PersistentFlags().StringVarP(&g.config, "config", "c", defaultConfig(),
		"configuration file (also $VELA_AGENT_CONFIG)")
	root.AddCommand(
		runCmd(g),
		validateCmd(g),
		checkCmd(g),
		explainCmd(g),
		zipCmd(g),
		statusCmd(g),
		pushCmd(g),
		queueCmd(g),
		loginCmd(g),
		stateCmd(g),
		baselineCmd(g),
		versionCmd(),
	)
	root.AddCommand(serviceCmds(g)...)
	return root
}

// defaultConfig is where an installed agent keeps its configuration.
func defaultConfig() string {
	if p := os.Getenv("VELA_AGENT_CONFIG"); p != "" {
		return p
	}
	if runtime.GOOS == "windows" {
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, "vela-agent", "vela-agent.yaml")
	}
	return "/etc/vela-agent/vela-agent.yaml"
}

// load reads the configuration and prints its warnings, but those about
// the keys in skip.
func (g *globals) load(skip ...string) (*config.Config, error) {
	cfg, err := config.Load(g.config)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		if !slices.Contains(skip, w.Key) {
			fmt.Fprintln(os.Stderr, "warning:", esc(w.Error()))
		}
	}
	return cfg, nil
}

// openAgent loads the configuration and opens the agent, logging to logTo,
// with a context that ends on SIGINT or SIGTERM. done closes both.
func (g *globals) openAgent(logTo io.Writer, noWatch bool) (ctx context.Context, a *agent.Agent, done func(), err error) {
	cfg, err := g.load()
	if err != nil {
		return nil, nil, nil, err
	}
	a, closeAgent, err := openWith(cfg, logTo, noWatch)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return ctx, a, func() { stop(); closeAgent() }, nil
}

// openWith opens the agent for cfg, logging to logTo or, for a service
// (not noWatch), to the configured log file; SIGHUP makes it reload its
// configuration file. closeAgent releases all of it.
func openWith(cfg *config.Config, logTo io.Writer, noWatch bool) (a *agent.Agent, closeAgent func(), err error) {
	var rotated io.Closer
	if cfg.Log.File != "" && !noWatch {
		lj := &lumberjack.Logger{Filename: cfg.Log.File, MaxSize: max(int(cfg.Log.MaxSize/1e6), 1), MaxBackups: cfg.Log.MaxFiles, Compress: true}
		logTo, rotated = lj, lj
	}
	log, level := logger(cfg, logTo)
	a, err = agent.Open(cfg, log, noWatch)
	if err != nil {
		if rotated != nil {
			rotated.Close()
		}
		return nil, nil, err
	}
	a.SetLogLevel(level)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	stopHup := make(chan struct{})
	go func() {
		for {
			select {
			case <-stopHup:
				return
			case <-hup:
				a.ReloadConfig()
			}
		}
	}()
	return a, func() {
		signal.Stop(hup)
		close(stopHup)
		a.Close()
		if rotated != nil {
			rotated.Close()
		}
	}, nil
}

// logger makes the structured logger the configuration asks for, and the
// level it reads, which a reload may change.
func logger(cfg *config.Config, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	level.Set(cfg.Log.SlogLevel())
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Printf("vela-agent %s (%s, %s/%s)\n", agent.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		},
	}
}
