package store

import (
	"testing"
	"time"
)

func lanePtr(l Lane) *Lane { return &l }

func TestAddLane(t *testing.T) {
	s := openTest(t, newClock())
	for i, tc := range []struct {
		kind Kind
		lane *Lane
		want Lane
	}{
		{Call, nil, LaneCalls},
		{Chat, nil, LaneChats},
		{Zip, nil, LaneLocal},
		{Manifest, nil, LaneLocal},
		{Call, lanePtr(LaneStage), LaneStage},
		{Chat, lanePtr(LaneCalls), LaneCalls}, // the zero lane, given
		{Zip, lanePtr(LaneChats), LaneChats},
	} {
		f := found(string(rune('a'+i))+".wav", 1)
		f.Kind, f.Lane = tc.kind, tc.lane
		mustAdd(t, s, f)
		j, err := s.Latest(f.Source, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if j.Lane != tc.want {
			t.Errorf("%v job added in lane %v: stored in %v, want %v", tc.kind, tc.lane, j.Lane, tc.want)
		}
	}
	bad := found("bad.wav", 1)
	bad.Lane = lanePtr(Lane(numLanes))
	if _, err := s.Add([]Found{bad}); err == nil {
		t.Error("Add in an unknown lane succeeded")
	}
}

// claimLanes claims what each lane offers and returns the ids, releasing
// every job it claimed unchanged.
func claimLanes(t *testing.T, s *Store) map[Lane]uint64 {
	t.Helper()
	got := make(map[Lane]uint64)
	var claimed []*Job
	for _, l := range Lanes {
		j, err := s.Claim(l)
		if err != nil {
			t.Fatal(err)
		}
		if j != nil {
			got[l] = j.ID
			claimed = append(claimed, j)
		}
	}
	for _, j := range claimed {
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func TestSaveAndReleaseMoveLanes(t *testing.T) {
	c := newClock()
	path := testPath(t)
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	f := found("ftp.wav", 1)
	f.Lane = lanePtr(LaneStage)
	mustAdd(t, s, f)
	if got := claimLanes(t, s); len(got) != 1 || got[LaneStage] != 1 {
		t.Fatalf("a job added in the stage lane is claimed in %v", got)
	}

	for _, tc := range []struct {
		name   string
		change func(j *Job)
		save   bool // Save, then Release unchanged; otherwise Release
		want   Lane
	}{
		{"staged, release to calls", func(j *Job) { j.State, j.Lane = Staged, LaneCalls }, false, LaneCalls},
		{"save to local", func(j *Job) { j.Lane = LaneLocal }, true, LaneLocal},
		{"release to the zero lane", func(j *Job) { j.Lane = LaneCalls }, false, LaneCalls},
		{"in its kind's lane, the job follows its kind", func(j *Job) { j.Kind = Chat }, false, LaneChats},
		{"kind and lane change: the lane wins", func(j *Job) { j.Kind, j.Lane = Call, LaneStage }, true, LaneStage},
		{"outside its kind's lane, the job stays", func(j *Job) { j.Kind = Zip }, false, LaneStage},
		{"back", func(j *Job) { j.Kind, j.Lane = Call, LaneCalls }, false, LaneCalls},
	} {
		j := claimID(t, s, 1)
		tc.change(j)
		if tc.save {
			if err := s.Save(j); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := claimLanes(t, s); len(got) != 0 {
				t.Errorf("%s: a saved job is claimed again: %v", tc.name, got)
			}
		}
		if err := s.Release(j); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if j.Lane != tc.want {
			t.Errorf("%s: j.Lane = %v after the commit, want %v", tc.name, j.Lane, tc.want)
		}
		if got := claimLanes(t, s); len(got) != 1 || got[tc.want] != 1 {
			t.Errorf("%s: the job is claimed in %v, want only %v", tc.name, got, tc.want)
		}
		if due, ok, err := s.NextDue(tc.want); err != nil || !ok || !due.Equal(j.NextAttempt) {
			t.Errorf("%s: NextDue(%v) = %v, %v, %v", tc.name, tc.want, due, ok, err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}

	// An unknown lane is refused, and the job stays where it was.
	j := claimID(t, s, 1)
	bad := *j
	bad.Lane = Lane(numLanes)
	if err := s.Release(&bad); err == nil {
		t.Error("Release to an unknown lane succeeded")
	}

	// SaveAsync reports the lane stored, unless the caller moved the job
	// meanwhile.
	j = claimID(t, s, 1)
	j.Lane = LaneStage
	wait := s.SaveAsync(j)
	if err := wait(); err != nil || j.Lane != LaneStage {
		t.Errorf("SaveAsync: %v, lane %v", err, j.Lane)
	}
	j.Kind = Chat // Call in LaneStage: stays
	wait = s.SaveAsync(j)
	j.Lane = LaneLocal
	if err := wait(); err != nil || j.Lane != LaneLocal {
		t.Errorf("SaveAsync: %v, lane %v, want the caller's LaneLocal", err, j.Lane)
	}
	j.Lane = LaneStage
	if err := s.Release(j); err != nil {
		t.Fatal(err)
	}

	// The lane persists.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{Now: c.Now}); err != nil {
		t.Fatal(err)
	}
	if got := claimLanes(t, s); len(got) != 1 || got[LaneStage] != 1 {
		t.Errorf("after reopening, the job is claimed in %v, want only stage", got)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestRecordV1DecodesKindLane(t *testing.T) {
	for _, k := range []Kind{Call, Chat, Zip, Manifest} {
		j := fullJob()
		j.Kind, j.Lane = k, 0
		j.Warnings, j.Ref = nil, "" // so that it is written in version 2
		// A version 2 record of a job in lane 0 is the version 1 record
		// but for the version byte.
		rec := encodeJob(j)
		rec[0] = recordV1
		got, err := decodeJob(j.ID, rec)
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		j.Lane = k.Lane()
		sameJob(t, got, j)
	}
}

func TestRecordLanes(t *testing.T) {
	for _, l := range Lanes {
		for _, k := range []Kind{Call, Chat, Zip, Manifest} {
			j := &Job{ID: 1, Source: "s", Path: "p", Kind: k, State: Queued, Lane: l, NextAttempt: t0.Add(time.Second)}
			got, err := decodeJob(1, encodeJob(j))
			if err != nil {
				t.Fatalf("%v %v: %v", k, l, err)
			}
			if got.Kind != k || got.Lane != l {
				t.Errorf("%v in %v reads back as %v in %v", k, l, got.Kind, got.Lane)
			}
		}
	}
	bad := encodeJob(&Job{Source: "s", Path: "p", State: Queued, Lane: Lane(numLanes)})
	if _, err := decodeJob(1, bad); err == nil {
		t.Error("a record of an unknown lane decoded")
	}
}
