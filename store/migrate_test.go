package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// toSchema1 rewrites the closed state file at path as a build of schema 1
// wrote it: no children bucket, schema 1, and every job record of version
// 1, which is version 2 but for the version byte and without the lane in
// the kind byte. Every job must be in its kind's lane, as schema 1 had it.
func toSchema1(t *testing.T, path string) {
	t.Helper()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketChildren); err != nil {
			return err
		}
		jobs := tx.Bucket(bucketJobs)
		recs := make(map[string][]byte)
		err := jobs.ForEach(func(k, v []byte) error {
			j, err := decodeJob(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			if j.Lane != j.Kind.Lane() {
				return fmt.Errorf("job %d in lane %v: schema 1 had it in %v", j.ID, j.Lane, j.Kind.Lane())
			}
			j.Lane = 0
			rec := encodeJob(j)
			rec[0] = recordV1
			recs[string(k)] = rec
			return nil
		})
		if err != nil {
			return err
		}
		for k, rec := range recs {
			if err := jobs.Put([]byte(k), rec); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, u64(1))
	})
}

// makeSchema1 writes a closed state file of schema 1 at a new path: calls,
// chats and a ZIP with two recordings added under it (Found.Parent, as
// schema 1 allowed), in several states, one pruned, one gate set. It
// returns the path and the jobs as they were written.
func makeSchema1(t *testing.T, c *clock) (string, map[uint64]*Job) {
	t.Helper()
	path := testPath(t)
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	zip := found("bulk.zip", 100)
	zip.Kind = Zip
	chat := found("chat.json", 5)
	chat.Kind = Chat
	mustAdd(t, s, found("a.wav", 1), found("b.wav", 2), found("c.wav", 3), chat, zip) // ids 1-5
	rec := func(name string) Found {
		f := found("bulk.zip/"+name, 10)
		f.Parent = 5
		return f
	}
	mustAdd(t, s, rec("r1.wav"), rec("r2.wav")) // ids 6, 7
	for id, to := range map[uint64]State{1: Done, 2: Parked, 3: Presigned, 6: Done, 7: Ready} {
		j := moveTo(t, s, claimID(t, s, id), to)
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(time.Hour)
	if n, err := s.Prune(c.Now()); err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if err := s.SetGate(Gate{Name: "calls", Reason: "allocation exceeded", Since: t0}); err != nil {
		t.Fatal(err)
	}
	jobs := make(map[uint64]*Job)
	all, err := s.List(0, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range all {
		jobs[j.ID] = j
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	toSchema1(t, path)
	return path, jobs
}

func schemaOf(t *testing.T, path string) uint64 {
	t.Helper()
	var n uint64
	rawView(t, path, func(tx *bolt.Tx) error {
		n = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	return n
}

func TestMigrateSchema1(t *testing.T) {
	c := newClock()
	path, want := makeSchema1(t, c)
	if len(want) != 5 {
		t.Fatalf("the fixture has %d jobs, want 5", len(want))
	}
	rawView(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketChildren) != nil {
			t.Error("the schema 1 fixture has a children bucket")
		}
		return nil
	})

	// Read-only, the file is read as it is: nothing can migrate it.
	ro, err := Open(path, Options{ReadOnly: true, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Check(); err != nil {
		t.Errorf("Check of an unmigrated file: %v", err)
	}
	for id, w := range want {
		if j, err := ro.Get(id); err != nil {
			t.Error(err)
		} else {
			sameJob(t, j, w)
		}
	}
	if _, err := ro.ChildrenLeft(5); err == nil {
		t.Error("ChildrenLeft on an unmigrated file succeeded")
	}
	ro.Close()
	if n := schemaOf(t, path); n != 1 {
		t.Fatalf("a read-only Open wrote schema %d", n)
	}

	// Open migrates, in one commit.
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Commits != 1 {
		t.Errorf("the migration took %d commits, want 1", st.Commits)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		j, err := s.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		sameJob(t, j, w)
	}
	if got, err := s.Counts(); err != nil || got[Done] != 0 || got[Parked] != 1 || got[Presigned] != 1 || got[Queued] != 2 || got[Ready] != 1 {
		t.Errorf("Counts = %v, %v", got, err)
	}
	if g, err := s.Gates(); err != nil || len(g) != 1 {
		t.Errorf("Gates = %v, %v", g, err)
	}
	children, err := s.Children(5)
	if err != nil || len(children) != 1 || children[0].ID != 7 {
		t.Errorf("Children of the ZIP = %v, %v, want job 7 (job 6 was pruned)", children, err)
	}
	if n, err := s.ChildrenLeft(5); err != nil || n != 1 {
		t.Errorf("ChildrenLeft = %d, %v, want 1", n, err)
	}
	// The migrated queue works: each job due in its kind's lane, a new
	// job gets the next id, a file known before adds nothing.
	for _, tc := range []struct {
		lane Lane
		id   uint64
	}{{LaneCalls, 3}, {LaneChats, 4}, {LaneLocal, 5}} {
		j, err := s.Claim(tc.lane)
		if err != nil || j == nil || j.ID != tc.id {
			t.Errorf("Claim(%v) = %v, %v, want job %d", tc.lane, j, err, tc.id)
			continue
		}
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	if n := mustAdd(t, s, found("a.wav", 1), found("d.wav", 4)); n != 1 {
		t.Errorf("Add after the migration added %d, want 1", n)
	}
	if j, err := s.Latest("rec", "d.wav"); err != nil || j.ID != 8 {
		t.Errorf("the new job: %v, %v, want id 8", j, err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	s.Close()
	if n := schemaOf(t, path); n != schemaVersion {
		t.Errorf("schema %d after the migration, want %d", n, schemaVersion)
	}

	// A migrated file opens without a write.
	s, err = Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Commits != 0 {
		t.Errorf("opening a current file took %d commits", st.Commits)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestMigrateSchema1Refusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		want   error
	}{
		{"corrupt record", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketJobs).Put(idKey(3), []byte{recordV1, 1})
		}, ErrCorrupt},
		{"bucket missing", func(tx *bolt.Tx) error {
			return tx.DeleteBucket(bucketSeen)
		}, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, _ := makeSchema1(t, newClock())
			rawUpdate(t, path, tc.damage)
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if n := schemaOf(t, path); n != 1 {
				t.Errorf("a failed migration left schema %d", n)
			}
		})
	}
}

func TestSalvageSchema1(t *testing.T) {
	c := newClock()
	path, want := makeSchema1(t, c)
	to := filepath.Join(filepath.Dir(path), "salvaged.db")
	rep, err := Salvage(path, to, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost() || rep.Jobs != len(want) {
		t.Errorf("report %+v", rep)
	}
	s, err := Open(to, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		if j, err := s.Get(id); err != nil {
			t.Error(err)
		} else {
			sameJob(t, j, w)
		}
	}
	if n, err := s.ChildrenLeft(5); err != nil || n != 1 {
		t.Errorf("ChildrenLeft = %d, %v, want 1", n, err)
	}
}
