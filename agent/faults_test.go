package agent_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// Each fault test ends with every file uploaded exactly once.
func TestFaultsEndUploaded(t *testing.T) {
	tests := []struct {
		name   string
		faults []velatest.Fault
		// extra presigns the fault legitimately costs
		extraPresigns int
	}{
		{name: "presign 5xx", faults: []velatest.Fault{{Op: velatest.OpPresign, Status: 502, Times: 3}, {Op: velatest.OpPresign, Status: 500, Message: "internal", Times: 2}}},
		{name: "presign timeout", faults: []velatest.Fault{{Op: velatest.OpPresign, Delay: 3 * time.Second, Times: 2}}},
		{name: "presign 429 Retry-After", faults: []velatest.Fault{{Op: velatest.OpPresign, Status: 429, RetryAfter: time.Second, Times: 2}}},
		{name: "S3 503 SlowDown", faults: []velatest.Fault{{Op: velatest.OpUpload, Status: 503, Code: "SlowDown", Message: "Please reduce your request rate.", RetryAfter: time.Second, Times: 3}}},
		{name: "S3 reset mid-body", faults: []velatest.Fault{{Op: velatest.OpUpload, ResetAfter: 20000, Times: 3}}},
		{name: "expired presign", faults: []velatest.Fault{{Op: velatest.OpPresign, ExpiredPolicy: true, Times: 2}}, extraPresigns: 2},
		{name: "token refresh fails transiently", faults: []velatest.Fault{{Op: velatest.OpGenerate, Status: 503, Times: 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{})
			for _, f := range tt.faults {
				h.srv.Inject(f)
			}
			h.start()
			const n = 12
			for i := 0; i < n; i++ {
				h.write(fmt.Sprintf("d%d/call_%02d.wav", i%2, i), 60_000+i)
			}
			h.waitDone(n)
			h.verify()
			if got, want := len(h.srv.Presigns()), n+tt.extraPresigns; got > want {
				t.Errorf("presigns granted = %d, want at most %d", got, want)
			}
		})
	}
}

// A 429's Retry-After is honoured: the next presign comes no sooner.
func TestRetryAfterHonoured(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	var mu sync.Mutex
	var times []time.Time
	h.srv.SetHook(velatest.OpPresign, func(*http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
	})
	h.srv.Inject(velatest.Fault{Op: velatest.OpPresign, Status: 429, RetryAfter: 2 * time.Second})
	h.start()
	h.write("a.wav", 1000)
	h.waitDone(1)
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("presign requests = %d, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < 2*time.Second-50*time.Millisecond {
		t.Errorf("retried after %v, before Retry-After (2s)", gap)
	}
}

// An access token that stops working is refreshed once and the call retried.
func TestAccessTokenExpiredMidway(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.start()
	h.write("one.wav", 5000)
	h.waitDone(1)
	generated := h.srv.Count(velatest.OpGenerate)
	h.srv.ExpireAccessTokens()
	h.write("two.wav", 5000)
	h.waitDone(2)
	h.verify()
	if got := h.srv.Count(velatest.OpGenerate); got != generated+1 {
		t.Errorf("token refreshes = %d, want %d", got, generated+1)
	}
}

// A rejected refresh token pauses everything with a reason in the status;
// a new token from `vela-agent login` lets the agent resume by itself.
func TestRefreshTokenRejectedPausesThenResumes(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.srv.RevokeRefreshTokens()
	h.start()
	h.write("call.wav", 5000)
	h.waitFor("pause", 20*time.Second, func() bool { return pausedWith(h, agent.GateAll, "login") })
	if n := len(h.srv.Objects()); n != 0 {
		t.Fatalf("%d objects uploaded while paused", n)
	}
	// The admin signs in again: a fresh refresh token in the file.
	tok := login(t, h.srv)
	must(t, os.WriteFile(h.token, []byte(tok), 0o600))
	h.waitDone(1)
	h.verify()
	if st, _ := h.agent.Status(); len(st.Paused) != 0 {
		t.Errorf("still paused: %+v", st.Paused)
	}
}

// Allocation exceeded pauses call uploads and keeps the queue; restoring
// minutes resumes them without help.
func TestAllocationExceededPausesThenResumes(t *testing.T) {
	h := newHarness(t, harnessOptions{srv: velatest.Options{Allocation: 5}})
	h.start()
	for i := 0; i < 10; i++ {
		h.write(fmt.Sprintf("call_%02d.wav", i), 4000)
	}
	h.waitFor("pause", 30*time.Second, func() bool { return pausedWith(h, agent.GateCalls, "Allocation exceeded") })
	h.waitDone(5)
	if got := h.count("done"); got != 5 {
		t.Fatalf("done while paused = %d, want 5", got)
	}
	h.srv.SetAllocation(1000)
	h.waitDone(10)
	h.verify()
	h.waitFor("resume", 10*time.Second, func() bool { st, _ := h.agent.Status(); return len(st.Paused) == 0 })
}

// A wrong org_id stops all uploading and the status says why.
func TestOrganisationNotFoundStops(t *testing.T) {
	h := newHarness(t, harnessOptions{org: "no-such-org"})
	h.start()
	h.write("call.wav", 4000)
	h.waitFor("pause", 20*time.Second, func() bool { return pausedWith(h, agent.GateAll, "Organisation not found") })
	if n := len(h.srv.Objects()); n != 0 {
		t.Errorf("%d objects uploaded with a wrong org", n)
	}
	if got := h.count("queued") + h.count("ready"); got != 1 {
		t.Errorf("waiting jobs = %d, want the job kept", got)
	}
}

func pausedWith(h *harness, gate, reason string) bool {
	st, err := h.agent.Status()
	if err != nil {
		return false
	}
	for _, g := range st.Paused {
		if g.Name == gate && strings.Contains(g.Reason, reason) {
			return true
		}
	}
	return false
}

// login signs in to the emulator the way `vela-agent login` does.
func login(t *testing.T, srv *velatest.Server) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := strings.NewReader(`{"email":"admin@example.com","password":"secret"}`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/auth/login", body)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var s struct {
		RefreshToken string `json:"refresh_token"`
	}
	must(t, decodeJSON(resp, &s))
	return s.RefreshToken
}

// A file still being written is uploaded once, complete.
func TestGrowingFileUploadedOnceComplete(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.start()
	p := filepath.Join(h.in, "growing.wav")
	f, err := os.Create(p)
	must(t, err)
	chunk := make([]byte, 4096)
	for i := 0; i < 50; i++ { // every 100 ms for 5 s
		for k := range chunk {
			chunk[k] = byte(i + k)
		}
		if i == 0 {
			copy(chunk, audiotest.Header(50*int64(len(chunk)))) // as recorders do, the final size or a placeholder
		}
		_, err := f.Write(chunk)
		must(t, err)
		time.Sleep(100 * time.Millisecond)
	}
	must(t, f.Close())
	data, err := os.ReadFile(p)
	must(t, err)
	h.mu.Lock()
	h.files["growing.wav"] = data
	h.mu.Unlock()
	h.waitDone(1)
	h.verify()
	if got := h.srv.Count(velatest.OpPresign); got != 1 {
		t.Errorf("presigns = %d, want 1", got)
	}
}

// A file deleted before its upload is skipped with a reason; nothing else
// is affected.
func TestDeletedBeforeUploadSkipped(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	victim := filepath.Join(h.in, "gone.wav")
	h.srv.SetHook(velatest.OpPresign, func(r *http.Request) { os.Remove(victim) })
	h.start()
	h.write("gone.wav", 3000)
	h.waitFor("skip", 30*time.Second, func() bool { return h.count("skipped") == 1 })
	jobs, err := h.agent.Store().List(0, 0, 10)
	must(t, err)
	if len(jobs) != 1 || !strings.Contains(jobs[0].Reason, "no longer exists") {
		t.Errorf("jobs = %+v, want one skipped because the file no longer exists", jobs)
	}
}

// A file that changes while it is being uploaded is not recorded as
// uploaded: its new version is queued and uploaded once it settles.
func TestChangedDuringUploadQueuedAgain(t *testing.T) {
	h := newHarness(t, harnessOptions{upload: "  bandwidth_limit: 1MB\n"})
	p := filepath.Join(h.in, "rec.wav")
	var once sync.Once
	h.srv.SetHook(velatest.OpUpload, func(*http.Request) {
		once.Do(func() {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err == nil {
				f.Write([]byte("appended while uploading"))
				f.Close()
			}
		})
	})
	h.start()
	h.write("rec.wav", 1_500_000)
	h.waitDone(1)
	final, err := os.ReadFile(p)
	must(t, err)
	h.mu.Lock()
	h.files["rec.wav"] = final
	h.mu.Unlock()
	// verify finds the final content uploaded exactly once: the cut-short
	// first attempt stored nothing.
	h.verify()
	if got := h.count("skipped"); got != 1 {
		t.Errorf("skipped = %d, want the first version's job", got)
	}
	jobs, err := h.agent.Store().List(store.Skipped, 0, 10)
	must(t, err)
	if len(jobs) != 1 || !strings.Contains(jobs[0].Reason, "changed while it was being uploaded") {
		t.Errorf("skipped jobs = %+v", jobs)
	}
}
