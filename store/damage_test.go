package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// fixtureJobs is how many jobs makeFixture adds: enough for the jobs and
// seen buckets to span several leaf pages under a branch page.
const fixtureJobs = 400

// makeFixture writes a closed state file with fixtureJobs jobs: by id, one
// in five is done, one parked, one skipped, the rest queued; a few done
// jobs are pruned; one gate is set. It returns the file's path.
func makeFixture(t *testing.T) string {
	t.Helper()
	c := newClock()
	path := testPath(t)
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	s.db.NoSync = true
	var f []Found
	for i := range fixtureJobs {
		f = append(f, found(fmt.Sprintf("2025/03/agent_%04d.wav", i), int64(1000+i)))
	}
	mustAdd(t, s, f...)
	for id := uint64(1); id <= fixtureJobs; id++ {
		to := [...]State{Queued, Done, Parked, Skipped, Queued}[id%5]
		if to == Queued {
			continue
		}
		j := moveTo(t, s, claimID(t, s, id), to)
		if to == Parked || to == Skipped {
			j.Reason = "test"
		}
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	c.Add(time.Hour)
	// Prune the done jobs among the first 50 ids only.
	for id := uint64(1); id <= 50; id++ {
		if id%5 != 1 {
			continue
		}
		if err := s.update(func(q *qtx) error {
			j, err := q.load(id)
			if err != nil {
				return err
			}
			return q.deleteJob(j)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetGate(Gate{Name: "calls", Reason: "allocation exceeded", Since: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	s.db.NoSync = false
	if err := s.db.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// fixtureState is the state makeFixture gave job id, 0 if pruned.
func fixtureState(id uint64) State {
	st := [...]State{Queued, Done, Parked, Skipped, Queued}[id%5]
	if st == Done && id <= 50 {
		return 0
	}
	return st
}

// leafPages returns the ids of the leaf pages of bucket name, in key order,
// as bbolt calls them leaves, with the keys on each.
func leafPages(t *testing.T, path string, name []byte) (ids []uint64, keys [][][]byte) {
	t.Helper()
	var root uint64
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(name).Root())
		if root == 0 {
			return fmt.Errorf("bucket %s is inline", name)
		}
		var walk func(id uint64) error
		walk = func(id uint64) error {
			info, err := tx.Page(int(id))
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			buf := make([]byte, (info.OverflowCount+1)*db.Info().PageSize)
			if _, err := f.ReadAt(buf, int64(id)*int64(db.Info().PageSize)); err != nil {
				return err
			}
			p, err := parsePage(buf)
			if err != nil {
				return err
			}
			switch info.Type {
			case "leaf":
				var ks [][]byte
				for i := range p.count {
					_, k, _, err := p.leaf(i)
					if err != nil {
						return err
					}
					ks = append(ks, k)
				}
				ids, keys = append(ids, id), append(keys, ks)
			case "branch":
				for i := range p.count {
					_, child, err := p.branch(i)
					if err != nil {
						return err
					}
					if err := walk(child); err != nil {
						return err
					}
				}
			default:
				return fmt.Errorf("page %d is a %s page", id, info.Type)
			}
			return nil
		}
		return walk(root)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) < 3 {
		t.Fatalf("bucket %s has %d leaf pages, want a tree of at least 3", name, len(ids))
	}
	return ids, keys
}

// pageSize returns the page size of the bbolt file at path.
func pageSize(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return int64(db.Info().PageSize)
}

// overwrite writes b at offset off of the file at path.
func overwrite(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// damages are the ways a state file gets damaged, each applied to a file
// made by makeFixture.
var damages = []struct {
	name string
	do   func(t *testing.T, path string)
}{
	{"cut mid-file", func(t *testing.T, path string) {
		truncate(t, path, fileSize(t, path)/2+100)
	}},
	{"cut to one page", func(t *testing.T, path string) {
		truncate(t, path, pageSize(t, path))
	}},
	{"garbage meta pages", func(t *testing.T, path string) {
		ps := pageSize(t, path)
		overwrite(t, path, 0, bytes.Repeat([]byte{0x5a}, int(2*ps)))
	}},
	{"jobs leaf page header", func(t *testing.T, path string) {
		ids, _ := leafPages(t, path, bucketJobs)
		overwrite(t, path, int64(ids[1])*pageSize(t, path), bytes.Repeat([]byte{0xff}, 16))
	}},
	{"jobs leaf page elements", func(t *testing.T, path string) {
		ids, _ := leafPages(t, path, bucketJobs)
		overwrite(t, path, int64(ids[1])*pageSize(t, path)+16, bytes.Repeat([]byte{0xa5, 0x7f, 0x00, 0x13}, 64))
	}},
	{"seen leaf page zeroed", func(t *testing.T, path string) {
		ids, _ := leafPages(t, path, bucketSeen)
		ps := pageSize(t, path)
		overwrite(t, path, int64(ids[0])*ps, make([]byte, ps))
	}},
	{"jobs branch page", func(t *testing.T, path string) {
		var root uint64
		rawView(t, path, func(tx *bolt.Tx) error {
			root = uint64(tx.Bucket(bucketJobs).Root())
			return nil
		})
		overwrite(t, path, int64(root)*pageSize(t, path)+16+8, bytes.Repeat([]byte{0xee}, 8)) // the first child's pgid
	}},
}

func rawView(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

// A damaged state file is refused by Open with one clear error naming the
// file and the way out, for writing and for reading, and is not touched.
func TestOpenRefusesDamagedFile(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			path := makeFixture(t)
			d.do(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, readOnly := range []bool{false, true} {
				s, err := Open(path, Options{ReadOnly: readOnly})
				if err == nil {
					s.Close()
					t.Fatalf("Open (read-only %v) of a damaged file succeeded", readOnly)
				}
				if !errors.Is(err, ErrDamaged) {
					t.Errorf("Open (read-only %v): err = %v, want ErrDamaged", readOnly, err)
				}
				msg := err.Error()
				for _, want := range []string{path, "vela-agent state salvage", "backup"} {
					if !strings.Contains(msg, want) {
						t.Errorf("Open (read-only %v): error %q lacks %q", readOnly, msg, want)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("error of more than one line: %q", msg)
				}
				if !readOnly {
					t.Log(msg)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Error("Open changed the damaged file")
			}
		})
	}
}

// A file larger than verifyLimit is checked at Open only in its meta pages,
// size, freelist and bucket roots; Verify finds deeper damage.
func TestOpenLargeFileQuickCheck(t *testing.T) {
	defer func(n int64) { verifyLimit = n }(verifyLimit)
	verifyLimit = 0
	path := makeFixture(t)
	ids, _ := leafPages(t, path, bucketJobs)
	overwrite(t, path, int64(ids[1])*pageSize(t, path), bytes.Repeat([]byte{0xff}, 16))

	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open with the quick check: %v", err)
	}
	defer s.Close()
	if _, err := s.Verify(); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), path) {
		t.Errorf("Verify of a damaged leaf page: err = %v, want ErrDamaged naming the file", err)
	}

	// A cut is found however large the file.
	s.Close()
	truncate(t, path, fileSize(t, path)/2)
	if _, err := Open(path, Options{}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("Open of a cut file: err = %v, want ErrDamaged, cut short", err)
	}
}

func TestVerify(t *testing.T) {
	path := makeFixture(t)
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	warnings, err := s.Verify()
	if err != nil || len(warnings) != 0 {
		t.Errorf("Verify of a good file: %v, %v", warnings, err)
	}
	s.Close()

	// One invalid meta page is bbolt's way of surviving a torn write: the
	// file opens, and Verify warns.
	overwrite(t, path, 16, bytes.Repeat([]byte{0x5a}, 64))
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("Open with one invalid meta page: %v", err)
	}
	defer s.Close()
	warnings, err = s.Verify()
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "meta page 0") {
		t.Errorf("Verify with one invalid meta page: %q, %v", warnings, err)
	}

	// A broken invariant is the store's own check's to find.
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCounts).Put([]byte{byte(Queued)}, u64(1))
	})
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Verify(); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Verify with a wrong counter: err = %v, want ErrCorrupt", err)
	}
}

func TestMarker(t *testing.T) {
	path := testPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, err := os.ReadFile(markerPath(path))
	if err != nil {
		t.Fatalf("a new install wrote no marker: %v", err)
	}
	if !strings.Contains(string(b), "queue.db") {
		t.Errorf("marker says %q", b)
	}

	// A state file made before markers existed gets one, from a writer
	// only.
	os.Remove(markerPath(path))
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(markerPath(path)); err == nil {
		t.Error("a read-only Open wrote the marker")
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(markerPath(path)); err != nil {
		t.Errorf("Open of an existing file without a marker: %v", err)
	}
}

// A state file that is empty, or missing where the marker says one was,
// is a lost state: Open refuses it, and leaves it as it is.
func TestOpenRefusesLostState(t *testing.T) {
	for _, tc := range []struct {
		name          string
		empty, marker bool
		want          string
	}{
		{"empty with marker", true, true, "is empty, but this state directory has held one since"},
		{"empty without marker", true, false, "is empty:"},
		{"missing with marker", false, true, "is missing, but this state directory has held one since"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := makeFixture(t)
			if tc.empty {
				truncate(t, path, 0)
			} else if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if !tc.marker {
				os.Remove(markerPath(path))
			}
			for _, readOnly := range []bool{false, true} {
				s, err := Open(path, Options{ReadOnly: readOnly})
				if err == nil {
					s.Close()
					t.Fatalf("Open (read-only %v) of a lost state succeeded", readOnly)
				}
				if !errors.Is(err, ErrLostState) || errors.Is(err, os.ErrNotExist) {
					t.Errorf("Open (read-only %v): err = %v, want ErrLostState only", readOnly, err)
				}
				for _, want := range []string{path, tc.want, "backup", "vela-agent state reset", "--accept-new-state", "uploads it again"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Open (read-only %v): error %q lacks %q", readOnly, err, want)
					}
				}
			}
			fi, err := os.Stat(path)
			switch {
			case tc.empty && (err != nil || fi.Size() != 0):
				t.Errorf("the empty file was changed: %v, %v", fi, err)
			case !tc.empty && err == nil:
				t.Error("Open created the missing file")
			}
		})
	}
}

func TestAcceptNewStateAndReset(t *testing.T) {
	path := makeFixture(t)

	// A good file is not lost: nothing changes.
	if ok, err := AcceptNewState(path, Options{}); ok || err != nil {
		t.Fatalf("AcceptNewState of a good file = %v, %v", ok, err)
	}
	// Nor is a damaged one: it is for salvage.
	good, _ := os.ReadFile(path)
	truncate(t, path, int64(len(good))/2)
	if ok, err := AcceptNewState(path, Options{}); ok || err != nil {
		t.Fatalf("AcceptNewState of a damaged file = %v, %v", ok, err)
	}
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}

	truncate(t, path, 0)
	ok, err := AcceptNewState(path, Options{})
	if !ok || err != nil {
		t.Fatalf("AcceptNewState of an empty file = %v, %v", ok, err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after AcceptNewState: %v", err)
	}
	if n := mustAdd(t, s, found("2025/03/agent_0001.wav", 1001)); n != 1 {
		t.Errorf("a file known before the reset added %d jobs, want 1", n)
	}
	s.Close()

	// Reset keeps the old file.
	before, _ := os.ReadFile(path)
	aside, err := Reset(path, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if want := path + ".reset-20250301-120000"; aside != want {
		t.Errorf("Reset moved the file to %q, want %q", aside, want)
	}
	if kept, _ := os.ReadFile(aside); !bytes.Equal(kept, before) {
		t.Error("the file moved aside differs from the old one")
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if counts, err := s.Counts(); err != nil || counts[Queued]+counts[Done] != 0 {
		t.Errorf("after Reset: counts %v, %v", counts, err)
	}
	if _, err := Reset(path, Options{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Errorf("Reset of an open file: err = %v, want ErrLocked", err)
	}
}

// FuzzVerify feeds damaged files to the page reader: verify and a salvage
// walk must return, with or without an error, and never panic. The meta
// pages' checksums are fixed after each mutation, so that the damage
// reaches the pages behind them.
func FuzzVerify(f *testing.F) {
	c := newClock()
	path := testPath(f)
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		f.Fatal(err)
	}
	var found []Found
	for i := range 40 {
		found = append(found, Found{Source: "rec", Path: fmt.Sprintf("agent_%02d.wav", i), Size: int64(i), ModTime: t0, Kind: Call})
	}
	if _, err := s.Add(found); err != nil {
		f.Fatal(err)
	}
	s.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	for _, off := range []int{4096 * 2, 4096*3 + 20, len(good) - 4096 + 40} {
		b := bytes.Clone(good)
		if off+8 <= len(b) {
			copy(b[off:], "\xff\xff\xff\xff\x00\x00\x00\x01")
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.Clone(b)
		for _, off := range []int{0, 4096} {
			if len(b) >= off+pageHeader+metaSize && ne.Uint32(b[off+pageHeader:]) == boltMagic {
				m := b[off+pageHeader:]
				h := fnv.New64a()
				h.Write(m[:56])
				ne.PutUint64(m[56:], h.Sum64())
			}
		}
		r := bytes.NewReader(b)
		verify(r, int64(len(b)), true)
		pf, err := readPageFile(r, int64(len(b)))
		if err != nil {
			return
		}
		w := newWalker(pf, func(*badPage) error { return nil })
		root := make([]byte, bucketHeader)
		ne.PutUint64(root, pf.meta.root)
		w.tree("(root)", root, func(flags uint32, k, v []byte) error {
			if flags&leafIsBucket != 0 {
				return w.tree(string(k), v, func(uint32, []byte, []byte) error { return nil })
			}
			return nil
		})
	})
}
