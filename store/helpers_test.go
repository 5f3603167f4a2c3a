package store

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// t0 is the start of every test clock.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testPath returns the path of a state file in a directory that does not
// exist yet.
func testPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "state", "queue.db")
}

// openTest opens a new store on c and checks its invariants when the test
// ends.
func openTest(t testing.TB, c *clock) *Store {
	t.Helper()
	s, err := Open(testPath(t), Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("after the test: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// found returns a Found of a call in source "rec".
func found(path string, size int64) Found {
	return Found{Source: "rec", Path: path, Size: size, ModTime: t0.Add(-time.Hour), Kind: Call}
}

func mustAdd(t testing.TB, s *Store, f ...Found) int {
	t.Helper()
	n, err := s.Add(f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// claimID claims job id, whatever else is due.
func claimID(t testing.TB, s *Store, id uint64) *Job {
	t.Helper()
	j, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.claimed[id]; ok {
		t.Fatalf("job %d already claimed", id)
	}
	s.claimed[id] = struct{}{}
	return j
}

// moveTo takes the claimed job j along legal transitions to state to and
// returns it still claimed.
func moveTo(t testing.TB, s *Store, j *Job, to State) *Job {
	t.Helper()
	var path []State
	switch to {
	case Queued:
	case Staged, Ready, Parked, Skipped:
		path = []State{to}
	case Presigned, Uploaded:
		path = []State{Ready, to}
	case Done:
		path = []State{Ready, Uploaded, Done}
	default:
		t.Fatalf("no path to %v", to)
	}
	for _, st := range path {
		j.State = st
		if err := s.Save(j); err != nil {
			t.Fatalf("move job %d to %v: %v", j.ID, st, err)
		}
	}
	return j
}

func ids(jobs []*Job) []uint64 {
	out := make([]uint64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}
