package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// env is an emulator and a configuration pointing at it.
type env struct {
	srv   *velatest.Server
	dir   string
	cfg   string
	in    string
	token string
}

func newEnv(t *testing.T, o velatest.Options) *env {
	t.Helper()
	srv, err := velatest.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	e := &env{srv: srv, dir: dir, cfg: filepath.Join(dir, "vela-agent.yaml"),
		in: filepath.Join(dir, "in"), token: filepath.Join(dir, "tokens", "refresh_token")}
	conf := fmt.Sprintf(`api:
  base_url: %s
  org_id: org-test
  refresh_token_file: %s
  timeout: 2s
  allocation_recheck: 1h
state_dir: %s
sources:
  - name: calls
    path: %s
upload:
  retry_min: 50ms
  retry_max: 500ms
status:
  listen: ""
`, srv.URL(), e.token, filepath.Join(dir, "state"), e.in)
	if err := os.WriteFile(e.cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.in, 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) writeToken(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(e.token), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.token, []byte(e.srv.RefreshToken()), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeFiles(t *testing.T, dir string, n int) []string {
	t.Helper()
	var paths []string
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("sub%d", i%2), fmt.Sprintf("push_%d.wav", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, audiotest.WAV(10_000+i, byte(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

var datePattern = regexp.MustCompile(`^\d{2}/\d{2}/\d{4}, \d{2}:\d{2}:\d{2}$`)

func TestPush(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	src := filepath.Join(e.dir, "batch")
	writeFiles(t, src, 3)
	os.WriteFile(filepath.Join(src, "notes.txt"), []byte("not a recording"), 0o644)

	code, out := run(t, "push", "-q", "-c", e.cfg, src)
	if code != 0 {
		t.Fatalf("push exited %d:\n%s", code, out)
	}
	if n := len(e.srv.Objects()); n != 3 {
		t.Errorf("stored %d objects, want 3:\n%s", n, out)
	}
	if c := strings.Count(out, ": uploaded"); c != 3 {
		t.Errorf("%d files reported uploaded, want 3:\n%s", c, out)
	}

	// The same versions again: nothing new is uploaded.
	code, out = run(t, "push", "-q", "-c", e.cfg, src)
	if code != 0 || len(e.srv.Objects()) != 3 || e.srv.Count(velatest.OpPresign) != 3 {
		t.Errorf("second push: exit %d, %d objects, %d presigns:\n%s", code, len(e.srv.Objects()), e.srv.Count(velatest.OpPresign), out)
	}

	// queue list --json: every job with its kind, state and the metadata sent.
	code, out = run(t, "queue", "list", "--json", "-c", e.cfg)
	var jobs []struct {
		Kind, State string
		Metadata    map[string]any
	}
	if err := json.Unmarshal([]byte(out), &jobs); code != 0 || err != nil || len(jobs) != 3 {
		t.Fatalf("queue list --json: exit %d, %v:\n%s", code, err, out)
	}
	for _, j := range jobs {
		if j.Kind != "call" || j.State != "done" || !datePattern.MatchString(fmt.Sprint(j.Metadata["date_of_call"])) {
			t.Errorf("queue list --json: job %+v", j)
		}
	}

	// status reads the state file of the stopped agent.
	code, out = run(t, "status", "-c", e.cfg)
	if code != 2 || !strings.Contains(out, "not running") || !regexpLine(out, `done\s+3`) {
		t.Errorf("status: exit %d:\n%s", code, out)
	}
}

func TestPushPausedExitsNonZero(t *testing.T) {
	e := newEnv(t, velatest.Options{Allocation: 1})
	e.writeToken(t)
	src := filepath.Join(e.dir, "batch")
	writeFiles(t, src, 3)
	code, out := run(t, "push", "-q", "-c", e.cfg, src)
	if code != 1 || !strings.Contains(out, "Allocation exceeded") {
		t.Errorf("push exited %d, want 1 with the reason:\n%s", code, out)
	}
	code, out = run(t, "status", "-c", e.cfg)
	if code != 2 || !strings.Contains(out, "PAUSED (calls)") {
		t.Errorf("status after a pause: exit %d:\n%s", code, out)
	}
}

func TestPushWithoutTokenSaysLogin(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	src := filepath.Join(e.dir, "batch")
	writeFiles(t, src, 1)
	code, out := run(t, "push", "-q", "-c", e.cfg, src)
	if code == 0 || !strings.Contains(out, "vela-agent login") {
		t.Errorf("push without a token: exit %d, want the login hint:\n%s", code, out)
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	cmd := exec.Command(binary, "login", "-c", e.cfg, "--email", "admin@example.com")
	cmd.Stdin = strings.NewReader("secret\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "secret") {
		t.Errorf("the password was echoed:\n%s", out)
	}
	if strings.Contains(string(out), "warning") {
		t.Errorf("login warned about the token file it is about to write:\n%s", out)
	}
	fi, err := os.Stat(e.token)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	// The saved token works: a push goes through with it.
	src := filepath.Join(e.dir, "batch")
	writeFiles(t, src, 1)
	if code, out := run(t, "push", "-q", "-c", e.cfg, src); code != 0 {
		t.Errorf("push with the saved token: exit %d:\n%s", code, out)
	}

	// A wrong password fails without saving anything.
	os.Remove(e.token)
	cmd = exec.Command(binary, "login", "-c", e.cfg, "--email", "admin@example.com")
	cmd.Stdin = strings.NewReader("wrong\n")
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || strings.Contains(string(out), "wrong") {
		t.Errorf("login with a wrong password: %v\n%s", err, out)
	}
	if _, err := os.Stat(e.token); err == nil {
		t.Error("a token file was written for a failed login")
	}
}

func TestSecondProcessRefused(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	first := exec.Command(binary, "run", "-c", e.cfg)
	var firstOut syncBuffer
	first.Stdout, first.Stderr = &firstOut, &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { first.Process.Kill(); first.Wait() }()
	// Wait until the first one holds the state file.
	waitUntil(t, func() bool { return strings.Contains(firstOut.String(), "vela-agent running") })
	code, out := run(t, "run", "-c", e.cfg)
	if code != 1 || !strings.Contains(out, "in use by another vela-agent process") {
		t.Errorf("second run: exit %d:\n%s", code, out)
	}
}

// syncBuffer is a bytes.Buffer that a child process's output and the test
// may use at once.
// startRun starts `vela-agent run -c cfg` in the background. stop ends it
// (SIGINT, or a kill on Windows) and waits; it may be called more than
// once, and is called when the test ends, showing the agent's log if the
// test failed.
func startRun(t *testing.T, cfg string) (stop func()) {
	t.Helper()
	cmd := exec.Command(binary, "run", "-c", cfg)
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			if runtime.GOOS == "windows" {
				cmd.Process.Kill()
			} else {
				cmd.Process.Signal(os.Interrupt)
			}
			cmd.Wait()
			if t.Failed() {
				t.Logf("agent log:\n%s", log.String())
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A recording over upload.max_file_size is parked with the reason; queue
// list shows it and queue retry puts it back once the limit is raised.
func TestParkedListAndRetry(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	conf, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	small := strings.Replace(string(conf), "upload:\n", "upload:\n  max_file_size: 5000\n", 1)
	if err := os.WriteFile(e.cfg, []byte(small), 0o600); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(e.dir, "batch")
	writeFiles(t, src, 1) // 10,000 bytes
	code, out := run(t, "push", "-q", "-c", e.cfg, src)
	if code != 1 || !strings.Contains(out, "max_file_size") {
		t.Fatalf("push of a file over the limit: exit %d:\n%s", code, out)
	}
	code, out = run(t, "queue", "list", "--state", "parked", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "push_0.wav") || !strings.Contains(out, "max_file_size") {
		t.Fatalf("queue list: exit %d:\n%s", code, out)
	}
	code, out = run(t, "status", "-c", e.cfg)
	if code != 2 || !strings.Contains(out, "queue retry") || !strings.Contains(out, "max_file_size") {
		t.Errorf("status lists no parked job: exit %d:\n%s", code, out)
	}

	if err := os.WriteFile(e.cfg, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := run(t, "queue", "retry", "1", "-c", e.cfg); code != 0 {
		t.Fatalf("queue retry: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "queue", "retry", "99", "-c", e.cfg); code == 0 {
		t.Errorf("queue retry of an unknown job succeeded:\n%s", out)
	}
	// The service (or a push) picks the job up again.
	code, out = run(t, "push", "-q", "-c", e.cfg, src)
	if code != 0 || len(e.srv.Objects()) != 1 {
		t.Errorf("push after retry: exit %d, %d objects:\n%s", code, len(e.srv.Objects()), out)
	}
}
