package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// addZip adds a ZIP job and returns its id.
func addZip(t *testing.T, s *Store, name string) uint64 {
	t.Helper()
	f := found(name, 1000)
	f.Kind = Zip
	mustAdd(t, s, f)
	j, err := s.Latest(f.Source, f.Path)
	if err != nil {
		t.Fatal(err)
	}
	return j.ID
}

// recordings returns n Founds of the recordings of the ZIP called zip.
func recordings(zip string, n int) []Found {
	var fs []Found
	for i := range n {
		fs = append(fs, found(fmt.Sprintf("%s/rec_%04d.wav", zip, i), int64(100+i)))
	}
	return fs
}

func TestExpand(t *testing.T) {
	s := openTest(t, newClock())
	zip := addZip(t, s, "bulk.zip")
	other := addZip(t, s, "other.zip")
	const n = 50
	recs := recordings("bulk.zip", n)
	recs[0].Kind = Chat
	recs[1].Lane = lanePtr(LaneStage)
	before := s.Stats()
	added, err := s.Expand(zip, recs)
	if err != nil || added != n {
		t.Fatalf("Expand = %d, %v, want %d", added, err, n)
	}
	st := s.Stats()
	if c, w := st.Commits-before.Commits, st.Written-before.Written; c != 1 || w != n {
		t.Errorf("Expand of %d took %d commits writing %d jobs, want 1 writing %d", n, c, w, n)
	}
	if d := st.Expanded - before.Expanded; d != n {
		t.Errorf("Stats.Expanded grew by %d, want %d", d, n)
	}
	children, err := s.Children(zip)
	if err != nil || len(children) != n {
		t.Fatalf("Children = %d jobs, %v, want %d", len(children), err, n)
	}
	for i, c := range children {
		if c.Parent != zip || c.Path != recs[i].Path || c.State != Queued {
			t.Errorf("child %d: %+v", i, c)
		}
	}
	if !slices.IsSorted(ids(children)) {
		t.Errorf("children not in id order: %v", ids(children))
	}
	if children[0].Lane != LaneChats || children[1].Lane != LaneStage || children[2].Lane != LaneCalls {
		t.Errorf("lanes %v %v %v, want chats stage calls", children[0].Lane, children[1].Lane, children[2].Lane)
	}
	if c, err := s.Children(other); err != nil || len(c) != 0 {
		t.Errorf("Children of a ZIP not expanded = %v, %v", c, err)
	}

	// Idempotent: again, and with the parent given in the Founds, nothing
	// is added, under this parent or another.
	for _, tc := range []struct {
		name   string
		parent uint64
		fs     []Found
	}{
		{"again", zip, recs},
		{"parent given", zip, func() []Found {
			fs := slices.Clone(recs)
			for i := range fs {
				fs[i].Parent = zip
			}
			return fs
		}()},
		{"under another parent", other, recs[:5]},
		{"twice in one call", zip, append(slices.Clone(recs[:3]), recs[:3]...)},
	} {
		if added, err := s.Expand(tc.parent, tc.fs); err != nil || added != 0 {
			t.Errorf("%s: Expand = %d, %v, want 0", tc.name, added, err)
		}
	}
	if c, _ := s.Children(zip); len(c) != n {
		t.Errorf("%d children after the repeats, want %d", len(c), n)
	}

	// Refusals write nothing.
	before = s.Stats()
	for _, tc := range []struct {
		name   string
		parent uint64
		fs     []Found
		want   error
	}{
		{"unknown parent", 999, recordings("x.zip", 2), ErrNotFound},
		{"parent 0", 0, recordings("x.zip", 2), ErrNotFound},
		{"another parent named", zip, func() []Found {
			fs := recordings("x.zip", 2)
			fs[1].Parent = other
			return fs
		}(), nil},
		{"empty path", zip, []Found{{Source: "rec"}}, nil},
		{"unknown lane", zip, func() []Found {
			fs := recordings("x.zip", 1)
			fs[0].Lane = lanePtr(Lane(numLanes))
			return fs
		}(), nil},
	} {
		added, err := s.Expand(tc.parent, tc.fs)
		if err == nil || added != 0 {
			t.Errorf("%s: Expand = %d, %v", tc.name, added, err)
		} else if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if st := s.Stats(); st.Commits != before.Commits || st.Written != before.Written {
		t.Errorf("refused Expands committed: %+v, before %+v", st, before)
	}
	if c, _ := s.Children(zip); len(c) != n {
		t.Errorf("%d children after the refusals, want %d", len(c), n)
	}

	// A new version of a child supersedes the old one, which is finished.
	changed := recs[2]
	changed.Size++
	if added, err := s.Expand(zip, []Found{changed}); err != nil || added != 1 {
		t.Errorf("Expand of a new version = %d, %v, want 1", added, err)
	}
	counts, err := s.ChildCounts(zip)
	if err != nil || counts[Queued] != n || counts[Skipped] != 1 {
		t.Errorf("ChildCounts = %v, %v, want %d queued, 1 skipped", counts, err, n)
	}
	if left, err := s.ChildrenLeft(zip); err != nil || left != n {
		t.Errorf("ChildrenLeft = %d, %v, want %d", left, err, n)
	}
}

func TestChildrenLeft(t *testing.T) {
	s := openTest(t, newClock())
	zip := addZip(t, s, "bulk.zip")
	if _, err := s.Expand(zip, recordings("bulk.zip", 6)); err != nil {
		t.Fatal(err)
	}
	// Each child in turn to a state; how many are left after it.
	for i, tc := range []struct {
		to   State
		left int
	}{
		{Ready, 6}, // active still
		{Uploaded, 6},
		{Done, 5},
		{Skipped, 4},
		{Parked, 3}, // finished: waits for an admin, not for the ZIP
		{Done, 2},
	} {
		id := zip + 1 + uint64(i)
		j := moveTo(t, s, claimID(t, s, id), tc.to)
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
		if left, err := s.ChildrenLeft(zip); err != nil || left != tc.left {
			t.Errorf("child %d %v: ChildrenLeft = %d, %v, want %d", id, tc.to, left, err, tc.left)
		}
	}
	for _, id := range []uint64{zip + 1, zip + 2} { // Ready and Uploaded
		j := claimID(t, s, id)
		j.State = Done
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	if left, err := s.ChildrenLeft(zip); err != nil || left != 0 {
		t.Errorf("all finished: ChildrenLeft = %d, %v, want 0", left, err)
	}
	// A requeued child is left again.
	if err := s.Requeue(zip + 5); err != nil {
		t.Fatal(err)
	}
	if left, err := s.ChildrenLeft(zip); err != nil || left != 1 {
		t.Errorf("after a requeue: ChildrenLeft = %d, %v, want 1", left, err)
	}
	want := map[State]int{Queued: 1, Done: 4, Skipped: 1}
	counts, err := s.ChildCounts(zip)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range States {
		if counts[st] != want[st] {
			t.Errorf("ChildCounts[%v] = %d, want %d", st, counts[st], want[st])
		}
	}
}

func TestPruneKeepsParents(t *testing.T) {
	c := newClock()
	s := openTest(t, c)
	zip := addZip(t, s, "bulk.zip") // 1, children 2 and 3
	if _, err := s.Expand(zip, recordings("bulk.zip", 2)); err != nil {
		t.Fatal(err)
	}
	release := func(id uint64, to State) {
		t.Helper()
		j := moveTo(t, s, claimID(t, s, id), to)
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	release(zip, Done) // done before its children: say, requeued later
	release(2, Done)
	c.Add(time.Hour)
	if n, err := s.Prune(c.Now()); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v, want 1 (the done child)", n, err)
	}
	if _, err := s.Get(zip); err != nil {
		t.Fatalf("the parent with a child left was pruned: %v", err)
	}
	if ch, err := s.Children(zip); err != nil || !slices.Equal(ids(ch), []uint64{3}) {
		t.Errorf("Children after pruning one = %v, %v, want [3]", ids(ch), err)
	}
	// The last child parks: nothing is left, the parent goes, the parked
	// child stays with its entry.
	release(3, Parked)
	if n, err := s.Prune(c.Now()); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v, want 1 (the parent)", n, err)
	}
	if _, err := s.Get(zip); !errors.Is(err, ErrNotFound) {
		t.Errorf("the finished parent was kept: %v", err)
	}
	if ch, err := s.Children(zip); err != nil || !slices.Equal(ids(ch), []uint64{3}) {
		t.Errorf("Children of the pruned parent = %v, %v, want [3]", ids(ch), err)
	}
	if _, err := s.Expand(zip, recordings("bulk.zip", 3)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Expand of a pruned parent: %v, want ErrNotFound", err)
	}
}

// Jobs kept for their children do not hold up those after them, however
// many there are.
func TestPruneGoesPastKeptParents(t *testing.T) {
	defer func(n int) { pruneChunk = n }(pruneChunk)
	pruneChunk = 3
	c := newClock()
	s := openTest(t, c)
	var parents []uint64
	for i := range 7 {
		p := addZip(t, s, fmt.Sprintf("p%d.zip", i))
		if _, err := s.Expand(p, recordings(fmt.Sprintf("p%d.zip", i), 1)); err != nil {
			t.Fatal(err)
		}
		parents = append(parents, p)
	}
	for _, p := range parents {
		j := moveTo(t, s, claimID(t, s, p), Done)
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd(t, s, found("late.wav", 1))
	late, _ := s.Latest("rec", "late.wav")
	j := moveTo(t, s, claimID(t, s, late.ID), Done)
	if err := s.Release(j); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	if n, err := s.Prune(c.Now()); err != nil || n != 1 {
		t.Errorf("Prune = %d, %v, want 1", n, err)
	}
	if _, err := s.Get(late.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the job after %d kept parents was not pruned: %v", len(parents), err)
	}
}

// TestCheckCatches damages the indexes the lanes and the children live in:
// Check finds each.
func TestCheckCatches(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   string
	}{
		{"children entry missing", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketChildren).Delete(childKey(1, 2))
		}, "missing from the children index of job 1"},
		{"children entry under the wrong parent", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketChildren)
			if err := b.Delete(childKey(1, 3)); err != nil {
				return err
			}
			return b.Put(childKey(4, 3), nil)
		}, "job 3: corrupt record: missing from the children index of job 1"},
		{"children entry of a job without a parent", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketChildren).Put(childKey(1, 4), nil)
		}, "the children index has 3 entries, want 2"},
		{"children entry of no job", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketChildren).Put(childKey(1, 99), nil)
		}, "the children index has 3 entries, want 2"},
		{"due in the wrong lane", func(tx *bolt.Tx) error {
			j := &Job{ID: 2, Lane: LaneStage, NextAttempt: t0}
			b := tx.Bucket(bucketDue)
			if err := b.Delete(dueKey(j)); err != nil {
				return err
			}
			j.Lane = LaneCalls
			return b.Put(dueKey(j), nil)
		}, "job 2: corrupt record: the due index has the job in lane calls, its lane is stage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(testPath(t), Options{Now: newClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			zip := addZip(t, s, "bulk.zip")
			recs := recordings("bulk.zip", 2)
			recs[0].Lane = lanePtr(LaneStage)
			if _, err := s.Expand(zip, recs); err != nil {
				t.Fatal(err)
			}
			mustAdd(t, s, found("other.wav", 1))
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			if err := s.db.Update(tc.damage); err != nil {
				t.Fatal(err)
			}
			err = s.Check()
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want ErrCorrupt saying %q", err, tc.want)
			}
		})
	}
}

func TestSalvageKeepsLanesAndChildren(t *testing.T) {
	c := newClock()
	path := testPath(t)
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	zip := addZip(t, s, "bulk.zip")
	recs := recordings("bulk.zip", 3)
	recs[1].Lane = lanePtr(LaneStage)
	if _, err := s.Expand(zip, recs); err != nil {
		t.Fatal(err)
	}
	want, err := s.List(0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	to := path + ".salvaged"
	if _, err := Salvage(path, to, Options{Now: c.Now}); err != nil {
		t.Fatal(err)
	}
	s, err = Open(to, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		j, err := s.Get(w.ID)
		if err != nil {
			t.Fatal(err)
		}
		sameJob(t, j, w)
	}
	if ch, err := s.Children(zip); err != nil || len(ch) != 3 {
		t.Errorf("Children after salvage = %v, %v", ids(ch), err)
	}
	if j, err := s.Claim(LaneStage); err != nil || j == nil || j.ID != zip+2 {
		t.Errorf("Claim(stage) after salvage = %v, %v, want job %d", j, err, zip+2)
	}
}
