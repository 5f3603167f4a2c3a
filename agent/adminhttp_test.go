package agent_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/store"
)

// newAdminHarness is a harness whose agent listens on a free loopback
// port, with files over 1 KB parked.
func newAdminHarness(t *testing.T) (*harness, string) {
	t.Helper()
	h := newHarness(t, harnessOptions{upload: "  max_file_size: 1KB\n"})
	addr := freeAddr(t)
	cfg, err := os.ReadFile(h.cfgFile)
	must(t, err)
	cfg = bytes.Replace(cfg, []byte(`listen: ""`), []byte("listen: "+addr), 1)
	must(t, os.WriteFile(h.cfgFile, cfg, 0o600))
	return h, addr
}

// waitToken waits until the agent has written a token other than prev
// (Run writes it as it starts) and returns it.
func waitToken(t *testing.T, h *harness, prev string) string {
	t.Helper()
	p := filepath.Join(h.state, agent.AdminTokenFile)
	h.waitFor("the admin token", 10*time.Second, func() bool {
		b, err := os.ReadFile(p)
		return err == nil && strings.TrimSpace(string(b)) != prev
	})
	return readToken(t, h)
}

func readToken(t *testing.T, h *harness) string {
	t.Helper()
	p := filepath.Join(h.state, agent.AdminTokenFile)
	fi, err := os.Stat(p)
	must(t, err)
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
	}
	b, err := os.ReadFile(p)
	must(t, err)
	tok := strings.TrimSpace(string(b))
	if raw, err := hex.DecodeString(tok); err != nil || len(raw) != 32 {
		t.Fatalf("admin token %q: want 32 bytes in hex", tok)
	}
	return tok
}

func TestAdminAuth(t *testing.T) {
	h, addr := newAdminHarness(t)
	h.start()
	tok := waitToken(t, h, "")
	get := func(path, auth string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		must(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, auth := range []string{"", "Bearer", "Bearer " + tok[:63], "Bearer " + tok + "0", "Basic " + tok, tok, "bearer " + strings.ToUpper(tok)} {
		for _, path := range []string{"/admin/jobs", "/admin/nothing", "/admin/"} {
			code, body := get(path, auth)
			if code != http.StatusUnauthorized || strings.TrimSpace(body) != "unauthorized" {
				t.Errorf("GET %s with %q: %d %q, want 401 and no detail", path, auth, code, body)
			}
		}
	}
	if code, body := get("/admin/jobs?limit=5", "Bearer "+tok); code != http.StatusOK || !strings.Contains(body, `"jobs"`) {
		t.Errorf("GET /admin/jobs with the token: %d %s", code, body)
	}
	if code, _ := get("/status", ""); code != http.StatusOK {
		t.Errorf("GET /status without a token: %d, want 200 (only /admin/ needs it)", code)
	}
	// POST routes refuse GET, once authenticated.
	if code, _ := get("/admin/push", "Bearer "+tok); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /admin/push: %d, want 405", code)
	}

	// A new token at each start; the old one no longer opens.
	h.stop()
	h.start()
	tok2 := waitToken(t, h, tok)
	if tok2 == tok {
		t.Error("the admin token was not rewritten at the start")
	}
	if code, _ := get("/admin/jobs", "Bearer "+tok); code != http.StatusUnauthorized {
		t.Errorf("the previous run's token: %d, want 401", code)
	}
	if code, _ := get("/admin/jobs", "Bearer "+tok2); code != http.StatusOK {
		t.Errorf("the new token: %d, want 200", code)
	}
}

func TestAdminAPI(t *testing.T) {
	h, _ := newAdminHarness(t)
	cfg, err := config.Load(h.cfgFile)
	must(t, err)
	ctx := context.Background()
	if _, err := agent.DialAdmin(ctx, cfg); !errors.Is(err, agent.ErrNotRunning) {
		t.Fatalf("DialAdmin before any start: %v, want ErrNotRunning", err)
	}
	h.start()
	waitToken(t, h, "")
	c, err := agent.DialAdmin(ctx, cfg)
	must(t, err)

	// A push of files outside the sources, and a big file in the watched
	// folder, parked.
	h.write("big.wav", 5000)
	out := t.TempDir()
	var paths []string
	for _, f := range []struct {
		name string
		data []byte
	}{{"a.wav", audiotest.WAV(1000, 1)}, {"b.mp3", audiotest.MP3(2)}, {"notes.txt", []byte("notes")}} {
		p := filepath.Join(out, f.name)
		must(t, os.WriteFile(p, f.data, 0o644))
		paths = append(paths, p)
	}
	pushed, err := c.Push(ctx, []string{out})
	must(t, err)
	if len(pushed) != 2 || pushed[0].Job == nil || pushed[1].Job == nil {
		t.Fatalf("push: %+v, want two jobs", pushed)
	}
	if pushed[0].Path != paths[0] || pushed[0].Job.Source != agent.PushSource {
		t.Errorf("push: %+v", pushed[0])
	}
	if _, err := c.Push(ctx, []string{filepath.Join(out, "missing.wav")}); err == nil || !strings.Contains(err.Error(), "missing.wav") {
		t.Errorf("push of a missing file: %v", err)
	}
	h.waitFor("pushed files done and one parked", 30*time.Second, func() bool {
		return h.count("done") == 2 && h.count("parked") == 1
	})
	jobs, err := c.Jobs(ctx, []uint64{pushed[1].Job.ID, pushed[0].Job.ID})
	must(t, err)
	if len(jobs) != 2 || jobs[0].ID != pushed[1].Job.ID || jobs[0].State != "done" || jobs[1].State != "done" {
		t.Errorf("jobs by id: %+v", jobs)
	}
	if _, err := c.Jobs(ctx, []uint64{999}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("an unknown id: %v", err)
	}

	parked, err := c.List(ctx, agent.ListFilter{State: agent.StateParked})
	must(t, err)
	if len(parked) != 1 || parked[0].Path != "big.wav" || !strings.Contains(parked[0].Reason, "max_file_size") {
		t.Fatalf("parked: %+v", parked)
	}
	big := parked[0].ID
	if l, err := c.List(ctx, agent.ListFilter{Source: agent.PushSource}); err != nil || len(l) != 2 {
		t.Errorf("list of the push source: %+v, %v", l, err)
	}
	if l, err := c.List(ctx, agent.ListFilter{Source: "calls", State: agent.StateDone}); err != nil || len(l) != 0 {
		t.Errorf("done jobs of calls: %+v, %v", l, err)
	}
	if l, err := c.List(ctx, agent.ListFilter{Limit: 1, After: pushed[0].Job.ID}); err != nil || len(l) != 1 || l[0].ID <= pushed[0].Job.ID {
		t.Errorf("list after %d, limit 1: %+v, %v", pushed[0].Job.ID, l, err)
	}

	// Retry every parked job: it is queued again, and parked again (still
	// too big); a done job is refused.
	var res []agent.AdminResult
	h.waitFor("the parked job let go by its worker", 10*time.Second, func() bool {
		res, err = c.Retry(ctx, nil, true)
		must(t, err)
		return len(res) != 1 || !strings.Contains(res[0].Error, "being worked on")
	})
	if len(res) != 1 || res[0].ID != big || res[0].Error != "" {
		t.Errorf("retry all parked: %+v", res)
	}
	h.waitFor("the big file parked again", 30*time.Second, func() bool {
		j, err := h.agent.Job(big)
		return err == nil && j.State == agent.StateParked && j.Attempts == 0
	})
	res, err = c.Retry(ctx, []uint64{pushed[0].Job.ID, 999}, false)
	must(t, err)
	if len(res) != 2 || res[0].Error == "" || !strings.Contains(res[1].Error, "not found") {
		t.Errorf("retry of a done and an unknown job: %+v", res)
	}

	// Forget the parked job: skipped for good, and the rescans of its
	// folder do not queue it again.
	h.waitFor("the parked job let go by its worker", 10*time.Second, func() bool {
		res, err = c.Forget(ctx, []uint64{big, pushed[0].Job.ID, 999})
		must(t, err)
		return len(res) == 0 || !strings.Contains(res[0].Error, "being worked on")
	})
	if len(res) != 3 || res[0].Error != "" || !strings.Contains(res[1].Error, "already uploaded") || !strings.Contains(res[2].Error, "not found") {
		t.Errorf("forget: %+v", res)
	}
	j, err := h.agent.Job(big)
	must(t, err)
	if j.State != agent.StateSkipped || j.Reason != agent.ForgottenReason {
		t.Errorf("forgotten job: %s %q", j.State, j.Reason)
	}
	if res, err := c.Forget(ctx, []uint64{big}); err != nil || res[0].Error != "" {
		t.Errorf("forget twice: %+v, %v", res, err)
	}
	time.Sleep(2 * time.Second) // two rescans
	if l, err := c.List(ctx, agent.ListFilter{Source: "calls"}); err != nil || len(l) != 1 {
		t.Errorf("jobs of calls after a forget and rescans: %+v, %v", l, err)
	}
	// Bad requests say what is wrong.
	if _, err := c.Retry(ctx, nil, false); err == nil || !strings.Contains(err.Error(), "no job ids") {
		t.Errorf("retry of nothing: %v", err)
	}

	h.stop()
	if _, err := agent.DialAdmin(ctx, cfg); !errors.Is(err, agent.ErrNotRunning) {
		t.Errorf("DialAdmin of a stopped agent: %v, want ErrNotRunning", err)
	}
	q, err := agent.OpenQueue(agent.StateFile(cfg), agent.QueueOptions{ReadOnly: true})
	must(t, err)
	defer q.Close()
	if _, err := q.Verify(); err != nil {
		t.Errorf("the state file after the admin requests: %v", err)
	}
	counts, err := q.Counts()
	must(t, err)
	if counts[agent.StateDone] != 2 || counts[agent.StateSkipped] != 1 || counts[agent.StateParked] != 0 {
		t.Errorf("counts: %v", counts)
	}
}

// Queue.Forget and RetryParked on a stopped agent's state file.
func TestQueueForgetAndRetryParked(t *testing.T) {
	h, _ := newAdminHarness(t)
	h.start()
	h.write("big1.wav", 5000)
	h.write("big2.wav", 6000)
	h.write("small.wav", 500)
	h.waitFor("two parked, one done", 30*time.Second, func() bool { return h.count("parked") == 2 && h.count("done") == 1 })
	h.stop()
	cfg, err := config.Load(h.cfgFile)
	must(t, err)
	q, err := agent.OpenQueue(agent.StateFile(cfg), agent.QueueOptions{})
	must(t, err)
	defer q.Close()
	parked, err := q.ListJobs(agent.ListFilter{State: agent.StateParked, Source: "calls"})
	must(t, err)
	if len(parked) != 2 {
		t.Fatalf("parked: %d", len(parked))
	}
	must(t, q.Forget(parked[0].ID))
	res, err := q.RetryParked()
	must(t, err)
	if len(res) != 1 || res[0].ID != parked[1].ID || res[0].Error != "" {
		t.Errorf("retried %+v, want [%d]", res, parked[1].ID)
	}
	done, err := q.ListJobs(agent.ListFilter{State: agent.StateDone})
	must(t, err)
	if err := q.Forget(done[0].ID); err == nil || !strings.Contains(err.Error(), "already uploaded") {
		t.Errorf("forget of a done job: %v", err)
	}
	if _, err := q.Verify(); err != nil {
		t.Error(err)
	}
	counts, err := q.Counts()
	must(t, err)
	if counts[agent.StateSkipped] != 1 || counts[store.Queued] != 1 || counts[agent.StateParked] != 0 {
		t.Errorf("counts: %v", counts)
	}
}
