package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// adminState makes a state file with n queued jobs, the first of them
// parked, and returns its path and the parked job's id.
func adminState(t *testing.T, n int) (path string, parked uint64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "state", "queue.db")
	s, err := store.Open(path, store.Options{})
	must(t, err)
	defer s.Close()
	var found []store.Found
	for i := range n {
		found = append(found, store.Found{Source: "calls", Path: fmt.Sprintf("call_%d.wav", i), Size: int64(1000 + i), ModTime: time.Unix(1_700_000_000, 0), Kind: store.Call})
	}
	if _, err := s.Add(found); err != nil {
		t.Fatal(err)
	}
	j, err := s.Claim(store.LaneCalls, store.LaneChats, store.LaneLocal)
	if err != nil || j == nil {
		t.Fatalf("Claim = %v, %v", j, err)
	}
	j.State, j.Reason = agent.StateParked, "unsupported format"
	must(t, s.Release(j))
	must(t, s.Close())
	return path, j.ID
}

func TestAdminQueue(t *testing.T) {
	t.Parallel()
	path, parked := adminState(t, 3)

	q, err := agent.OpenQueue(path, agent.QueueOptions{ReadOnly: true})
	must(t, err)
	all, err := q.List(0, 0, 100)
	must(t, err)
	if len(all) != 3 {
		t.Errorf("List(all) = %d jobs, want 3", len(all))
	}
	page, err := q.List(0, all[0].ID, 1)
	must(t, err)
	if len(page) != 1 || page[0].ID != all[1].ID {
		t.Errorf("List(all, after %d, 1) = %v, want job %d", all[0].ID, page, all[1].ID)
	}
	want, err := agent.ParseState("parked")
	must(t, err)
	jobs, err := q.List(want, 0, 100)
	must(t, err)
	if len(jobs) != 1 || jobs[0].ID != parked || jobs[0].Reason != "unsupported format" {
		t.Errorf("List(parked) = %+v, want job %d, unsupported format", jobs, parked)
	}
	warnings, err := q.Verify()
	if err != nil || len(warnings) > 0 {
		t.Errorf("Verify = %v, %v; want a good file", warnings, err)
	}
	counts, err := q.Counts()
	must(t, err)
	if counts[agent.StateParked] != 1 || counts[store.Queued] != 2 {
		t.Errorf("Counts = %v, want 1 parked, 2 queued", counts)
	}
	st, err := q.Status()
	must(t, err)
	if st.StateFile != path || st.Counts["parked"] != 1 || len(st.Parked) != 1 || st.Parked[0].ID != parked {
		t.Errorf("Status = %+v, want the state file's counts and its parked job", st)
	}
	if err := q.Retry(parked); err == nil {
		t.Error("Retry on a read-only queue succeeded")
	}
	must(t, q.Close())

	q, err = agent.OpenQueue(path, agent.QueueOptions{})
	must(t, err)
	defer q.Close()
	if err := q.Retry(all[1].ID); err == nil {
		t.Errorf("Retry(%d), a queued job, succeeded; want it refused", all[1].ID)
	}
	must(t, q.Retry(parked))
	j, err := q.List(0, parked-1, 1)
	must(t, err)
	if len(j) != 1 || j[0].State.String() != "queued" || j[0].Reason != "" {
		t.Errorf("job %d after Retry: %+v, want queued without a reason", parked, j)
	}
}

func TestAdminOpenQueueErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "queue.db")
	if _, err := agent.OpenQueue(missing, agent.QueueOptions{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("OpenQueue(missing, read-only) = %v, want fs.ErrNotExist", err)
	}

	path, _ := adminState(t, 1)
	q, err := agent.OpenQueue(path, agent.QueueOptions{})
	must(t, err)
	_, err = agent.OpenQueue(path, agent.QueueOptions{ReadOnly: true, Wait: 50 * time.Millisecond})
	if !errors.Is(err, agent.ErrLocked) {
		t.Errorf("OpenQueue while another has it = %v, want ErrLocked", err)
	}
	if _, err := agent.ResetState(path); !errors.Is(err, agent.ErrLocked) {
		t.Errorf("ResetState while another has it = %v, want ErrLocked", err)
	}
	must(t, q.Close())

	// Cut short, the file is damaged.
	fi, err := os.Stat(path)
	must(t, err)
	must(t, os.Truncate(path, fi.Size()/2))
	if _, err := agent.OpenQueue(path, agent.QueueOptions{}); !errors.Is(err, agent.ErrDamaged) {
		t.Errorf("OpenQueue(damaged) = %v, want ErrDamaged", err)
	}

	// Gone where the marker says one was, the file is lost.
	must(t, os.Remove(path))
	if _, err := agent.OpenQueue(path, agent.QueueOptions{}); !errors.Is(err, agent.ErrLostState) {
		t.Errorf("OpenQueue(lost) = %v, want ErrLostState", err)
	}
}

func TestAdminStates(t *testing.T) {
	t.Parallel()
	states := agent.States()
	if len(states) != 8 || states[0].String() != "queued" || !slices.Contains(states, agent.StateDone) {
		t.Errorf("States() = %v", states)
	}
	states[0] = agent.StateDone // the caller's copy
	if agent.States()[0].String() != "queued" {
		t.Error("changing the slice States returned changed the next one")
	}
	for _, s := range agent.States() {
		got, err := agent.ParseState(s.String())
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := agent.ParseState("lost"); err == nil {
		t.Error(`ParseState("lost") succeeded`)
	}
}

func TestAdminStateFile(t *testing.T) {
	t.Parallel()
	path, _ := adminState(t, 2)

	// Salvage a good file elsewhere: everything is copied.
	out := filepath.Join(filepath.Dir(path), "salvaged.db")
	rep, err := agent.SalvageState(path, out)
	must(t, err)
	if rep.To != out || rep.Jobs != 2 || rep.Lost() {
		t.Errorf("SalvageState = %+v, want 2 jobs copied to %s, nothing lost", rep, out)
	}

	started, err := agent.AcceptNewState(path)
	if err != nil || started {
		t.Errorf("AcceptNewState(good file) = %v, %v; want false, nil", started, err)
	}

	aside, err := agent.ResetState(path)
	must(t, err)
	if aside == "" {
		t.Error("ResetState kept no copy of the old file")
	} else if _, err := os.Stat(aside); err != nil {
		t.Errorf("the old file: %v", err)
	}
	q, err := agent.OpenQueue(path, agent.QueueOptions{ReadOnly: true})
	must(t, err)
	jobs, err := q.List(0, 0, 10)
	must(t, err)
	if len(jobs) != 0 {
		t.Errorf("%d jobs after ResetState, want none", len(jobs))
	}
	must(t, q.Close())

	must(t, os.Remove(path))
	started, err = agent.AcceptNewState(path)
	if err != nil || !started {
		t.Errorf("AcceptNewState(lost file) = %v, %v; want true, nil", started, err)
	}
	q, err = agent.OpenQueue(path, agent.QueueOptions{})
	must(t, err)
	must(t, q.Close())
}

func TestAdminLogin(t *testing.T) {
	t.Parallel()
	srv, err := velatest.Start(velatest.Options{OrgID: "org-42"})
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	file := filepath.Join(dir, "vela-agent.yaml")
	must(t, os.WriteFile(file, fmt.Appendf(nil, `api:
  base_url: %s
  org_id: org-42
  refresh_token_file: %s
  timeout: 2s
state_dir: %s
sources:
  - name: calls
    path: %s
`, srv.URL(), filepath.Join(dir, "refresh_token"), filepath.Join(dir, "state"), dir), 0o600))
	cfg, err := config.Load(file)
	must(t, err)
	ctx := context.Background()

	s, err := agent.Login(ctx, cfg, "admin@example.com", "secret")
	must(t, err)
	if s.RefreshToken == "" || s.OrgID != "org-42" {
		t.Errorf("Login = %+v, want a refresh token and org-42", s)
	}
	if s, err := agent.Login(ctx, cfg, "admin@example.com", "wrong"); err == nil || s != nil {
		t.Errorf("Login with a wrong password = %+v, %v; want an error", s, err)
	}
	if n := srv.Count(velatest.OpLogin); n != 2 {
		t.Errorf("%d logins reached the server, want 2", n)
	}
}
