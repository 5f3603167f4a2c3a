package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/packaging"
)

const (
	serviceName = "vela-agent"
	// serviceUser is the unprivileged account the Linux service runs as.
	serviceUser = "vela-agent"
	// serviceHome is serviceUser's home, the unit's StateDirectory.
	serviceHome = "/var/lib/vela-agent"

	// exitConfig is the exit status of `service run` when the configuration
	// cannot be loaded (sysexits' EX_CONFIG). The unit's
	// RestartPreventExitStatus keeps systemd from restarting it in a loop.
	exitConfig = 78
)

// stopTimeout is how long a stopping service waits for in-flight work to
// end before it exits anyway; the jobs stay in the store and resume.
var stopTimeout = 10 * time.Second

// serviceCmds are the commands that install and control the system
// service: install, uninstall, start, stop, restart and service (status,
// run).
func serviceCmds(g *globals) []*cobra.Command {
	control := func(action, short, done string) *cobra.Command {
		return &cobra.Command{
			Use:   action,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				s, err := newService(g, nil, "")
				if err != nil {
					return err
				}
				if action == "uninstall" {
					_ = s.Stop() // a running service is stopped first; an error says it was not running
				}
				if err := service.Control(s, action); err != nil {
					return fmt.Errorf("%s the %s service: %w%s", action, serviceName, unwrapControl(err), privilegeHint())
				}
				fmt.Fprintln(os.Stderr, done)
				return nil
			},
		}
	}
	svc := &cobra.Command{
		Use:   "service",
		Short: "Show whether the system service runs; run as that service",
	}
	svc.AddCommand(serviceStatusCmd(g), serviceRunCmd(g))
	return []*cobra.Command{
		installCmd(g),
		control("uninstall", "Remove the system service (the configuration and the queue stay)", "Service removed."),
		control("start", "Start the system service", "Service started."),
		control("stop", "Stop the system service; uploads in flight resume on the next start", "Service stopped."),
		control("restart", "Restart the system service", "Service restarted."),
		svc,
	}
}

func installCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "install",
		Short: "Install the system service, enabled at boot, with the configuration file given by -c",
		Long: `Install vela-agent as a system service that starts at boot and runs this
binary with the configuration file given by -c (made absolute).

Linux (systemd): writes /etc/systemd/system/vela-agent.service, the same unit
the packages install, and creates the unprivileged user vela-agent if it does
not exist. Windows: registers the service with delayed automatic start and
restart on failure.

The service is not started: set api.org_id, run ` + "`vela-agent login`" + `, then
` + "`vela-agent start`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := filepath.Abs(g.config)
			if err != nil {
				return err
			}
			g.config = cfg
			if _, err := os.Stat(cfg); err != nil {
				fmt.Fprintf(os.Stderr, "warning: %s: %v; copy configs/vela-agent.example.yaml there before starting the service\n", cfg, err)
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this program's path: %w", err)
			}
			systemd := service.Platform() == "linux-systemd"
			if systemd {
				if err := ensureServiceUser(); err != nil {
					return err
				}
			}
			s, err := newService(g, nil, exe)
			if err != nil {
				return err
			}
			if err := s.Install(); err != nil {
				return fmt.Errorf("install the %s service: %w%s", serviceName, err, privilegeHint())
			}
			fmt.Fprintf(os.Stderr, "Service installed (%s, configuration %s), not started.\n"+
				"Set api.org_id in the configuration, run `vela-agent login -c %s`, then `vela-agent start`.\n",
				service.Platform(), cfg, cfg)
			if systemd {
				fmt.Fprintf(os.Stderr, "The service runs as the user %s: it must be able to read the configuration, "+
					"the refresh token file (chown %s it after login) and the watched folders.\n", serviceUser, serviceUser)
			}
			return nil
		},
	}
}

func serviceStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Say whether the system service is installed and running (exit 0 running, 3 stopped, 4 not installed)",
		Long: `Say whether the system service is installed and running. Exit status as
LSB init scripts: 0 running, 3 installed but stopped, 4 not installed or
unknown. ` + "`vela-agent status`" + ` shows the queue.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newService(g, nil, "")
			if err != nil {
				return err
			}
			st, err := s.Status()
			switch {
			case errors.Is(err, service.ErrNotInstalled):
				fmt.Printf("%s: not installed\n", serviceName)
				return &exitError{code: 4}
			case err != nil:
				return &exitError{code: 4, msg: fmt.Sprintf("service status: %v", err)}
			case st == service.StatusRunning:
				fmt.Printf("%s: running (%s)\n", serviceName, service.Platform())
				return nil
			case st == service.StatusStopped:
				fmt.Printf("%s: stopped (%s)\n", serviceName, service.Platform())
				return &exitError{code: 3}
			default:
				fmt.Printf("%s: unknown (%s)\n", serviceName, service.Platform())
				return &exitError{code: 4}
			}
		},
	}
}

func serviceRunCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run as the system service (what the service manager starts)",
		Long: `Run the agent as ` + "`vela-agent run`" + ` does, under the service manager: systemd's
SIGTERM or the Windows service control manager's stop request ends uploads in
flight within --stop-timeout (they resume on the next start). Exits 78 if the
configuration cannot be loaded, 1 if the agent fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := &program{
				open:    func() (runner, error) { return g.openService(os.Stderr) },
				timeout: timeout,
				exit:    os.Exit,
			}
			s, err := newService(g, p, "")
			if err != nil {
				return err
			}
			if runtime.GOOS == "windows" {
				// Nothing reads stderr under the SCM: start, stop and fatal
				// errors go to the Event Log.
				if l, err := s.Logger(nil); err == nil {
					p.events = l
				}
			}
			err = s.Run()
			var ce *configError
			if errors.As(err, &ce) {
				return &exitError{code: exitConfig, msg: ce.Error()}
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "stop-timeout", stopTimeout,
		"how long a stop waits for uploads in flight to end")
	return cmd
}

// newService describes the vela-agent service, running p (nil to control
// it only) with the configuration file g.config; exe, if not "", is the
// binary the service runs, for Install.
func newService(g *globals, p service.Interface, exe string) (service.Service, error) {
	if p == nil {
		p = &program{}
	}
	c := &service.Config{
		Name:        serviceName,
		DisplayName: "Vela upload agent",
		Description: "Uploads call recordings to Vela, unattended.",
		Arguments:   []string{"service", "run", "--config", g.config},
		Option: service.KeyValue{
			// Windows: start after the boot has settled, restart 10 s
			// after each failure; the failure count resets after a day.
			"DelayedAutoStart":       true,
			"StartType":              "automatic",
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "10s",
			"OnFailureResetPeriod":   86400,
		},
	}
	if exe != "" {
		c.Executable = exe
		c.Option["SystemdScript"] = systemdUnit(exe, g.config)
	}
	s, err := service.New(p, c)
	if err != nil {
		return nil, fmt.Errorf("service manager: %w (vela-agent installs itself as a service on systemd Linux and Windows)", err)
	}
	return s, nil
}

// systemdUnit is the packages' unit with its ExecStart line naming exe and
// config. kardianos/service renders it as a template: the unit holds no
// "{{", so it is written as is.
func systemdUnit(exe, config string) string {
	var b strings.Builder
	for line := range strings.Lines(packaging.SystemdUnit) {
		if strings.HasPrefix(line, "ExecStart=") {
			line = "ExecStart=" + systemdQuote(exe) + " service run --config " + systemdQuote(config) + "\n"
		}
		b.WriteString(line)
	}
	return b.String()
}

// systemdQuote quotes s for a unit's command line where it needs it.
func systemdQuote(s string) string {
	if !strings.ContainsAny(s, " \t\"'\\%$;") {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`)
	return `"` + r.Replace(s) + `"`
}

// ensureServiceUser creates the system user the unit runs as, as the
// packages' postinstall script does, unless it exists.
func ensureServiceUser() error {
	if _, err := user.Lookup(serviceUser); err == nil {
		return nil
	}
	nologin := "/usr/sbin/nologin"
	if _, err := os.Stat(nologin); err != nil {
		nologin = "/sbin/nologin"
	}
	out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
		"--home-dir", serviceHome, "--shell", nologin,
		"--comment", "vela-agent upload service", serviceUser).CombinedOutput()
	if err != nil {
		return fmt.Errorf("create the system user %s: %v: %s%s", serviceUser, err, strings.TrimSpace(string(out)), privilegeHint())
	}
	fmt.Fprintf(os.Stderr, "Created the system user %s.\n", serviceUser)
	return nil
}

// privilegeHint says how to get the rights service control needs, if this
// process may lack them.
func privilegeHint() string {
	if runtime.GOOS == "windows" {
		return " (run it from an administrator prompt)"
	}
	if os.Geteuid() != 0 {
		return " (run it as root, e.g. with sudo)"
	}
	return ""
}

// unwrapControl drops kardianos's "Failed to stop vela-agent: " prefix,
// which the caller's message already says.
func unwrapControl(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// configError is a configuration that cannot be loaded: the service exits
// with exitConfig and is not restarted.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

// openService loads the configuration and opens the agent as `run` does,
// logging to logTo, for the service to run until it is stopped.
func (g *globals) openService(logTo io.Writer) (runner, error) {
	cfg, err := g.load()
	if err != nil {
		return nil, &configError{err: fmt.Errorf("load %s: %w", g.config, err)}
	}
	a, closeAgent, err := openWith(cfg, logTo, false)
	if err != nil {
		return nil, stateError(g, err)
	}
	return serviceAgent{a, closeAgent}, nil
}

// serviceAgent is the agent with what openWith opened for it.
type serviceAgent struct {
	*agent.Agent
	closeAll func()
}

func (s serviceAgent) Close() error { s.closeAll(); return nil }

// runner is what the service runs: the agent.
type runner interface {
	// Run works until ctx is cancelled, then returns.
	Run(ctx context.Context) error
	Close() error
}

var _ runner = serviceAgent{}

// program is the service's body: Start opens the agent and runs it in a
// goroutine, Stop cancels it and waits up to timeout for it to return. If
// the agent ends by itself, the process exits 1 so that the service manager
// restarts it.
type program struct {
	open    func() (runner, error)
	timeout time.Duration
	exit    func(code int) // os.Exit; tests replace it
	events  service.Logger // the Windows Event Log, or nil

	mu       sync.Mutex // guards the fields below
	cancel   context.CancelFunc
	done     chan struct{} // closed when the agent's Run has returned
	stopping bool
}

func (p *program) Start(s service.Service) error {
	r, err := p.open()
	if err != nil {
		p.event(err)
		return err
	}
	if pr, ok := r.(interface {
		OnPause(func(gate, reason string, paused bool))
	}); ok && p.events != nil {
		pr.OnPause(func(gate, reason string, paused bool) {
			if paused {
				p.events.Warning("vela-agent uploads paused (" + gate + "): " + reason)
			} else {
				p.events.Info("vela-agent uploads resumed (" + gate + ")")
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.mu.Lock()
	p.cancel, p.done = cancel, done
	p.mu.Unlock()
	p.info("vela-agent service started")
	go func() {
		err := r.Run(ctx)
		r.Close()
		p.mu.Lock()
		stopping := p.stopping
		p.mu.Unlock()
		close(done)
		if stopping {
			return
		}
		if err == nil {
			err = errors.New("the agent stopped by itself")
		}
		fmt.Fprintln(os.Stderr, "vela-agent:", escLines(err.Error()))
		p.event(err)
		p.exit(1)
	}()
	return nil
}

func (p *program) Stop(s service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.stopping = true
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	select {
	case <-done:
		p.info("vela-agent service stopped")
		return nil
	case <-t.C:
		err := fmt.Errorf("uploads in flight did not end within %s; stopping anyway, they resume on the next start", p.timeout)
		p.event(err)
		return err
	}
}

func (p *program) info(msg string) {
	if p.events != nil {
		p.events.Info(msg)
	}
}

func (p *program) event(err error) {
	if p.events != nil {
		p.events.Error(err.Error())
	}
}
