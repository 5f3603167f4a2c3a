package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// healthz returns the status code and body of GET /healthz, or 0 when the
// page does not answer.
func healthz(addr string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitHealthz waits until /healthz answers code with a body containing
// want.
func waitHealthz(t *testing.T, addr string, code int, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, body := healthz(addr)
		if got == code && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz = %d %q, want %d with %q", got, body, code, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// snakeKeys reports the first JSON object key in v that is not snake_case.
func snakeKeys(v any, at string) (string, bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !regexp.MustCompile(`^[a-z][a-z0-9_]*$`).MatchString(k) {
				return at + "." + k, false
			}
			if bad, ok := snakeKeys(x, at+"."+k); !ok {
				return bad, false
			}
		}
	case []any:
		for i, x := range v {
			if bad, ok := snakeKeys(x, fmt.Sprintf("%s[%d]", at, i)); !ok {
				return bad, false
			}
		}
	}
	return "", true
}

// /healthz and the exit code of status follow what needs attention: a
// source folder that is missing, a pause; status exits 2 once the agent
// is stopped.
func TestStatusHealth(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	addr := freeAddr(t)
	conf, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := strings.Replace(string(conf), `listen: ""`, "listen: "+addr, 1)
	c = strings.Replace(c, "    path: "+e.in+"\n", "    path: "+e.in+"\n    settle: 100ms\n    rescan_interval: 500ms\n", 1)
	if err := os.WriteFile(e.cfg, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.in); err != nil { // the share is not mounted yet
		t.Fatal(err)
	}

	stop := startRun(t, e.cfg)

	// The source folder is missing.
	waitHealthz(t, addr, http.StatusServiceUnavailable, "source calls: folder unavailable")
	code, out := run(t, "status", "-c", e.cfg)
	if code != 3 || !strings.Contains(out, "needs attention:\n  source calls: folder unavailable") {
		t.Errorf("status with a missing source: exit %d, want 3 and the problem:\n%s", code, out)
	}

	// It appears: all is well.
	if err := os.MkdirAll(e.in, 0o755); err != nil {
		t.Fatal(err)
	}
	waitHealthz(t, addr, http.StatusOK, "ok")
	if code, out := run(t, "status", "-c", e.cfg); code != 0 || strings.Contains(out, "needs attention") {
		t.Errorf("status when healthy: exit %d, want 0:\n%s", code, out)
	}

	// The allocation is used up: call uploads pause.
	e.srv.SetAllocation(0)
	writeFiles(t, e.in, 1)
	waitHealthz(t, addr, http.StatusServiceUnavailable, "uploads paused (calls): presign push_0.wav: 400 Allocation exceeded")
	code, out = run(t, "status", "-c", e.cfg)
	if code != 3 || !strings.Contains(out, "PAUSED (calls)") || strings.Contains(out, "needs attention") {
		t.Errorf("status while paused: exit %d, want 3 and the pause once:\n%s", code, out)
	}
	js, err := exec.Command(binary, "status", "--json", "-c", e.cfg).Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("status --json while paused: %v, want exit 3", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("status --json: %v\n%s", err, js)
	}
	if bad, ok := snakeKeys(doc, ""); !ok {
		t.Errorf("status --json has the key %s, not snake_case:\n%s", bad, js)
	}
	if p, _ := doc["problems"].([]any); len(p) != 1 || !strings.Contains(fmt.Sprint(p[0]), "uploads paused (calls)") {
		t.Errorf("status --json problems = %v", doc["problems"])
	}

	// Stopped: status reads the state file, keeps the pause, exits 2.
	stop()
	code, out = run(t, "status", "-c", e.cfg)
	if code != 2 || !strings.Contains(out, "not running") || !strings.Contains(out, "PAUSED (calls)") {
		t.Errorf("status of a stopped agent: exit %d, want 2:\n%s", code, out)
	}
	// No state file at all: not running either.
	if err := os.RemoveAll(filepath.Join(e.dir, "state")); err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, "status", "-c", e.cfg); code != 2 || !strings.Contains(out, "has not run") {
		t.Errorf("status without a state file: exit %d, want 2:\n%s", code, out)
	}
}
