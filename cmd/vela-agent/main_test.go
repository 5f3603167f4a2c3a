package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// binary is the vela-agent built once for the tests that run it as a
// real process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vela-agent-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "vela-agent")
	if out, err := exec.Command("go", "build", "-tags", "crashtest", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build vela-agent: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the binary and returns its exit code and combined output.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String()
	default:
		t.Fatalf("run %v: %v", args, err)
		return 0, ""
	}
}

const goodConfig = `api:
  base_url: https://api.botlhale.tech
  org_id: org-1
  refresh_token_file: /nonexistent/refresh_token
state_dir: state
sources:
  - name: calls
    path: in
`

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		config string
		code   int
		want   []string // all must appear in the output
	}{
		{"good", goodConfig, 0, []string{"OK"}},
		{"broken yaml", "api:\n  org_id: [unclosed\nsources:\n", 1, []string{"vela-agent.yaml:"}},
		{"unknown key", strings.Replace(goodConfig, "state_dir:", "stat_dir:", 1), 1, []string{"vela-agent.yaml:5:", "stat_dir"}},
		{"unknown nested key", strings.Replace(goodConfig, "    path: in", "    path: in\n    setle: 5s", 1), 1, []string{"vela-agent.yaml:9:", "setle"}},
		{"wrong type", goodConfig + "upload:\n  concurrency: four\n", 1, []string{"vela-agent.yaml:10:", "concurrency"}},
		{"missing org_id", strings.Replace(goodConfig, "  org_id: org-1\n", "", 1), 1, []string{"api.org_id", "required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "vela-agent.yaml")
			if err := os.WriteFile(cfg, []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := run(t, "validate", "-c", cfg)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "panic") {
				t.Errorf("panicked:\n%s", out)
			}
		})
	}
}

func regexpLine(s, pattern string) bool {
	return regexp.MustCompile(`(?m)^` + pattern + `\s*$`).MatchString(s)
}

// waitUntil polls cond for up to 30 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
