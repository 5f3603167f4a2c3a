package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// A stored presign is used while it has more than presignMargin left, and
// dropped for a new one, without an upload attempt, once it has less.
func TestStoredPresignReusedUntilMargin(t *testing.T) {
	a, j, srv := claimedCall(t)
	ctx := context.Background()
	r, err := a.newRun(j)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.describe(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := a.presign(ctx, r); err != nil {
		t.Fatal(err)
	}
	expires := j.Presign.Expires
	if expires.IsZero() {
		t.Fatal("the presign's expiry was not read from its policy")
	}

	// Later, with less than the margin left: dropped, nothing sent.
	a.now = func() time.Time { return expires.Add(-presignMargin / 2) }
	if err := a.upload(ctx, r); err != nil {
		t.Fatal(err)
	}
	if j.State != store.Ready || j.Presign != nil || srv.Count(velatest.OpUpload) != 0 {
		t.Fatalf("near expiry: state %s, presign %v, %d uploads; want ready, none, 0", j.State, j.Presign, srv.Count(velatest.OpUpload))
	}

	// A fresh presign with more than the margin left is used.
	a.now = time.Now
	if err := a.presign(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := a.upload(ctx, r); err != nil {
		t.Fatal(err)
	}
	if j.State != store.Uploaded || srv.Count(velatest.OpUpload) != 1 || srv.Count(velatest.OpPresign) != 2 {
		t.Errorf("state %s, %d uploads, %d presigns; want uploaded, 1, 2", j.State, srv.Count(velatest.OpUpload), srv.Count(velatest.OpPresign))
	}
	if err := a.store.Release(j); err != nil {
		t.Fatal(err)
	}
}

// testAgent makes an agent (not running) on the emulator, with the
// configuration's sources (YAML flow list items, %[1]s standing for the
// watched folder) and the upload settings given; in is the folder.
func testAgent(t *testing.T, sources, upload string) (a *Agent, srv *velatest.Server, dir, in string) {
	t.Helper()
	srv, err := velatest.Start(velatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir = t.TempDir()
	in = filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte(srv.RefreshToken()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(filepath.Join(dir, "vela-agent.yaml"), []byte(fmt.Sprintf(`
api: {base_url: %q, org_id: org-test, refresh_token_file: %q, allocation_recheck: 1h}
state_dir: %q
sources: [`+fmt.Sprintf(sources, strconv.Quote(in))+`]
upload: {`+upload+`}
status: {listen: ""}
`, srv.URL(), token, filepath.Join(dir, "state"))))
	if err != nil {
		t.Fatal(err)
	}
	a, err = Open(cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, srv, dir, in
}

// claimedCall makes an agent (not running) on the emulator with one call
// queued and claimed.
func claimedCall(t *testing.T) (*Agent, *store.Job, *velatest.Server) {
	t.Helper()
	a, srv, _, in := testAgent(t, "{name: calls, path: %[1]s}", "")
	if err := os.WriteFile(filepath.Join(in, "call.wav"), audiotest.WAV(100, 1), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(in, "call.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.store.Add([]store.Found{{Source: "calls", Path: "call.wav", Size: fi.Size(), ModTime: fi.ModTime()}}); err != nil {
		t.Fatal(err)
	}
	j, err := a.store.Claim(store.LaneCalls)
	if err != nil || j == nil {
		t.Fatalf("claim: %v, %v", j, err)
	}
	return a, j, srv
}

// A hold that ends between a worker reading it and going to sleep is no
// wait at all: the worker goes on at once instead of waiting forever.
func TestHoldEndingBeforeTheSleep(t *testing.T) {
	a, j, _ := claimedCall(t)
	// The API's pacer holds until end; its first look at the clock is just
	// before end, every later one after it, and so is the worker's.
	end := time.Now().Add(time.Hour)
	looks := 0
	a.apiPace.now = func() time.Time {
		if looks++; looks == 1 {
			return end.Add(-time.Millisecond)
		}
		return end.Add(time.Second)
	}
	a.apiPace.until = end
	a.now = func() time.Time { return end.Add(time.Second) }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a.process(ctx, j, []store.Lane{store.LaneCalls})
	if ctx.Err() != nil {
		t.Fatal("the worker slept past a hold that had ended")
	}
	got, err := a.store.Get(j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.Done {
		t.Errorf("job %s, want done", got.State)
	}
}
