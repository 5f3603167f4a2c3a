package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestAddDedup(t *testing.T) {
	a := found("a.wav", 100)
	newer := a
	newer.Size, newer.ModTime = 200, a.ModTime.Add(time.Minute)
	touched := a
	touched.ModTime = a.ModTime.Add(time.Second)
	other := a
	other.Source = "pbx"

	for _, tc := range []struct {
		name    string
		batches [][]Found
		added   []int // per batch
		jobs    int
	}{
		{"same version twice in one batch", [][]Found{{a, a}}, []int{1}, 1},
		{"same version in two batches", [][]Found{{a}, {a}}, []int{1, 0}, 1},
		{"new size and time", [][]Found{{a}, {newer}}, []int{1, 1}, 2},
		{"new time only", [][]Found{{a}, {touched}, {touched}}, []int{1, 1, 0}, 2},
		{"back to an old version", [][]Found{{a}, {newer}, {a}}, []int{1, 1, 1}, 3},
		{"same path in another source", [][]Found{{a, other}}, []int{2}, 2},
		{"empty batch", [][]Found{{}}, []int{0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, newClock())
			for i, b := range tc.batches {
				if n := mustAdd(t, s, b...); n != tc.added[i] {
					t.Errorf("batch %d added %d jobs, want %d", i, n, tc.added[i])
				}
			}
			jobs, err := s.List(0, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) != tc.jobs {
				t.Errorf("%d jobs, want %d", len(jobs), tc.jobs)
			}
		})
	}
}

func TestAddRejects(t *testing.T) {
	s := openTest(t, newClock())
	for _, f := range []Found{
		{Path: "a.wav"},
		{Source: "rec"},
		{Source: "r\x00c", Path: "a.wav"},
		{Source: "rec", Path: "a.wav", Size: -1},
		{Source: "rec", Path: "a.wav", Kind: 9},
	} {
		if _, err := s.Add([]Found{found("ok.wav", 1), f}); err == nil {
			t.Errorf("Add(%+v) succeeded", f)
		}
	}
	if c, _ := s.Counts(); c[Queued] != 0 {
		t.Errorf("a refused batch added %d jobs", c[Queued])
	}
}

func TestAddNewJob(t *testing.T) {
	c := newClock()
	s := openTest(t, c)
	f := Found{Source: "rec", Path: "dir/a.json", Size: 5, ModTime: t0.Add(-time.Hour), Kind: Chat, Parent: 0}
	mustAdd(t, s, f)
	j, err := s.Latest("rec", "dir/a.json")
	if err != nil {
		t.Fatal(err)
	}
	want := &Job{ID: 1, Source: "rec", Path: "dir/a.json", Size: 5, ModTime: f.ModTime, Kind: Chat, Lane: LaneChats,
		State: Queued, NextAttempt: t0, Created: t0, Updated: t0}
	sameJob(t, j, want)
	if _, err := s.Latest("rec", "nope.wav"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Latest of an unknown file: err = %v", err)
	}
	if _, err := s.Get(99); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(99): err = %v", err)
	}
}

func TestAddSupersedes(t *testing.T) {
	for _, tc := range []struct {
		prev       State
		claimed    bool
		superseded bool
	}{
		{Queued, false, true},
		{Staged, false, true},
		{Ready, false, true},
		{Presigned, false, true},
		{Uploaded, false, false},
		{Done, false, false},
		{Parked, false, false},
		{Skipped, false, false},
		{Queued, true, false},
		{Presigned, true, false},
	} {
		t.Run(fmt.Sprintf("%v claimed=%v", tc.prev, tc.claimed), func(t *testing.T) {
			s := openTest(t, newClock())
			v1 := found("a.wav", 1)
			mustAdd(t, s, v1)
			j := moveTo(t, s, claimID(t, s, 1), tc.prev)
			j.Reason = "earlier"
			if !tc.claimed {
				if err := s.Release(j); err != nil {
					t.Fatal(err)
				}
			}
			v2 := v1
			v2.Size = 2
			if n := mustAdd(t, s, v2); n != 1 {
				t.Fatalf("new version added %d jobs", n)
			}
			old, err := s.Get(1)
			if err != nil {
				t.Fatal(err)
			}
			if tc.superseded {
				if old.State != Skipped || old.Reason != SupersededReason {
					t.Errorf("previous job is %v %q, want skipped %q", old.State, old.Reason, SupersededReason)
				}
			} else if old.State != tc.prev {
				t.Errorf("previous job moved to %v", old.State)
			}
			latest, err := s.Latest("rec", "a.wav")
			if err != nil || latest.ID != 2 || latest.State != Queued || latest.Size != 2 {
				t.Errorf("Latest() = %+v, %v; want job 2 queued", latest, err)
			}
			if tc.claimed {
				if err := s.Release(j); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestClaimOrderAndLanes(t *testing.T) {
	c := newClock()
	s := openTest(t, c)
	// Jobs 1..6: calls 1, 3, 5; chats 2, 4; a ZIP 6.
	kinds := []Kind{Call, Chat, Call, Chat, Call, Zip}
	for i, k := range kinds {
		f := found(fmt.Sprintf("%d", i+1), 1)
		f.Kind = k
		mustAdd(t, s, f)
	}
	// Give job 1 a later due time and job 5 an earlier one than the rest.
	for id, d := range map[uint64]time.Duration{1: -time.Second, 5: -time.Hour} {
		j := claimID(t, s, id)
		j.NextAttempt = t0.Add(d)
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(time.Minute)

	for _, tc := range []struct {
		lanes []Lane
		want  []uint64
	}{
		{nil, nil},
		{[]Lane{LaneCalls}, []uint64{5, 1, 3}},
		{[]Lane{LaneChats, LaneChats}, []uint64{2, 4}},
		{[]Lane{LaneLocal, LaneCalls}, []uint64{5, 1, 3, 6}},
		{[]Lane{LaneChats, LaneCalls, LaneLocal}, []uint64{5, 1, 2, 3, 4, 6}},
	} {
		var got []*Job
		for {
			j, err := s.Claim(tc.lanes...)
			if err != nil {
				t.Fatal(err)
			}
			if j == nil {
				break
			}
			got = append(got, j)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("Claim(%v) gave jobs %v, want %v", tc.lanes, ids(got), tc.want)
		}
		for _, j := range got {
			if err := s.Release(j); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.Claim(Lane(7)); err == nil {
		t.Error("Claim of an unknown lane succeeded")
	}
}

func TestClaimSkipsClaimed(t *testing.T) {
	s := openTest(t, newClock())
	mustAdd(t, s, found("a", 1), found("b", 1), found("c", 1))
	var held []*Job
	for range 3 {
		j, err := s.Claim(LaneCalls)
		if err != nil || j == nil {
			t.Fatalf("Claim() = %v, %v", j, err)
		}
		held = append(held, j)
		// Saving keeps the claim, even when the job stays due.
		j.State = Ready
		if err := s.Save(j); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(ids(held), []uint64{1, 2, 3}) {
		t.Errorf("claimed %v", ids(held))
	}
	if j, err := s.Claim(LaneCalls); j != nil || err != nil {
		t.Errorf("Claim with every job claimed = %v, %v", j, err)
	}
	if _, ok, err := s.NextDue(LaneCalls); ok || err != nil {
		t.Errorf("NextDue with every job claimed: ok %v, err %v", ok, err)
	}
	if err := s.Release(held[1]); err != nil {
		t.Fatal(err)
	}
	if j, err := s.Claim(LaneCalls); err != nil || j == nil || j.ID != 2 || j.State != Ready {
		t.Errorf("Claim after releasing job 2 = %+v, %v", j, err)
	}
	for _, j := range held {
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReleaseBacksOff(t *testing.T) {
	c := newClock()
	s := openTest(t, c)
	mustAdd(t, s, found("a.wav", 1))
	j, err := s.Claim(LaneCalls)
	if err != nil || j == nil {
		t.Fatal(j, err)
	}
	j.Attempts++
	j.LastError = "presign: 503"
	j.NextAttempt = c.Now().Add(30 * time.Second)
	c.Add(time.Second)
	if err := s.Release(j); err != nil {
		t.Fatal(err)
	}
	if !j.Updated.Equal(t0.Add(time.Second)) {
		t.Errorf("Release set Updated %v, want the clock's %v", j.Updated, t0.Add(time.Second))
	}
	if due, ok, err := s.NextDue(LaneCalls, LaneChats); !ok || err != nil || !due.Equal(j.NextAttempt) {
		t.Errorf("NextDue() = %v, %v, %v; want %v", due, ok, err, j.NextAttempt)
	}
	if _, ok, _ := s.NextDue(LaneChats); ok {
		t.Error("NextDue of an empty lane reported a job")
	}
	for _, step := range []struct {
		advance time.Duration
		due     bool
	}{{0, false}, {28 * time.Second, false}, {time.Second, true}} {
		c.Add(step.advance)
		got, err := s.Claim(LaneCalls)
		if err != nil {
			t.Fatal(err)
		}
		if (got != nil) != step.due {
			t.Fatalf("at %v: Claim() = %v, want due %v", c.Now().Sub(t0), got, step.due)
		}
		if got != nil {
			if got.Attempts != 1 || got.LastError != "presign: 503" {
				t.Errorf("claimed job lost its progress: %+v", got)
			}
			if err := s.Release(got); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSaveRefuses(t *testing.T) {
	s := openTest(t, newClock())
	mustAdd(t, s, found("a.wav", 1))
	j, err := s.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	j.State = Ready
	if err := s.Save(j); !errors.Is(err, ErrNotClaimed) {
		t.Errorf("Save of an unclaimed job: err = %v", err)
	}
	j = claimID(t, s, 1)
	for name, change := range map[string]func(j *Job){
		"path":     func(j *Job) { j.Path = "b.wav" },
		"size":     func(j *Job) { j.Size++ },
		"mtime":    func(j *Job) { j.ModTime = j.ModTime.Add(1) },
		"state 0":  func(j *Job) { j.State = 0 },
		"kind":     func(j *Job) { j.Kind = 99 },
		"attempts": func(j *Job) { j.Attempts = -1 },
	} {
		bad := *j
		change(&bad)
		if err := s.Save(&bad); err == nil {
			t.Errorf("Save with a changed %s succeeded", name)
		}
	}
	// A failed Release still ends the claim.
	bad := *j
	bad.Size++
	if err := s.Release(&bad); err == nil {
		t.Errorf("Release with a changed size succeeded")
	}
	if got, err := s.Claim(LaneCalls); err != nil || got == nil || got.State != Queued {
		t.Errorf("Claim after a failed Release = %+v, %v", got, err)
	} else if err := s.Release(got); err != nil {
		t.Fatal(err)
	}
	// Kind may change when the job is described; the job changes lane.
	j = claimID(t, s, 1)
	j.Kind, j.State = Chat, Ready
	if err := s.Release(j); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Claim(LaneCalls); got != nil {
		t.Errorf("the job stayed in the calls lane")
	}
	if got, err := s.Claim(LaneChats); err != nil || got == nil {
		t.Errorf("the job is not in the chats lane: %v, %v", got, err)
	} else if err := s.Release(got); err != nil {
		t.Fatal(err)
	}
}

func TestRequeue(t *testing.T) {
	for _, tc := range []struct {
		state   State
		claimed bool
		err     error
	}{
		{Parked, false, nil},
		{Skipped, false, nil},
		{Parked, true, ErrClaimed},
		{Queued, false, ErrIllegalTransition},
		{Presigned, false, ErrIllegalTransition},
		{Done, false, ErrIllegalTransition},
	} {
		t.Run(fmt.Sprintf("%v claimed=%v", tc.state, tc.claimed), func(t *testing.T) {
			c := newClock()
			s := openTest(t, c)
			mustAdd(t, s, found("a.wav", 1))
			j := claimID(t, s, 1)
			if tc.state == Parked || tc.state == Skipped {
				j = moveTo(t, s, j, Presigned)
				j.Presign = &Presign{URL: "https://s3", Expires: t0.Add(time.Hour)}
			}
			j = moveTo(t, s, j, tc.state)
			j.Attempts, j.LastError, j.Reason = 3, "timeout", "Team not found"
			j.NextAttempt = t0.Add(time.Hour)
			if err := s.Save(j); err != nil {
				t.Fatal(err)
			}
			if !tc.claimed {
				if err := s.Release(j); err != nil {
					t.Fatal(err)
				}
			}
			c.Add(time.Minute)
			err := s.Requeue(1)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Requeue() = %v, want %v", err, tc.err)
			}
			got, gerr := s.Get(1)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tc.claimed {
				if err := s.Release(j); err != nil {
					t.Fatal(err)
				}
			}
			if err != nil {
				if got.State != tc.state {
					t.Errorf("refused Requeue moved the job to %v", got.State)
				}
				return
			}
			if got.State != Queued || got.Attempts != 0 || got.LastError != "" || got.Reason != "" ||
				got.Presign != nil || !got.NextAttempt.Equal(c.Now()) {
				t.Errorf("requeued job %+v", got)
			}
			if due, err := s.Claim(LaneCalls); err != nil || due == nil || due.ID != 1 {
				t.Errorf("requeued job is not due: %v, %v", due, err)
			} else if err := s.Release(due); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPrune(t *testing.T) {
	c := newClock()
	s := openTest(t, c)
	// Jobs 1..6 end in these states, a day apart in age.
	states := []State{Done, Skipped, Parked, Uploaded, Done, Skipped}
	for i, st := range states {
		mustAdd(t, s, found(fmt.Sprintf("%d.wav", i+1), 1))
		j := moveTo(t, s, claimID(t, s, uint64(i+1)), st)
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
		c.Add(24 * time.Hour)
	}
	// A claimed job that became Skipped is left to its worker.
	mustAdd(t, s, found("7.wav", 1))
	held := moveTo(t, s, claimID(t, s, 7), Skipped)
	c.Add(24 * time.Hour)

	defer func(n int) { pruneChunk = n }(pruneChunk)
	pruneChunk = 1 // several transactions

	// Before day 2: jobs 1 and 2 only.
	n, err := s.Prune(t0.Add(36 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("Prune() = %d, %v; want 2", n, err)
	}
	// Everything old: 5 and 6, not Parked 3, Uploaded 4 or claimed 7.
	if n, err = s.Prune(c.Now()); err != nil || n != 2 {
		t.Fatalf("second Prune() = %d, %v; want 2", n, err)
	}
	jobs, err := s.List(0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(jobs); !slices.Equal(got, []uint64{3, 4, 7}) {
		t.Errorf("after pruning, jobs %v remain, want [3 4 7]", got)
	}
	if counts, _ := s.Counts(); counts[Done] != 0 || counts[Skipped] != 1 || counts[Parked] != 1 {
		t.Errorf("counts after pruning: %v", counts)
	}
	// The seen entries stay: the same versions add nothing.
	if n := mustAdd(t, s, found("1.wav", 1), found("2.wav", 1), found("5.wav", 1)); n != 0 {
		t.Errorf("re-adding pruned versions added %d jobs", n)
	}
	if _, err := s.Latest("rec", "1.wav"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Latest of a pruned file: err = %v", err)
	}
	// A new version of a pruned file is a new job.
	if n := mustAdd(t, s, found("1.wav", 2)); n != 1 {
		t.Errorf("a new version of a pruned file added %d jobs", n)
	}
	if err := s.Release(held); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(c.Now().Add(time.Second)); err != nil || n != 1 {
		t.Errorf("Prune after the release = %d, %v; want 1", n, err)
	}
}

func TestListPages(t *testing.T) {
	s := openTest(t, newClock())
	for i := range 10 {
		mustAdd(t, s, found(fmt.Sprintf("%d.wav", i+1), 1))
	}
	for _, id := range []uint64{2, 5, 6, 9} {
		if err := s.Release(moveTo(t, s, claimID(t, s, id), Parked)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		state State
		after uint64
		limit int
		want  []uint64
	}{
		{0, 0, 3, []uint64{1, 2, 3}},
		{0, 3, 3, []uint64{4, 5, 6}},
		{0, 9, 3, []uint64{10}},
		{0, 10, 3, []uint64{}},
		{Parked, 0, 3, []uint64{2, 5, 6}},
		{Parked, 6, 3, []uint64{9}},
		{Queued, 0, 100, []uint64{1, 3, 4, 7, 8, 10}},
		{Done, 0, 100, []uint64{}},
		{Skipped, 0, 1 << 30, []uint64{}},
		{0, ^uint64(0), 3, []uint64{}},
	} {
		jobs, err := s.List(tc.state, tc.after, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(jobs); !slices.Equal(got, tc.want) {
			t.Errorf("List(%v, %d, %d) = %v, want %v", tc.state, tc.after, tc.limit, got, tc.want)
		}
	}
	for _, bad := range []struct {
		state State
		limit int
	}{{0, 0}, {0, -1}, {99, 1}} {
		if _, err := s.List(bad.state, 0, bad.limit); err == nil {
			t.Errorf("List(%v, 0, %d) succeeded", bad.state, bad.limit)
		}
	}
}

// TestRandomOperations runs a long fixed-seed sequence of every operation,
// concurrent workers included, and checks after each round that the
// counters equal a full recount and that the indexes match the jobs.
func TestRandomOperations(t *testing.T) {
	c := newClock()
	s := openTest(t, c)
	s.db.NoSync = true // fsync does not change what is committed
	rng := rand.New(rand.NewPCG(1, 2))
	paths := 60
	var held []*Job
	for round := range 300 {
		switch op := rng.IntN(10); {
		case op < 3: // a rescan
			var fs []Found
			for range 1 + rng.IntN(8) {
				f := found(fmt.Sprintf("%d.wav", rng.IntN(paths)), int64(rng.IntN(3)))
				f.Kind = Kind(rng.IntN(int(maxKind) + 1))
				fs = append(fs, f)
			}
			mustAdd(t, s, fs...)
		case op < 5: // a worker takes a job
			lanes := []Lane{Lane(rng.IntN(numLanes)), Lane(rng.IntN(numLanes))}
			j, err := s.Claim(lanes...)
			if err != nil {
				t.Fatal(err)
			}
			if j != nil {
				if !slices.Contains(lanes, j.Lane) || j.NextAttempt.After(c.Now()) || !j.State.Active() {
					t.Fatalf("Claim(%v) returned %+v", lanes, j)
				}
				for _, h := range held {
					if h.ID == j.ID {
						t.Fatalf("job %d claimed twice", j.ID)
					}
				}
				held = append(held, j)
			}
		case op < 8 && len(held) > 0: // held jobs move, concurrently
			done := make(chan error, len(held))
			keep := held[:0]
			var released []*Job
			for _, j := range held {
				if rng.IntN(2) == 0 {
					released = append(released, j)
				} else {
					keep = append(keep, j)
				}
			}
			moves := make([]State, 0, len(held))
			for range held {
				moves = append(moves, States[rng.IntN(len(States))])
			}
			all := append(append([]*Job(nil), keep...), released...)
			for i, j := range all {
				from, to := j.State, moves[i]
				j.State = to
				j.Attempts = rng.IntN(3)
				j.NextAttempt = c.Now().Add(time.Duration(rng.IntN(60)-20) * time.Second)
				release := i >= len(keep)
				go func() {
					var err error
					if release {
						err = s.Release(j)
					} else {
						err = s.Save(j)
					}
					if from.CanBecome(to) != (err == nil) || (err != nil && !errors.Is(err, ErrIllegalTransition)) {
						err = fmt.Errorf("job %d %v->%v: %v", j.ID, from, to, err)
					} else {
						err = nil
					}
					if !from.CanBecome(to) {
						j.State = from
					}
					done <- err
				}()
			}
			for range all {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			held = keep
		case op < 9:
			id := uint64(1 + rng.IntN(paths*2))
			j, err := s.Get(id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			claimed := slices.ContainsFunc(held, func(h *Job) bool { return h.ID == id })
			err = s.Requeue(id)
			if ok := !claimed && (j.State == Parked || j.State == Skipped); ok != (err == nil) {
				t.Fatalf("Requeue of %v job %d (claimed %v): %v", j.State, id, claimed, err)
			}
		default:
			if _, err := s.Prune(c.Now().Add(-time.Duration(rng.IntN(120)) * time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		c.Add(time.Duration(rng.IntN(10)) * time.Second)
		checkCounts(t, s, round)
	}
	for _, j := range held {
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	checkCounts(t, s, -1)
}

// checkCounts compares Counts with a recount through List and runs Check.
func checkCounts(t *testing.T, s *Store, round int) {
	t.Helper()
	counts, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	recount := make(map[State]int)
	for _, st := range States {
		recount[st] = 0
	}
	for after := uint64(0); ; {
		jobs, err := s.List(0, after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 0 {
			break
		}
		for _, j := range jobs {
			recount[j.State]++
		}
		after = jobs[len(jobs)-1].ID
	}
	if fmt.Sprint(counts) != fmt.Sprint(recount) {
		t.Fatalf("round %d: Counts() = %v, a recount finds %v", round, counts, recount)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
}

// TestConcurrentWorkers runs workers that take jobs to Done while a watcher
// adds files and new versions of them: no job is ever held by two workers,
// and at the end every job is Done or Skipped.
func TestConcurrentWorkers(t *testing.T) {
	s := openTest(t, newClock())
	const files, workers = 150, 4
	var (
		mu   sync.Mutex
		held = make(map[uint64]bool)
	)
	adderDone := make(chan struct{})
	errs := make(chan error, workers+1)
	go func() {
		defer close(adderDone)
		for i := 0; i < files; i += 15 {
			var fs []Found
			for k := i; k < i+15; k++ {
				fs = append(fs, found(fmt.Sprintf("%d.wav", k), 1))
				if k > 0 {
					fs = append(fs, found(fmt.Sprintf("%d.wav", k-1), 2)) // a new version
				}
			}
			if _, err := s.Add(fs); err != nil {
				errs <- err
				return
			}
		}
		errs <- nil
	}()
	work := func(j *Job) error {
		mu.Lock()
		if held[j.ID] {
			mu.Unlock()
			return fmt.Errorf("job %d claimed twice", j.ID)
		}
		held[j.ID] = true
		mu.Unlock()
		for _, st := range []State{Ready, Presigned, Uploaded} {
			j.State = st
			if err := s.Save(j); err != nil {
				return err
			}
		}
		mu.Lock()
		held[j.ID] = false
		mu.Unlock()
		j.State = Done
		return s.Release(j)
	}
	for range workers {
		go func() {
			for {
				j, err := s.Claim(LaneCalls, LaneChats, LaneLocal)
				if err == nil && j != nil {
					err = work(j)
				}
				if err != nil {
					errs <- err
					return
				}
				if j == nil {
					select {
					case <-adderDone:
						if _, ok, err := s.NextDue(LaneCalls); !ok || err != nil {
							errs <- err
							return
						}
					default:
					}
					runtime.Gosched()
				}
			}
		}()
	}
	for range workers + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	counts, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, st := range States {
		if st != Done && st != Skipped && counts[st] != 0 {
			t.Errorf("%d jobs left %v", counts[st], st)
		}
		total += counts[st]
	}
	if total < files+1 {
		t.Errorf("%d jobs for %d files and their new versions", total, files)
	}
}

// SaveAsync commits the job as it was when called, even if the caller
// changes it before waiting; a later Release builds on that commit.
func TestSaveAsync(t *testing.T) {
	s := openTest(t, newClock())
	mustAdd(t, s, found("a.wav", 10))
	j := claimID(t, s, 1)
	j.State = Presigned
	j.Presign = &Presign{URL: "https://s3.example/bucket", Fields: []Field{{"key", "k"}}}
	wait := s.SaveAsync(j)
	j.State, j.Presign = Uploaded, nil // the upload goes on meanwhile
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Presigned || got.Presign == nil || got.Presign.URL != "https://s3.example/bucket" {
		t.Fatalf("stored %s with presign %+v, want the presigned job as it was", got.State, got.Presign)
	}
	if err := s.Release(j); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(1); got.State != Uploaded {
		t.Errorf("after Release: %s, want uploaded", got.State)
	}
	// An unclaimed job is refused, through wait.
	if err := s.SaveAsync(j)(); !errors.Is(err, ErrNotClaimed) {
		t.Errorf("SaveAsync of a released job: %v, want ErrNotClaimed", err)
	}
}

// Concurrent Releases share transactions; one bad write fails alone.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openTest(t, newClock())
	const n = 8
	for i := 0; i < n; i++ {
		mustAdd(t, s, found(fmt.Sprintf("f%d.wav", i), 10))
	}
	var jobs []*Job
	for i := 1; i <= n; i++ {
		jobs = append(jobs, claimID(t, s, uint64(i)))
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, j := range jobs {
		j.State = Done
		if i == 3 {
			j.Size++ // a job's identity cannot change: this write fails
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Release(j)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i == 3) {
			t.Errorf("Release %d: %v", i+1, err)
		}
	}
	counts, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts[Done] != n-1 || counts[Queued] != 1 {
		t.Errorf("counts = %v, want %d done and 1 queued", counts, n-1)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}
