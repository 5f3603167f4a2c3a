package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// unsupported reports whether Compact cannot run here, after checking
// that it says so.
func unsupported(t *testing.T, s *Store) bool {
	t.Helper()
	if compactSupported {
		return false
	}
	if _, err := s.Compact(context.Background()); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Compact on %s = %v, want an error wrapping errors.ErrUnsupported", runtime.GOOS, err)
	}
	return true
}

// dump returns every bucket of s, its sequence and its keys and values,
// as text, to compare files.
func dump(t testing.TB, s *Store) string {
	t.Helper()
	var b strings.Builder
	err := s.viewTx(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			fmt.Fprintf(&b, "bucket %q sequence %d\n", name, bk.Sequence())
			return bk.ForEach(func(k, v []byte) error {
				fmt.Fprintf(&b, "  %x = %x\n", k, v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// uploaded is a state file of uploadedJobs calls of source "calls" taken
// through the store by fillUploaded on a clock at t0, made once for the
// tests that need one.
var uploaded struct {
	sync.Mutex
	file []byte
}

const uploadedJobs = 600

// writeUploaded writes the state file of uploaded at path, making it
// first if need be.
func writeUploaded(t testing.TB, path string) {
	t.Helper()
	uploaded.Lock()
	defer uploaded.Unlock()
	if uploaded.file == nil {
		s, err := Open(path, Options{Now: newClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		fillUploaded(t, s, "calls", 0, uploadedJobs, 300, 4)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if uploaded.file, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, uploaded.file, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openUploaded is openTest of a copy of the uploaded state file.
func openUploaded(t testing.TB, c *clock) *Store {
	t.Helper()
	path := testPath(t)
	writeUploaded(t, path)
	s, err := Open(path, Options{Now: c.Now})
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

// fillVaried adds to s, a copy of the uploaded state file, jobs of every
// kind of entry a state file holds: it prunes the uploaded jobs and
// uploads others, and adds children, jobs parked and skipped, retries due
// later, a gate; and returns a job it leaves claimed.
func fillVaried(t testing.TB, s *Store, c *clock) *Job {
	t.Helper()
	c.Add(time.Hour)
	if n, err := s.Prune(c.Now()); err != nil || n != uploadedJobs {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	fillUploaded(t, s, "calls", uploadedJobs, 100, 100, 2)
	mustAdd(t, s, Found{Source: "zips", Path: "a.zip", Size: 1, ModTime: t0, Kind: Zip})
	zip, err := s.Latest("zips", "a.zip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Expand(zip.ID, []Found{found("a.zip/1.wav", 1), found("a.zip/2.wav", 2)}); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, found("parked.wav", 1), found("skipped.wav", 1), found("retry.wav", 1), found("held.wav", 1))
	for _, p := range []struct {
		path string
		st   State
	}{{"parked.wav", Parked}, {"skipped.wav", Skipped}, {"retry.wav", Ready}} {
		j, err := s.Latest("rec", p.path)
		if err != nil {
			t.Fatal(err)
		}
		j = claimID(t, s, j.ID)
		j.State, j.Reason, j.NextAttempt = p.st, "because", c.Now().Add(time.Hour)
		if err := s.Release(j); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetGate(Gate{Name: "calls", Reason: "allocation used up", Since: t0}); err != nil {
		t.Fatal(err)
	}
	held, err := s.Latest("rec", "held.wav")
	if err != nil {
		t.Fatal(err)
	}
	return claimID(t, s, held.ID)
}

// Compact keeps every job, index entry, counter, sequence and gate as it
// was, and the claims; the file shrinks, and the store goes on working.
func TestCompactKeepsEverything(t *testing.T) {
	c := newClock()
	path := testPath(t)
	writeUploaded(t, path)
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if unsupported(t, s) {
		return
	}
	held := fillVaried(t, s, c)
	before := dump(t, s)
	size := fileSize(t, s.path)

	rep, err := s.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Before != size || rep.After != fileSize(t, s.path) || rep.After >= rep.Before || rep.Took <= 0 {
		t.Errorf("Compact() = %+v, the file was %d bytes and is %d", rep, size, fileSize(t, s.path))
	}
	if after := dump(t, s); after != before {
		t.Errorf("the data changed:\nbefore:\n%.2000s\nafter:\n%.2000s", before, after)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(s.path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the copy is left: %v", err)
	}

	// The claim survived: the held job is not handed out, and its
	// claimer can still release it.
	for {
		j, err := s.Claim(LaneCalls)
		if err != nil {
			t.Fatal(err)
		}
		if j == nil {
			break
		}
		if j.ID == held.ID {
			t.Fatalf("claimed job %d handed out again after Compact", j.ID)
		}
		if err := uploadOne(s, j); err != nil {
			t.Fatal(err)
		}
	}
	held.State = Done
	if err := s.Release(held); err != nil {
		t.Errorf("release a job claimed before Compact: %v", err)
	}
	mustAdd(t, s, found("new.wav", 1))
	size = fileSize(t, s.path)
	if again, err := s.Compact(context.Background()); err != nil || again.Before != size {
		t.Errorf("second Compact() of a file of %d bytes = %+v, %v", size, again, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Check(); err != nil {
		t.Error(err)
	}
	if j, err := s2.Latest("rec", "new.wav"); err != nil || j.State != Queued {
		t.Errorf("after reopening, the job added after Compact: %v, %v", j, err)
	}
}

func TestCompactRefuses(t *testing.T) {
	c := newClock()
	s := openTest(t, c)
	if unsupported(t, s) {
		return
	}
	mustAdd(t, s, found("a.wav", 1))
	before := dump(t, s)

	// A cancelled copy leaves the file and the store as they were.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Compact(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Compact(cancelled) = %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	compactStep = func(step string) {
		if step == "created" {
			cancel()
		}
	}
	defer func() { compactStep = nil }()
	if _, err := s.Compact(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Compact cancelled while copying = %v", err)
	}
	compactStep = nil
	if _, err := os.Stat(s.path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the copy of a cancelled Compact is left: %v", err)
	}
	if dump(t, s) != before {
		t.Error("a cancelled Compact changed the data")
	}
	mustAdd(t, s, found("b.wav", 1))

	ro, err := Open(testPath(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	if ro, err = Open(ro.path, Options{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Compact(context.Background()); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Compact of a read-only store = %v", err)
	}
	if need, _, err := ro.NeedsCompact(); need || err != nil {
		t.Errorf("NeedsCompact of a read-only store = %v, %v", need, err)
	}

	closed, err := Open(testPath(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := closed.Compact(context.Background()); err == nil {
		t.Error("Compact of a closed store succeeded")
	}
}

func TestNeedsCompact(t *testing.T) {
	c := newClock()
	s := openUploaded(t, c)
	need, sp, err := s.NeedsCompact()
	if err != nil {
		t.Fatal(err)
	}
	// A small file is up to twice its data (bbolt grows it in powers of
	// two up to 16 MiB), which wins less than compactMinFree.
	if need || sp.File != fileSize(t, s.path) || sp.Live <= uploadedJobs*200 || sp.Live >= sp.File {
		t.Errorf("NeedsCompact of %d jobs uploaded = %v, %+v", uploadedJobs, need, sp)
	}

	defer func(min int64) { compactMinFree = min }(compactMinFree)
	compactMinFree = 128 << 10
	c.Add(time.Hour)
	if _, err := s.Prune(c.Now()); err != nil {
		t.Fatal(err)
	}
	need, pruned, err := s.NeedsCompact()
	if err != nil {
		t.Fatal(err)
	}
	// The seen entries stay.
	if need != compactSupported || pruned.Live >= sp.Live/2 || pruned.Free < sp.Live/2 {
		t.Errorf("NeedsCompact after pruning every job = %v, %+v; before %+v", need, pruned, sp)
	}
	if !compactSupported {
		return
	}
	if _, err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if need, sp, err := s.NeedsCompact(); need || err != nil || sp.File >= pruned.File/2 {
		t.Errorf("NeedsCompact after Compact = %v, %+v, %v", need, sp, err)
	}
}

// Adds, claims, saves and releases that run while Compact copies and swaps
// the file wait for it, and none is lost.
func TestCompactConcurrent(t *testing.T) {
	if !compactSupported {
		t.Skip("Compact is not supported on " + runtime.GOOS)
	}
	c := newClock()
	s := openUploaded(t, c)

	const adds, perAdd, workers = 10, 10, 4
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done = map[uint64]bool{} // guarded by mu
	)
	errs := make(chan error, workers+2)
	fail := func(err error) {
		errs <- err
		cancel()
	}
	added := make(chan struct{}, 1)   // a token after each Add, for an idle worker
	compact := make(chan struct{}, 1) // a token after each Add, for the compactor
	wake := func() {
		select {
		case added <- struct{}{}:
		default:
		}
	}
	wg.Go(func() {
		for i := range adds {
			var fs []Found
			for k := range perAdd {
				fs = append(fs, found(fmt.Sprintf("new/%d/%d.wav", i, k), int64(k)))
			}
			if _, err := s.Add(fs); err != nil {
				fail(err)
				return
			}
			wake()
			select {
			case compact <- struct{}{}:
			default:
			}
		}
	})
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				j, err := s.Claim(LaneCalls)
				if err == nil && j != nil {
					err = uploadOne(s, j)
				}
				if err != nil {
					fail(err)
					return
				}
				if j == nil {
					select {
					case <-added:
						wake() // and the next idle worker
					case <-ctx.Done():
					}
					continue
				}
				mu.Lock()
				done[j.ID] = true
				if len(done) == adds*perAdd {
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	compactions := 0
	wg.Go(func() {
		for {
			select {
			case <-compact:
			case <-ctx.Done():
				return
			}
			if _, err := s.Compact(ctx); err != nil {
				if ctx.Err() == nil {
					fail(err)
				}
				return
			}
			compactions++
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(done) != adds*perAdd || compactions == 0 {
		t.Fatalf("%d jobs done of %d, in %d compactions", len(done), adds*perAdd, compactions)
	}
	for id := range done {
		j, err := s.Get(id)
		if err != nil || j.State != Done || !bytes.Equal(j.Meta, uploadMeta) {
			t.Fatalf("job %d: %+v, %v", id, j, err)
		}
	}
	counts, err := s.Counts()
	if err != nil || counts[Done] != uploadedJobs+adds*perAdd {
		t.Errorf("Counts() = %v, %v", counts, err)
	}
	t.Logf("%d compactions", compactions)
}

// Open removes the copy of a Compact that did not finish; a read-only
// Open leaves it.
func TestOpenRemovesCompactCopy(t *testing.T) {
	path := testPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, found("a.wav", 1))
	s.Close()
	if err := os.WriteFile(path+compactSuffix, []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	if _, err := os.Stat(path + compactSuffix); err != nil {
		t.Errorf("a read-only Open removed the copy: %v", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open left the copy: %v", err)
	}
	if j, err := s.Latest("rec", "a.wav"); err != nil || j.State != Queued {
		t.Errorf("Latest = %v, %v", j, err)
	}
}

// A process that waits for the lock of a state file while its holder
// compacts it never gets the old file, which is in no directory any more
// after the swap: it waits for the new file's lock, and then opens the
// new file.
func TestCompactLockHandover(t *testing.T) {
	if !compactSupported {
		t.Skip("Compact is not supported on " + runtime.GOOS)
	}
	path := testPath(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, found("before.wav", 1))

	opened := make(chan struct{}, 4)
	got := make(chan *bolt.DB, 1)
	go func() {
		// Like Open's, with a hook that says when the file is open and
		// the wait for its lock begins.
		db, err := openLocked(path, writeOptions(func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			opened <- struct{}{}
			return f, err
		}), 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- db
	}()
	<-opened
	if _, err := s.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, found("after.wav", 1))
	select {
	case db := <-got:
		t.Fatalf("the waiting process got a lock while the store was open: %v", db)
	default:
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := <-got
	if db == nil {
		return
	}
	defer db.Close()
	if n := len(opened); n < 1 {
		t.Errorf("the waiting process opened the state file %d more times, want at least 1 (the new file)", n)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSeen).Get(seenKey("rec", "after.wav")) == nil {
			return errors.New("the file it locked has not the job added after Compact: it is the old one")
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// compactKillEnv names the state file the kill test's child compacts.
const compactKillEnv = "VELA_TEST_COMPACT_CHILD"

// TestCompactKilled kills a process with SIGKILL at each step of Compact,
// and somewhat after, many times over: after each kill Open succeeds and
// every job, entry and counter is there, as it was.
func TestCompactKilled(t *testing.T) {
	if !compactSupported {
		t.Skip("Compact is not supported on " + runtime.GOOS)
	}
	if testing.Short() {
		t.Skip("slow: kills and restarts a process many times")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	path := testPath(t)
	writeUploaded(t, path)
	s, err := Open(path, Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	want := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	steps := []string{"created", "copied", "synced", "renamed", "closed"}
	const kills = 30
	for i := range kills {
		// Each step in turn, in the first or a later round of the child's
		// Compacts, killed as soon as the line is read: the child runs on
		// a little meanwhile.
		target := fmt.Sprintf("%d %s", rand.IntN(2), steps[i%len(steps)])
		cmd := exec.Command(exe, "-test.run=^TestCompactKillChild$")
		cmd.Env = append(os.Environ(), compactKillEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var seen []string
		for sc.Scan() {
			seen = append(seen, sc.Text())
			if sc.Text() == target {
				break
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if !slices.Contains(seen, target) {
			t.Fatalf("kill %d: the child ended before %q; it printed %q:\n%s", i, target, seen, stderr.String())
		}

		s, err := Open(path, Options{Now: c.Now})
		if err != nil {
			t.Fatalf("kill %d at %q: %v", i, target, err)
		}
		if _, err := os.Stat(path + compactSuffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("kill %d at %q: Open left the copy: %v", i, target, err)
		}
		err = s.Check()
		if got := dump(t, s); got != want {
			t.Errorf("kill %d at %q: the data changed", i, target)
		}
		if cerr := s.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("kill %d at %q: %v", i, target, err)
		}
	}
}

// TestCompactKillChild is the child of TestCompactKilled: it compacts the
// state file over and over, printing each step as "ROUND STEP", until it
// is killed.
func TestCompactKillChild(t *testing.T) {
	path := os.Getenv(compactKillEnv)
	if path == "" {
		t.Skip("the child of TestCompactKilled")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	round := 0
	compactStep = func(step string) { fmt.Printf("%d %s\n", round, step) }
	for ; round < 100; round++ {
		if _, err := s.Compact(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("not killed after 100 rounds")
}

func TestLastInFolder(t *testing.T) {
	for _, tc := range []struct {
		key, next string
		want      bool
	}{
		{"calls\x002025/03/b.wav", "", true},
		{"calls\x002025/03/b.wav", "calls\x002025/03/c.wav", false},
		{"calls\x002025/03/b.wav", "calls\x002025/04/a.wav", true},
		{"calls\x002025/03/b.wav", "calls\x002025/03/sub/a.wav", false},
		{"calls\x00b.wav", "calls\x00c.wav", false},
		{"calls\x00b.wav", "calls\x00dir/a.wav", false},
		{"calls\x00b.wav", "chats\x00a.json", true},
		{"a/b\x00x.wav", "a/b\x00y.wav", false},
		{"a/b\x00x.wav", "a/c\x00a.wav", true},
	} {
		var next []byte
		if tc.next != "" {
			next = []byte(tc.next)
		}
		if got := lastInFolder([]byte(tc.key), next); got != tc.want {
			t.Errorf("lastInFolder(%q, %q) = %v, want %v", tc.key, tc.next, got, tc.want)
		}
	}
}

// The pages of the queue stay full as jobs are added and uploaded, and
// those of the seen index too for files named at random.
func TestPagesStayFull(t *testing.T) {
	fill := func(s *Store, name string) float64 {
		var st bolt.BucketStats
		if err := s.viewTx(func(tx *bolt.Tx) error { st = tx.Bucket([]byte(name)).Stats(); return nil }); err != nil {
			t.Fatal(err)
		}
		return float64(st.LeafInuse) / float64(st.LeafAlloc)
	}
	s := openUploaded(t, newClock())
	for _, b := range []string{"jobs", "ended"} {
		if f := fill(s, b); f < 0.9 {
			t.Errorf("after %d uploads, the pages of bucket %s are %.0f%% full, want at least 90%%", uploadedJobs, b, 100*f)
		}
	}

	s = openTest(t, newClock())
	perm := rand.Perm(2400)
	for b := 0; b < len(perm); b += 200 {
		var fs []Found
		for _, k := range perm[b : b+200] {
			fs = append(fs, Found{Source: "uuids", Path: fmt.Sprintf("%08x.wav", uint32(k)*2654435761), Size: 1, ModTime: t0, Kind: Call, Skip: "test"})
		}
		mustAdd(t, s, fs...)
	}
	// Split at 90%, the pages would be a third full.
	if f := fill(s, "seen"); f < 0.6 {
		t.Errorf("after adding 2400 files named at random, the pages of the seen index are %.0f%% full, want at least 60%%", 100*f)
	}
}
