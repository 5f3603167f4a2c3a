package store

import (
	"errors"
	"fmt"
	"testing"
)

// legal is the transition table of the design, written out independently of
// the implementation's bit masks. Staying in a state is legal as well.
var legal = map[State][]State{
	Queued:    {Staged, Ready, Presigned, Uploaded, Done, Parked, Skipped},
	Staged:    {Ready, Presigned, Uploaded, Done, Queued, Parked, Skipped},
	Ready:     {Presigned, Uploaded, Done, Parked, Skipped},
	Presigned: {Uploaded, Done, Ready, Parked, Skipped},
	Uploaded:  {Done},
	Done:      {},
	Parked:    {Queued},
	Skipped:   {Queued},
}

func isLegal(from, to State) bool {
	if from == to {
		return true
	}
	for _, s := range legal[from] {
		if s == to {
			return true
		}
	}
	return false
}

func TestStateNames(t *testing.T) {
	want := []string{"queued", "staged", "ready", "presigned", "uploaded", "done", "parked", "skipped"}
	if len(States) != len(want) {
		t.Fatalf("States has %d entries, want %d", len(States), len(want))
	}
	for i, s := range States {
		if s.String() != want[i] {
			t.Errorf("States[%d] = %q, want %q", i, s, want[i])
		}
		got, err := ParseState(want[i])
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %v, %v; want %v", want[i], got, err, s)
		}
		if active := s >= Queued && s <= Uploaded; s.Active() != active {
			t.Errorf("%v.Active() = %v", s, s.Active())
		}
	}
	for _, bad := range []string{"", "Queued", "claimed"} {
		if _, err := ParseState(bad); err == nil {
			t.Errorf("ParseState(%q) succeeded", bad)
		}
	}
	if got := State(0).String(); got != "state(0)" {
		t.Errorf("State(0).String() = %q", got)
	}
}

func TestKindLanes(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		name string
		lane Lane
	}{
		{Call, "call", LaneCalls},
		{Chat, "chat", LaneChats},
		{Zip, "zip", LaneLocal},
		{Manifest, "manifest", LaneLocal},
	} {
		if tc.kind.String() != tc.name || tc.kind.Lane() != tc.lane {
			t.Errorf("kind %d: name %q lane %v, want %q %v", tc.kind, tc.kind, tc.kind.Lane(), tc.name, tc.lane)
		}
	}
}

func TestCanBecome(t *testing.T) {
	all := append([]State{0, maxState + 1}, States...)
	for _, from := range all {
		for _, to := range all {
			want := from.valid() && to.valid() && isLegal(from, to)
			if got := from.CanBecome(to); got != want {
				t.Errorf("%v.CanBecome(%v) = %v, want %v", from, to, got, want)
			}
		}
	}
}

// TestSaveTransitions drives every pair of states through Save on a real
// file: legal moves are stored, illegal ones refused without a write.
func TestSaveTransitions(t *testing.T) {
	s := openTest(t, newClock())
	for _, from := range States {
		for _, to := range States {
			t.Run(fmt.Sprintf("%v->%v", from, to), func(t *testing.T) {
				mustAdd(t, s, found(fmt.Sprintf("%v-%v.wav", from, to), 1))
				j, err := s.Latest("rec", fmt.Sprintf("%v-%v.wav", from, to))
				if err != nil {
					t.Fatal(err)
				}
				j = moveTo(t, s, claimID(t, s, j.ID), from)
				before, err := s.Counts()
				if err != nil {
					t.Fatal(err)
				}
				j.State = to
				err = s.Release(j)
				stored, gerr := s.Get(j.ID)
				if gerr != nil {
					t.Fatal(gerr)
				}
				if isLegal(from, to) {
					if err != nil {
						t.Fatalf("legal move refused: %v", err)
					}
					if stored.State != to {
						t.Fatalf("stored state %v, want %v", stored.State, to)
					}
					return
				}
				if !errors.Is(err, ErrIllegalTransition) {
					t.Fatalf("illegal move: err = %v, want ErrIllegalTransition", err)
				}
				if stored.State != from {
					t.Fatalf("illegal move wrote state %v", stored.State)
				}
				if after, _ := s.Counts(); fmt.Sprint(after) != fmt.Sprint(before) {
					t.Fatalf("illegal move changed the counters: %v -> %v", before, after)
				}
			})
		}
	}
}
