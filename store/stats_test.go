package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestStatsBatches(t *testing.T) {
	for _, tc := range []struct {
		jobs, bucket int
	}{
		{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 3}, {5, 4}, {16, 5}, {17, 6},
		{256, 7}, {1024, 8}, {1025, 9}, {1 << 20, 9},
	} {
		var st stats
		st.commit(time.Millisecond, tc.jobs, nil, nil)
		for i := range st.batches {
			want := uint64(0)
			if i == tc.bucket {
				want = 1
			}
			if got := st.batches[i].Load(); got != want {
				t.Errorf("a commit of %d jobs: bucket %d counts %d, want %d", tc.jobs, i, got, want)
			}
		}
	}
}

// Concurrent Saves share commits, and Stats counts the commits, the jobs
// they wrote and the batches.
func TestStatsConcurrentSaves(t *testing.T) {
	s := openTest(t, newClock())
	const n = 8
	var fs []Found
	for i := range n {
		fs = append(fs, found(fmt.Sprintf("f%d.wav", i), 10))
	}
	mustAdd(t, s, fs...)
	var jobs []*Job
	for range n {
		j, err := s.Claim(LaneCalls)
		if err != nil || j == nil {
			t.Fatalf("Claim = %v, %v", j, err)
		}
		jobs = append(jobs, j)
	}
	st0 := s.Stats()
	// The commits: the creation of the file, of no jobs, and the Add.
	if st0.Commits != 2 || st0.Written != n || st0.Added != n || st0.Claims != n || st0.MaxBatch != n ||
		st0.Batches[0] != 1 || st0.Batches[4] != 1 {
		t.Errorf("after one Add of %d and %d claims: %+v", n, n, st0)
	}

	// The first commit waits until another write queues behind it, so
	// that at least two share a commit, unless it holds more than one
	// already (then none may come).
	var once sync.Once
	slowDisk = func() time.Duration {
		once.Do(func() {
			for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				s.commit.mu.Lock()
				queued := len(s.commit.pending)
				s.commit.mu.Unlock()
				if queued > 0 {
					return
				}
			}
		})
		return 0
	}
	defer func() { slowDisk = nil }()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j.State = Ready
			errs[i] = s.Save(j)
		}()
	}
	wg.Wait()
	slowDisk = nil
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	commits, written := st.Commits-st0.Commits, st.Written-st0.Written
	if written != n || commits < 1 || commits >= n {
		t.Errorf("%d Saves: %d commits writing %d jobs, want fewer commits writing %d", n, commits, written, n)
	}
	var batched uint64
	for _, b := range st.Batches {
		batched += b
	}
	if batched != st.Commits {
		t.Errorf("the batches count %d commits, Commits is %d", batched, st.Commits)
	}
	if st.MaxCommitTime <= 0 || st.CommitTime < st.MaxCommitTime {
		t.Errorf("commit time %v, longest %v", st.CommitTime, st.MaxCommitTime)
	}
	if st.CommitFailures != 0 || st.Rollbacks != 0 {
		t.Errorf("failures %d, rollbacks %d", st.CommitFailures, st.Rollbacks)
	}
	for _, j := range jobs {
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatsFailuresAndRollbacks(t *testing.T) {
	s := openTest(t, newClock())
	mustAdd(t, s, found("a.wav", 1))
	j := claimID(t, s, 1)
	j.State = Done
	j.Size++ // refused: a rollback
	before := s.Stats()
	if err := s.Save(j); err == nil {
		t.Fatal("Save of a changed identity succeeded")
	}
	if st := s.Stats(); st.Rollbacks != 1 || st.Commits != before.Commits || st.Written != before.Written {
		t.Errorf("after a refused Save: %+v", st)
	}
	j.Size--
	if err := s.Release(j); err != nil {
		t.Fatal(err)
	}

	// A file that cannot grow fails the commit.
	s.db.MaxSize = int(fileSize(t, s.path))
	var fs []Found
	for i := range 2000 {
		fs = append(fs, found(fmt.Sprintf("%0200d.wav", i), 1))
	}
	before = s.Stats()
	_, err := s.Add(fs)
	s.db.MaxSize = 0
	if !errors.Is(err, ErrWrite) {
		t.Fatalf("Add beyond MaxSize: %v, want ErrWrite", err)
	}
	st := s.Stats()
	if st.CommitFailures != before.CommitFailures+1 || st.Commits != before.Commits || st.Added != before.Added {
		t.Errorf("after a failed commit: %+v, before %+v", st, before)
	}
}
