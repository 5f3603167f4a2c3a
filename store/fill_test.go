package store

import (
	"bytes"
	"fmt"
	"iter"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// doneFiles yields files as DoneFiles with the same metadata each.
func doneFiles(files ...Found) iter.Seq[DoneFile] {
	return func(yield func(DoneFile) bool) {
		for _, f := range files {
			if !yield(DoneFile{Found: f, Meta: []byte(`{"date_of_call":"01/03/2025, 13:00:00"}`)}) {
				return
			}
		}
	}
}

// dumpBuckets returns every bucket of the file as bucket -> key -> value.
func dumpBuckets(t *testing.T, s *Store) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			m := map[string]string{}
			out[string(name)] = m
			return b.ForEach(func(k, v []byte) error {
				if string(name) == "counts" && bytes.Equal(v, make([]byte, 8)) {
					return nil // a counter back at zero reads as one never written
				}
				m[string(k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFillDoneAsUploads checks that FillDone writes what Add and the
// upload's steps to Done write, byte for byte, and that the versions it
// recorded are known to Add.
func TestFillDoneAsUploads(t *testing.T) {
	files := []Found{found("a/1.wav", 100), found("a/2.wav", 200), found("b/3.wav", 300)}
	meta := []byte(`{"date_of_call":"01/03/2025, 13:00:00"}`)

	c := newClock()
	uploaded := openTest(t, c)
	mustAdd(t, uploaded, files...)
	for id := uint64(1); id <= uint64(len(files)); id++ {
		j := claimID(t, uploaded, id)
		j.Meta = meta
		moveTo(t, uploaded, j, Done)
		if err := uploaded.Release(j); err != nil {
			t.Fatal(err)
		}
	}

	path := testPath(t)
	n, err := FillDone(path, doneFiles(files...), c.Now())
	if err != nil || n != len(files) {
		t.Fatalf("FillDone = %d, %v; want %d, nil", n, err, len(files))
	}
	filled, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer filled.Close()
	if err := filled.Check(); err != nil {
		t.Fatal(err)
	}
	want, got := dumpBuckets(t, uploaded), dumpBuckets(t, filled)
	for name, wb := range want {
		gb := got[name]
		if len(gb) != len(wb) {
			t.Errorf("bucket %s: %d entries, want %d", name, len(gb), len(wb))
		}
		for k, v := range wb {
			if g, ok := gb[k]; !ok || g != v {
				t.Errorf("bucket %s, key %x: %x, want %x", name, k, g, v)
			}
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d buckets, want %d", len(got), len(want))
	}

	if n := mustAdd(t, filled, files...); n != 0 {
		t.Errorf("Add of the recorded versions added %d jobs, want 0", n)
	}
	j, err := filled.Latest("rec", "b/3.wav")
	if err != nil {
		t.Fatal(err)
	}
	if j.State != Done || !bytes.Equal(j.Meta, meta) || !j.Created.Equal(t0) || !j.Updated.Equal(t0) || !j.NextAttempt.Equal(t0) {
		t.Errorf("job %+v, want done with its metadata, created, due and updated at %v", j, t0)
	}
}

// TestFillDoneVersions checks FillDone on a store that already knows
// some of the files.
func TestFillDoneVersions(t *testing.T) {
	tests := []struct {
		name    string
		before  []Found // added first, left queued
		fill    []Found
		added   int
		counts  map[State]int
		skipped string // the file whose first job is superseded, if any
	}{
		{
			name:   "new files",
			fill:   []Found{found("1.wav", 1), found("2.wav", 2)},
			added:  2,
			counts: map[State]int{Done: 2},
		},
		{
			name:   "a version known",
			before: []Found{found("1.wav", 1)},
			fill:   []Found{found("1.wav", 1), found("2.wav", 2)},
			added:  1,
			counts: map[State]int{Queued: 1, Done: 1},
		},
		{
			name:    "a new version of a queued file",
			before:  []Found{found("1.wav", 1)},
			fill:    []Found{found("1.wav", 10)},
			added:   1,
			counts:  map[State]int{Skipped: 1, Done: 1},
			skipped: "1.wav",
		},
		{
			name:   "the same version twice",
			fill:   []Found{found("1.wav", 1), found("1.wav", 1)},
			added:  1,
			counts: map[State]int{Done: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := testPath(t)
			if len(tt.before) > 0 {
				s, err := Open(path, Options{Now: newClock().Now})
				if err != nil {
					t.Fatal(err)
				}
				mustAdd(t, s, tt.before...)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			n, err := FillDone(path, doneFiles(tt.fill...), t0.Add(time.Hour))
			if err != nil || n != tt.added {
				t.Fatalf("FillDone = %d, %v; want %d, nil", n, err, tt.added)
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			counts, err := s.Counts()
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range States {
				if counts[st] != tt.counts[st] {
					t.Errorf("%d %s jobs, want %d", counts[st], st, tt.counts[st])
				}
			}
			if tt.skipped != "" {
				j, err := s.Get(1)
				if err != nil {
					t.Fatal(err)
				}
				if j.Path != tt.skipped || j.State != Skipped || j.Reason != SupersededReason {
					t.Errorf("job 1 is %s %s (%q), want %s superseded", j.Path, j.State, j.Reason, tt.skipped)
				}
			}
			if n := mustAdd(t, s, tt.fill...); n != 0 {
				t.Errorf("Add of the recorded versions added %d jobs, want 0", n)
			}
		})
	}
}

// TestFillDoneBatches fills more files than one transaction takes, from a
// generator, and checks every one is known.
func TestFillDoneBatches(t *testing.T) {
	defer func(n int) { fillBatch = n }(fillBatch)
	fillBatch = 100
	n := 2*fillBatch + 1
	files := func(yield func(DoneFile) bool) {
		for i := range n {
			if !yield(DoneFile{Found: found(fmt.Sprintf("d%d/%07d.wav", i%7, i), int64(i)+44)}) {
				return
			}
		}
	}
	path := testPath(t)
	got, err := FillDone(path, files, t0)
	if err != nil || got != n {
		t.Fatalf("FillDone = %d, %v; want %d, nil", got, err, n)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	counts, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts[Done] != n {
		t.Errorf("%d done jobs, want %d", counts[Done], n)
	}
	var again []Found
	for f := range files {
		again = append(again, f.Found)
	}
	for chunk := range slices.Chunk(again, 70) {
		if added := mustAdd(t, s, chunk...); added != 0 {
			t.Fatalf("Add of the recorded versions added %d jobs, want 0", added)
		}
	}
}

// TestFillDoneRefuses checks that FillDone refuses what Add refuses, and
// a version marked to be skipped.
func TestFillDoneRefuses(t *testing.T) {
	skip := found("2.wav", 2)
	skip.Skip = "older"
	tests := []struct {
		name string
		f    Found
	}{
		{"no path", found("", 1)},
		{"negative size", found("1.wav", -1)},
		{"skip", skip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := FillDone(testPath(t), doneFiles(tt.f), t0); err == nil {
				t.Errorf("FillDone of %+v: no error", tt.f)
			}
		})
	}
}
