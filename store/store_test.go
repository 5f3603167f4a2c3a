package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := testPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix permissions")
	}
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{{filepath.Dir(path), 0o700}, {path, 0o600}} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != tc.want {
			t.Errorf("%s has mode %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	path := testPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, readOnly := range []bool{false, true} {
		start := time.Now()
		s2, err := Open(path, Options{Timeout: 100 * time.Millisecond, ReadOnly: readOnly})
		if err == nil {
			s2.Close()
			t.Fatalf("second Open (read-only %v) succeeded", readOnly)
		}
		if !errors.Is(err, ErrLocked) {
			t.Errorf("err = %v, want ErrLocked", err)
		}
		want := "the state directory " + filepath.Dir(path) + " is in use by another vela-agent process (stop it first, or point state_dir elsewhere)"
		if err.Error() != want {
			t.Errorf("err = %q, want %q", err, want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("second Open took %v", d)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := testPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, u64(schemaVersion+98))
	})
	for _, readOnly := range []bool{false, true} {
		_, err = Open(path, Options{ReadOnly: readOnly})
		want := fmt.Sprintf("written by a newer vela-agent: schema %d, this build knows %d", schemaVersion+98, schemaVersion)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open (read-only %v) of a newer schema: err = %v", readOnly, err)
		}
	}
}

func TestOpenRefusesForeignFile(t *testing.T) {
	path := testPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("other"))
		return err
	})
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), "not a vela-agent state file") {
		t.Errorf("Open of a foreign bbolt file: err = %v", err)
	}
	if err := os.WriteFile(path, []byte("not a database at all, just some text"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); err == nil {
		t.Error("Open of a text file succeeded")
	}
}

func TestReadOnly(t *testing.T) {
	path := testPath(t)
	if _, err := Open(path, Options{ReadOnly: true}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read-only Open of a missing file: err = %v, want ErrNotExist", err)
	}
	c := newClock()
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, found("a.wav", 1), found("b.wav", 2))
	if err := s.SetGate(Gate{Name: "calls", Reason: "allocation exceeded", Since: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Two readers at once: status run twice while no agent runs.
	r1, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r1.Close()
	r2, err := Open(path, Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()

	counts, err := r1.Counts()
	if err != nil || counts[Queued] != 2 {
		t.Errorf("Counts() = %v, %v", counts, err)
	}
	if jobs, err := r2.List(Queued, 0, 10); err != nil || len(jobs) != 2 {
		t.Errorf("List() = %v, %v", jobs, err)
	}
	if gates, err := r1.Gates(); err != nil || len(gates) != 1 {
		t.Errorf("Gates() = %v, %v", gates, err)
	}
	if err := r1.Check(); err != nil {
		t.Error(err)
	}
	if _, err := r1.Add([]Found{found("c.wav", 3)}); err == nil {
		t.Error("Add on a read-only store succeeded")
	}
	if j, err := r1.Claim(LaneCalls); err == nil {
		t.Errorf("Claim on a read-only store returned %v", j)
	}
	if err := r1.SetGate(Gate{Name: "all"}); err == nil {
		t.Error("SetGate on a read-only store succeeded")
	}
}

func TestGatesPersist(t *testing.T) {
	path := testPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []Gate{
		{Name: "calls", Reason: "allocation exceeded (org 1234)", Since: t0},
		{Name: "all", Reason: "401 after token refresh", Since: t0.Add(time.Minute)},
		{Name: "chats", Reason: "monthly chats allocation exceeded", Since: t0},
	} {
		if err := s.SetGate(g); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ClearGate("chats"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearGate("never-set"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGate(Gate{}); err == nil {
		t.Error("SetGate without a name succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	gates, err := s.Gates()
	if err != nil {
		t.Fatal(err)
	}
	if len(gates) != 2 || gates[0].Name != "all" || gates[1].Name != "calls" ||
		gates[1].Reason != "allocation exceeded (org 1234)" || !gates[0].Since.Equal(t0.Add(time.Minute)) {
		t.Errorf("after reopening, Gates() = %+v", gates)
	}
}

// TestCorruptRecord damages one job record on disk: every method that reads
// it returns an error naming the job instead of panicking.
func TestCorruptRecord(t *testing.T) {
	path := testPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, found("a.wav", 1), found("b.wav", 2))
	j, err := s.Latest("rec", "b.wav")
	if err != nil {
		t.Fatal(err)
	}
	// Make it skipped and old, so Prune meets it too.
	j = moveTo(t, s, claimID(t, s, j.ID), Skipped)
	if err := s.Release(j); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, id := range []uint64{1, 2} {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketJobs).Put(idKey(id), []byte{recordV1, 200, 1})
		})
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	calls := map[string]func() error{
		"Get":    func() error { _, err := s.Get(1); return err },
		"Latest": func() error { _, err := s.Latest("rec", "a.wav"); return err },
		"Claim":  func() error { _, err := s.Claim(LaneCalls); return err },
		"List":   func() error { _, err := s.List(0, 0, 10); return err },
		"ListQ":  func() error { _, err := s.List(Queued, 0, 10); return err },
		"Requeue": func() error {
			return s.Requeue(2)
		},
		"Prune": func() error { _, err := s.Prune(t0.Add(time.Hour * 24 * 365 * 100)); return err },
		"Add":   func() error { _, err := s.Add([]Found{found("a.wav", 99)}); return err },
		"Check": s.Check,
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "job 1") && !strings.Contains(err.Error(), "job 2") {
			t.Errorf("%s: error %q does not name the job", name, err)
		}
	}
}

// rawUpdate changes the state file behind the store's back.
func rawUpdate(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}
