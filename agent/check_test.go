package agent_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// checkSetup is a configuration for Check: the emulator, a local folder
// and an FTP server, each of which a test may spoil.
type checkSetup struct {
	srv      *velatest.Server
	dir      string
	org      string
	in       string // the local folder
	after    string // the local source's after_upload
	ftpAddr  string
	password string // written to the FTP source's password file
}

func newCheckSetup(t *testing.T) *checkSetup {
	t.Helper()
	srv, err := velatest.Start(velatest.Options{})
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "calls"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "calls", "a.wav"), []byte("x"), 0o644))
	addr, pw := startFTP(t, root)
	s := &checkSetup{srv: srv, dir: dir, org: "org-test", in: filepath.Join(dir, "in"),
		after: "keep", ftpAddr: addr, password: pw}
	must(t, os.MkdirAll(s.in, 0o755))
	return s
}

// startCheckFTP is startFTP stopped by closing its listener and waiting
// for Serve to return: Shutdown reads fields Serve sets without a lock,

func (s *checkSetup) config(t *testing.T) *config.Config {
	t.Helper()
	token := filepath.Join(s.dir, "refresh_token")
	must(t, os.WriteFile(token, []byte(s.srv.RefreshToken()+"\n"), 0o600))
	pwFile := filepath.Join(s.dir, "pbx.pass")
	must(t, os.WriteFile(pwFile, []byte(s.password+"\n"), 0o600))
	text := fmt.Sprintf(`api:
  base_url: %s
  org_id: %s
  refresh_token_file: %s
  timeout: 5s
state_dir: %s
sources:
  - name: calls
    path: %s
    after_upload: %s
  - name: pbx
    type: ftp
    url: ftp://rec@%s/calls
    password_file: %s
    timeout: 5s
`, s.srv.URL(), s.org, token, filepath.Join(s.dir, "state"), s.in, s.after, s.ftpAddr, pwFile)
	file := filepath.Join(s.dir, "vela-agent.yaml")
	must(t, os.WriteFile(file, []byte(text), 0o600))
	cfg, err := config.Load(file)
	must(t, err)
	return cfg
}

// failed returns the one failed result, failing the test if there is not
// exactly one.
func failed(t *testing.T, res []agent.CheckResult) agent.CheckResult {
	t.Helper()
	var bad []agent.CheckResult
	for _, r := range res {
		t.Logf("%s %s %v: %s", r.Source, r.Step, r.OK, r.Detail)
		if !r.OK {
			bad = append(bad, r)
		}
	}
	if len(bad) != 1 {
		t.Fatalf("%d failed steps, want 1: %+v", len(bad), res)
	}
	if !agent.CheckFailed(res) {
		t.Error("CheckFailed is false")
	}
	return bad[0]
}

func steps(res []agent.CheckResult, source string) []string {
	var s []string
	for _, r := range res {
		if r.Source == source {
			s = append(s, r.Step)
		}
	}
	return s
}

func noSecrets(t *testing.T, s *checkSetup, res []agent.CheckResult) {
	t.Helper()
	for _, r := range res {
		for _, secret := range []string{s.password, s.srv.RefreshToken()} {
			if strings.Contains(r.Detail, secret) {
				t.Errorf("%s %s shows a secret: %s", r.Source, r.Step, r.Detail)
			}
		}
	}
}

func TestCheckGood(t *testing.T) {
	s := newCheckSetup(t)
	s.after = "move:" + filepath.Join(s.dir, "done")
	res := agent.Check(context.Background(), s.config(t))
	for _, r := range res {
		if !r.OK {
			t.Errorf("%s %s failed: %s", r.Source, r.Step, r.Detail)
		}
	}
	if agent.CheckFailed(res) {
		t.Error("CheckFailed is true")
	}
	for src, want := range map[string]string{
		"api":   "credential token organisation clock",
		"state": "write space",
		"calls": "folder list write",
		"pbx":   "dns tcp login list",
	} {
		if got := strings.Join(steps(res, src), " "); got != want {
			t.Errorf("%s steps %q, want %q", src, got, want)
		}
	}
	noSecrets(t, s, res)
	if left, _ := filepath.Glob(filepath.Join(s.in, ".vela-agent-check-*")); len(left) != 0 {
		t.Errorf("check left files behind: %v", left)
	}
	if _, err := os.Stat(filepath.Join(s.dir, "done")); err == nil {
		t.Error("check created the move folder")
	}
}

func TestCheckWrongFTPPassword(t *testing.T) {
	s := newCheckSetup(t)
	s.password = "wrong-password"
	res := agent.Check(context.Background(), s.config(t))
	r := failed(t, res)
	if r.Source != "pbx" || r.Step != "login" || !strings.Contains(r.Detail, "login") || !strings.Contains(r.Detail, `"rec"`) {
		t.Errorf("failed %s %s: %s; want pbx login, naming the user", r.Source, r.Step, r.Detail)
	}
	noSecrets(t, s, res)
}

func TestCheckFTPUnreachable(t *testing.T) {
	s := newCheckSetup(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s.ftpAddr = ln.Addr().String()
	ln.Close() // nothing listens there now
	r := failed(t, agent.Check(context.Background(), s.config(t)))
	if r.Source != "pbx" || r.Step != "tcp" || !strings.Contains(r.Detail, s.ftpAddr) {
		t.Errorf("failed %s %s: %s; want pbx tcp, naming the address", r.Source, r.Step, r.Detail)
	}
}

func TestCheckMissingFolder(t *testing.T) {
	s := newCheckSetup(t)
	s.in = filepath.Join(s.dir, "nowhere")
	r := failed(t, agent.Check(context.Background(), s.config(t)))
	if r.Source != "calls" || r.Step != "folder" || !strings.Contains(r.Detail, "does not exist") {
		t.Errorf("failed %s %s: %s; want calls folder, does not exist", r.Source, r.Step, r.Detail)
	}
}

func TestCheckWrongOrg(t *testing.T) {
	s := newCheckSetup(t)
	s.org = "org-nobody"
	res := agent.Check(context.Background(), s.config(t))
	r := failed(t, res)
	if r.Source != "api" || r.Step != "organisation" || !strings.Contains(r.Detail, "org-nobody") {
		t.Errorf("failed %s %s: %s; want api organisation, naming the org", r.Source, r.Step, r.Detail)
	}
	noSecrets(t, s, res)
}

func TestCheckRefusedRefreshToken(t *testing.T) {
	s := newCheckSetup(t)
	cfg := s.config(t)
	s.srv.RevokeRefreshTokens()
	r := failed(t, agent.Check(context.Background(), cfg))
	if r.Source != "api" || r.Step != "token" {
		t.Errorf("failed %s %s: %s; want api token", r.Source, r.Step, r.Detail)
	}
}

func TestCheckMissingCredential(t *testing.T) {
	s := newCheckSetup(t)
	cfg := s.config(t)
	must(t, os.Remove(cfg.API.RefreshTokenFile))
	r := failed(t, agent.Check(context.Background(), cfg))
	if r.Source != "api" || r.Step != "credential" || !strings.Contains(r.Detail, "vela-agent login") {
		t.Errorf("failed %s %s: %s; want api credential", r.Source, r.Step, r.Detail)
	}
}
