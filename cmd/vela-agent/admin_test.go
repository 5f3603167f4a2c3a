package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// startService runs `vela-agent run` on e's configuration, listening on a
// free loopback port, with files over 15,000 bytes parked; it waits until
// the admin API answers and stops the agent when the test ends.
func startService(t *testing.T, e *env) (stop func()) {
	t.Helper()
	addr := freeAddr(t)
	conf, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := strings.Replace(string(conf), `listen: ""`, "listen: "+addr, 1)
	c = strings.Replace(c, "upload:\n", "upload:\n  max_file_size: 15000\n", 1)
	if err := os.WriteFile(e.cfg, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(e.dir, "state", "admin.token")
	os.Remove(tokenFile)
	stop = startRun(t, e.cfg)
	waitUntil(t, func() bool {
		if _, err := os.Stat(tokenFile); err != nil {
			return false
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return stop
}

// push of 100 files while the service runs: handed to it, all arrive, one
// line per file; queue list, retry and forget go through it too.
func TestPushThroughService(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	stop := startService(t, e)

	src := filepath.Join(e.dir, "batch")
	writeFiles(t, src, 100)
	code, out := run(t, "push", "-c", e.cfg, src)
	if code != 0 {
		t.Fatalf("push exited %d:\n%s", code, out)
	}
	if n := len(e.srv.Objects()); n != 100 {
		t.Errorf("stored %d objects, want 100:\n%s", n, out)
	}
	if c := strings.Count(out, ": uploaded\n"); c != 100 {
		t.Errorf("%d progress lines say uploaded, want 100:\n%s", c, out)
	}
	if !strings.Contains(out, filepath.Join(src, "sub1", "push_99.wav")+": uploaded") {
		t.Errorf("no line for push_99.wav:\n%s", out)
	}
	// Again: every file is already uploaded.
	code, out = run(t, "push", "-q", "-c", e.cfg, src)
	if code != 0 || strings.Count(out, "already uploaded") != 100 || len(e.srv.Objects()) != 100 {
		t.Errorf("second push: exit %d, %d objects:\n%s", code, len(e.srv.Objects()), out)
	}

	// A file over max_file_size is parked; the push says so.
	big := filepath.Join(e.dir, "big", "big.wav")
	os.MkdirAll(filepath.Dir(big), 0o755)
	if err := os.WriteFile(big, bytes.Repeat([]byte{1}, 20000), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = run(t, "push", "-q", "-c", e.cfg, big)
	if code != 1 || !strings.Contains(out, "big.wav: NOT uploaded") || !strings.Contains(out, "max_file_size") {
		t.Fatalf("push of a file over the limit: exit %d:\n%s", code, out)
	}
	code, out = run(t, "queue", "list", "--state", "parked", "-c", e.cfg)
	m := regexp.MustCompile(`(?m)^(\d+)\s+parked\s+@push\s+\S*big\.wav\s.*max_file_size`).FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("queue list --state parked: exit %d:\n%s", code, out)
	}
	id := m[1]
	if code, out := run(t, "queue", "list", "--source", "calls", "-c", e.cfg); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("queue list --source calls: exit %d, want only the header:\n%s", code, out)
	}
	waitUntil(t, func() bool { // the worker lets go of the job it parked
		code, out = run(t, "queue", "retry", "--all-parked", "-c", e.cfg)
		return !strings.Contains(out, "being worked on")
	})
	if code != 0 || !strings.Contains(out, "job "+id+" queued again") {
		t.Fatalf("queue retry --all-parked: exit %d:\n%s", code, out)
	}
	// It is parked again (still too big); forget it.
	waitUntil(t, func() bool {
		_, out := run(t, "queue", "list", "--state", "parked", "-c", e.cfg)
		return strings.Contains(out, "big.wav")
	})
	waitUntil(t, func() bool {
		code, out = run(t, "queue", "forget", id, "-c", e.cfg)
		return !strings.Contains(out, "being worked on")
	})
	if code != 0 || !strings.Contains(out, "job "+id+" forgotten") {
		t.Fatalf("queue forget: exit %d:\n%s", code, out)
	}
	code, out = run(t, "queue", "list", "--state", "skipped", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "forgotten by an admin") {
		t.Errorf("queue list --state skipped: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "queue", "forget", "1", "999", "-c", e.cfg); code != 1 || !strings.Contains(out, "already uploaded") || !strings.Contains(out, "not found") {
		t.Errorf("queue forget of a done and an unknown job: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "queue", "retry", "-c", e.cfg); code == 0 || !strings.Contains(out, "--all-parked") {
		t.Errorf("queue retry without ids: exit %d:\n%s", code, out)
	}

	// Stopped: the token file is still there, nothing listens; the queue
	// commands read the state file.
	stop()
	code, out = run(t, "queue", "list", "--state", "skipped", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "forgotten by an admin") {
		t.Errorf("queue list of the stopped service: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "queue", "retry", id, "-c", e.cfg); code != 0 || !strings.Contains(out, "queued again") {
		t.Errorf("queue retry of the stopped service: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "queue", "forget", id, "-c", e.cfg); code != 0 || !strings.Contains(out, "forgotten") {
		t.Errorf("queue forget of the stopped service: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "state", "check", "-c", e.cfg); code != 0 {
		t.Errorf("state check: exit %d:\n%s", code, out)
	}
}

// A token file the user may not read: the command says to run as root or
// as the service user, and exits 1.
func TestAdminTokenUnreadable(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs a user whom file modes bind")
	}
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	startService(t, e)
	tok := filepath.Join(e.dir, "state", "admin.token")
	if err := os.Chmod(tok, 0); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"queue", "list"}, {"push", e.in}} {
		code, out := run(t, append(args, "-c", e.cfg)...)
		if code != 1 || !strings.Contains(out, "run as root or as the service user") {
			t.Errorf("%v with an unreadable token: exit %d:\n%s", args, code, out)
		}
	}
}
