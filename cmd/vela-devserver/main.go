// Command vela-devserver runs a local Vela API and an S3-compatible store
// that verifies presigned POST policies, for demos and manual tests of
// vela-agent. It prints the API and S3 URLs, logs one line per request and
// stops cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "vela-devserver:", err)
		os.Exit(1)
	}
}

// errUsage reports bad flags; the flag package has printed why.
var errUsage = errors.New("usage")

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		o         velatest.Options
		tokenFile string
		faults    faultList
		logLevel  slog.Level
	)
	fs := flag.NewFlagSet("vela-devserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8790", "API listen `address`")
	fs.StringVar(&o.S3Listen, "s3-listen", "127.0.0.1:8791", "S3 listen `address`")
	fs.StringVar(&o.Dir, "dir", "", "keep objects on disk in `directory` (default: in memory)")
	fs.StringVar(&o.OrgID, "org", "org-test", "organisation `id`")
	fs.StringVar(&o.Email, "email", "admin@example.com", "the account's e-mail `address`")
	fs.StringVar(&o.Password, "password", "secret", "the account's `password`")
	fs.DurationVar(&o.TokenTTL, "token-ttl", 15*time.Minute, "access token lifetime")
	fs.DurationVar(&o.PresignTTL, "presign-ttl", time.Hour, "presigned POST policy lifetime")
	fs.Int64Var(&o.MaxFileSize, "max-file-size", 1<<30, "largest upload a policy allows, in `bytes`")
	fs.Float64Var(&o.Allocation, "allocation", 1e6, "monthly allocation in `minutes`; each presign uses one")
	fs.StringVar(&tokenFile, "refresh-token-file", "", "write a valid refresh token to `file` (mode 0600), for an agent's refresh_token_file")
	fs.Var(&faults, "fault", "inject a fault `op:status[:times[:message]]`, repeatable; op is one of "+opNames())
	fs.TextVar(&logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vela-devserver: unexpected arguments %q\n", fs.Args())
		return errUsage
	}

	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))
	srv, err := velatest.Start(o)
	if err != nil {
		return err
	}
	defer srv.Close()
	// Options take 0 as "the default"; the flag means what it says.
	srv.SetAllocation(o.Allocation)
	for _, f := range faults {
		srv.Inject(f)
	}
	if tokenFile != "" {
		if err := writeSecret(tokenFile, srv.RefreshToken()+"\n"); err != nil {
			return fmt.Errorf("write the refresh token: %w", err)
		}
	}
	fmt.Fprintf(stdout, "vela API: %s\nS3:       %s\norg_id:   %s\n", srv.URL(), srv.S3URL(), o.OrgID)

	<-ctx.Done()
	o.Logger.Info("shutting down")
	return srv.Close()
}

// writeSecret replaces the file at path with data, readable by its owner
// only, through a temporary file renamed into place.
func writeSecret(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".refresh-token-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// faultList is the repeatable -fault flag.
type faultList []velatest.Fault

func (l *faultList) String() string { return "" }

// Set parses op:status[:times[:message]].
func (l *faultList) Set(s string) error {
	parts := strings.SplitN(s, ":", 4)
	if len(parts) < 2 {
		return errors.New("want op:status[:times[:message]]")
	}
	f := velatest.Fault{Op: velatest.Op(parts[0])}
	if !slices.Contains(velatest.Ops, f.Op) {
		return fmt.Errorf("unknown op %q; want one of %s", parts[0], opNames())
	}
	status, err := strconv.Atoi(parts[1])
	if err != nil || status < 100 || status > 599 {
		return fmt.Errorf("bad status %q", parts[1])
	}
	f.Status = status
	if len(parts) > 2 && parts[2] != "" {
		if f.Times, err = strconv.Atoi(parts[2]); err != nil || f.Times < 1 {
			return fmt.Errorf("bad times %q", parts[2])
		}
	}
	if len(parts) > 3 {
		f.Message = parts[3]
	}
	*l = append(*l, f)
	return nil
}

func opNames() string {
	names := make([]string, len(velatest.Ops))
	for i, op := range velatest.Ops {
		names[i] = string(op)
	}
	return strings.Join(names, ", ")
}
