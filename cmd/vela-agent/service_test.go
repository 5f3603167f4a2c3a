package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/packaging"
)

// `vela-agent install` writes the unit the packages install, but for the
// ExecStart line.
func TestSystemdUnit(t *testing.T) {
	if got := systemdUnit(packaging.UnitBinary, packaging.UnitConfig); got != packaging.SystemdUnit {
		t.Errorf("the unit for the packages' paths differs from packaging/systemd/vela-agent.service:\n%s", got)
	}
	tests := []struct{ exe, config, want string }{
		{"/usr/local/bin/vela-agent", "/etc/vela-agent/vela-agent.yaml",
			"ExecStart=/usr/local/bin/vela-agent service run --config /etc/vela-agent/vela-agent.yaml\n"},
		{"/opt/vela agent/vela-agent", "/srv/conf/100%.yaml",
			`ExecStart="/opt/vela agent/vela-agent" service run --config "/srv/conf/100%%.yaml"` + "\n"},
	}
	for _, tt := range tests {
		got := systemdUnit(tt.exe, tt.config)
		if !strings.Contains(got, "\n"+tt.want) {
			t.Errorf("systemdUnit(%q, %q) lacks %q", tt.exe, tt.config, tt.want)
		}
		if strings.Count(got, "ExecStart=") != 1 {
			t.Errorf("systemdUnit(%q, %q) has %d ExecStart lines", tt.exe, tt.config, strings.Count(got, "ExecStart="))
		}
		if strings.Contains(got, "{{") {
			t.Error("the unit holds {{, which kardianos/service would render as a template")
		}
	}
	for _, line := range []string{
		"User=vela-agent", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
		"PrivateTmp=yes", "StateDirectory=vela-agent", "ConfigurationDirectory=vela-agent",
		"Restart=on-failure", "RestartPreventExitStatus=78", "WantedBy=multi-user.target",
	} {
		if !strings.Contains(packaging.SystemdUnit, "\n"+line+"\n") {
			t.Errorf("the unit lacks %s", line)
		}
	}
}

// fakeRunner is an agent whose Run returns when ctx ends, or, if
// ignoreCtx, when release is closed.
type fakeRunner struct {
	ignoreCtx bool
	fail      error // returned at once by Run, if set
	release   chan struct{}
	closed    chan struct{}
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{release: make(chan struct{}), closed: make(chan struct{})}
}

func (f *fakeRunner) Run(ctx context.Context) error {
	switch {
	case f.fail != nil:
		return f.fail
	case f.ignoreCtx:
		<-f.release
	default:
		<-ctx.Done()
	}
	return nil
}

func (f *fakeRunner) Close() error { close(f.closed); return nil }

func TestProgramStop(t *testing.T) {
	tests := []struct {
		name      string
		ignoreCtx bool
		wantErr   string
	}{
		{"agent ends when cancelled", false, ""},
		{"agent hangs past the deadline", true, "did not end within 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeRunner()
			r.ignoreCtx = tt.ignoreCtx
			p := &program{
				open:    func() (runner, error) { return r, nil },
				timeout: 50 * time.Millisecond,
				exit:    func(code int) { t.Errorf("exit(%d) on a stop", code) },
			}
			if err := p.Start(nil); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := p.Stop(nil)
			if time.Since(start) > 5*time.Second {
				t.Errorf("Stop took %s", time.Since(start))
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Stop: %v, want %q", err, tt.wantErr)
			}
			close(r.release)
			select {
			case <-r.closed:
			case <-time.After(5 * time.Second):
				t.Error("the agent was not closed after its Run returned")
			}
		})
	}
}

// An agent that ends by itself makes the process exit 1, for the service
// manager to restart it; one that cannot be opened fails Start.
func TestProgramFailure(t *testing.T) {
	r := newFakeRunner()
	r.fail = errors.New("status page: listen on 127.0.0.1:1: address in use")
	exited := make(chan int, 1)
	p := &program{open: func() (runner, error) { return r, nil }, timeout: time.Second, exit: func(c int) { exited <- c }}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != 1 {
			t.Errorf("exit(%d), want 1", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit after the agent failed")
	}
	<-r.closed

	bad := &configError{err: errors.New("api.org_id: required")}
	p = &program{open: func() (runner, error) { return nil, bad }, timeout: time.Second}
	if err := p.Start(nil); !errors.Is(err, bad) {
		t.Errorf("Start: %v, want %v", err, bad)
	}
	if err := p.Stop(nil); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

// `service run` runs the agent until SIGTERM and exits 0 at once; with a
// wrong configuration it exits 78, which the unit does not restart.
func TestServiceRun(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	cmd := exec.Command(binary, "service", "run", "-c", e.cfg)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitUntil(t, func() bool { return strings.Contains(out.String(), "vela-agent running") })
	writeFiles(t, e.in, 1)
	waitUntil(t, func() bool { return len(e.srv.Objects()) == 1 })
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("service run after SIGTERM: %v\n%s", err, out.String())
	}
	if d := time.Since(start); d > stopTimeout {
		t.Errorf("stopping took %s, over the %s deadline", d, stopTimeout)
	}

	bad := filepath.Join(t.TempDir(), "vela-agent.yaml")
	if err := os.WriteFile(bad, []byte("api:\n  org_id: [unclosed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, msg := run(t, "service", "run", "-c", bad)
	if code != exitConfig || !strings.Contains(msg, "vela-agent.yaml:") {
		t.Errorf("service run with a broken configuration: exit %d, want %d:\n%s", code, exitConfig, msg)
	}
}
