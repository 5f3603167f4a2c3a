package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeKnown is an Options.Known on a map, as the store's seen index would
// answer: a path is known in one version.
type fakeKnown struct {
	mu    sync.Mutex
	files map[string]version
	asked map[string]int
}

type version struct {
	size  int64
	mtime time.Time
}

// knownAs returns a fakeKnown that knows the files at rels under root in
// their current version.
func knownAs(t *testing.T, root string, rels ...string) *fakeKnown {
	t.Helper()
	k := &fakeKnown{files: map[string]version{}, asked: map[string]int{}}
	for _, rel := range rels {
		info, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		k.files[rel] = version{info.Size(), info.ModTime()}
	}
	return k
}

func (k *fakeKnown) known(rel string, size int64, mtime time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked[rel]++
	v, ok := k.files[rel]
	return ok && v.size == size && v.mtime.Equal(mtime)
}

func (k *fakeKnown) askedAbout(rel string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.asked[rel]
}

// TestKnown checks that a file Known reports in its version is remembered
// as offered without being sent, and asked about once; that a file known
// in another version is sent; and that Forget makes a known file offered
// again, as does a change.
func TestKnown(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	makeTree(t, root, "a.wav", "b.wav", "sub/c.wav", "sub/d.wav")
	known := knownAs(t, root, "a.wav", "sub/c.wav", "sub/d.wav")
	known.files["sub/d.wav"] = version{1, time.Unix(1, 0)} // known in another version
	h := start(t, Options{Root: root, Recursive: true, Settle: 50 * time.Millisecond, Known: known.known})
	h.waitPaths("b.wav", "sub/d.wav")
	h.sync()
	h.sync()
	if got, want := h.paths(), []string{"b.wav", "sub/d.wav"}; !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
	for _, rel := range []string{"a.wav", "b.wav", "sub/c.wav", "sub/d.wav"} {
		if n := known.askedAbout(rel); n != 1 {
			t.Errorf("Known asked about %s %d times, want once", rel, n)
		}
	}
	waitUntil(t, "every file sent counted", func() bool { return h.w.Stats().Found == uint64(len(h.files())) })
	if s := h.w.Stats(); s.Known != 2 {
		t.Errorf("Stats() = %+v; want Known 2", s)
	}

	h.w.Forget("a.wav")
	h.waitPaths("a.wav")
	appendTo(t, filepath.Join(root, "sub", "c.wav"), "more")
	h.w.Rescan()
	h.waitPaths("sub/c.wav")
	h.sync()
	if n := known.askedAbout("a.wav"); n != 1 {
		t.Errorf("Known asked about a.wav %d times, want once: not after Forget", n)
	}
	if got, want := h.paths(), []string{"a.wav", "b.wav", "sub/c.wav", "sub/d.wav"}; !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
}

// TestKnownTreeAtStart checks what a start on a tree handed over already
// costs: no settling entry, no send, one record a file.
func TestKnownTreeAtStart(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	n := makeFolders(t, root, 5, 200)
	var rels []string
	for i := range 5 {
		for j := range 200 {
			rels = append(rels, fmt.Sprintf("2024-%04d/call-%04d-%06d.wav", i, i, j))
		}
	}
	known := knownAs(t, root, rels...)
	r := scannedRun(t, root, Options{Settle: time.Hour, Known: known.known})
	records, settling := 0, 0
	for _, d := range r.dirs {
		records += d.files.n
		settling += len(d.settling)
	}
	if records != n || settling != 0 || r.pending.head != len(r.pending.items) || len(r.batch) != 0 {
		t.Errorf("after the first scan: %d records, %d settling, %d checks pending, %d to send; want %d records and nothing else",
			records, settling, len(r.pending.items)-r.pending.head, len(r.batch), n)
	}
	if s := r.w.Stats(); s.Known != uint64(n) || s.Found != 0 {
		t.Errorf("Stats() = %+v, want %d known and none found", s, n)
	}
}

// TestVanishedFileOfferedAgain checks that a file that vanishes is forgotten
// and offered again when it comes back, even in the same version.
func TestVanishedFileOfferedAgain(t *testing.T) {
	t.Parallel()
	for _, poll := range []bool{false, true} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			name := filepath.Join(root, "sub", "call.wav")
			makeTree(t, root, "sub/call.wav", "sub/other.wav")
			info, err := os.Lstat(name)
			if err != nil {
				t.Fatal(err)
			}
			h := start(t, Options{Root: root, Recursive: true, Poll: poll})
			h.waitPaths("sub/call.wav", "sub/other.wav")
			if err := os.Remove(name); err != nil {
				t.Fatal(err)
			}
			h.sync() // a full scan without it
			write(t, name, "sub/call.wav")
			if err := os.Chtimes(name, info.ModTime(), info.ModTime()); err != nil {
				t.Fatal(err)
			}
			h.w.Rescan()
			h.waitFor("sub/call.wav offered again", func(got []File) bool { return count(got, "sub/call.wav") == 2 })
			h.sync()
			if n := count(h.files(), "sub/other.wav"); n != 1 {
				t.Errorf("sub/other.wav offered %d times, want once", n)
			}
		})
	}
}

// TestUnreadableFolderKeepsMemory checks that the files of a folder that
// cannot be read for a while are not offered again once it can.
func TestUnreadableFolderKeepsMemory(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	makeTree(t, root, "a/x.wav", "a/b/y.wav", "a/b/c/z.wav", "w.wav")
	fail := &failDirs{}
	h := startFailing(t, Options{Root: root, Recursive: true, Poll: true}, fail)
	h.waitPaths("a/x.wav", "a/b/y.wav", "a/b/c/z.wav", "w.wav")
	fail.set(filepath.Join(root, "a"))
	h.sync()
	h.sync()
	fail.set()
	h.sync()
	h.sync()
	if got, want := h.paths(), []string{"a/b/c/z.wav", "a/b/y.wav", "a/x.wav", "w.wav"}; !slices.Equal(got, want) {
		t.Errorf("sent %v, want each of %v once", got, want)
	}
}

// pace sets the pacing of full scans until the test ends. Tests that call
// it must not be parallel.
func pace(t *testing.T, slice, rest time.Duration) {
	savedSlice, savedRest := scanSlice, scanRest
	scanSlice, scanRest = slice, rest
	t.Cleanup(func() { scanSlice, scanRest = savedSlice, savedRest })
}

// TestPacedScan runs scans cut into many slices: every file is still sent
// once, with rescans asked for while a scan is under way.
func TestPacedScan(t *testing.T) {
	pace(t, time.Nanosecond, time.Millisecond)
	root := t.TempDir()
	n := makeFolders(t, root, 6, 150)
	makeTree(t, root, "top.wav")
	h := start(t, Options{Root: root, Recursive: true, Settle: 20 * time.Millisecond})
	h.waitFor("every file", func(got []File) bool { return len(got) == n+1 })
	h.sync()
	h.sync()
	if got := len(h.paths()); got != n+1 {
		t.Errorf("sent %d files, want %d once each", got, n+1)
	}
	if s := h.w.Stats(); s.Scans < 2 || s.LastScanFiles < n+1 {
		t.Errorf("Stats() = %+v, want 2 scans or more, of %d files or more", s, n+1)
	}
}

// TestEventsServedWhileScanRests checks that while a full scan rests,
// events, Forget and their files are served. The first slice of the scan
// reads the root folder only, then rests for an hour.
func TestEventsServedWhileScanRests(t *testing.T) {
	pace(t, time.Nanosecond, time.Hour)
	root := t.TempDir()
	makeFolders(t, root, 3, 100)
	makeTree(t, root, "first.wav")
	h := start(t, Options{Root: root, Recursive: true})
	h.waitPaths("first.wav")
	if mode, _ := h.w.Mode(); mode != ModeEvents {
		t.Skipf("no file events here (%s)", mode)
	}
	makeTree(t, root, "new.wav")
	h.waitPaths("new.wav")
	h.w.Forget("first.wav")
	h.waitFor("first.wav again", func(got []File) bool { return count(got, "first.wav") == 2 })
	if got, want := h.paths(), []string{"first.wav", "first.wav", "new.wav"}; !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v: the scan rests before the subfolders", got, want)
	}
	if s := h.w.Stats(); s.Scans != 0 {
		t.Errorf("Stats().Scans = %d, want 0: the first scan rests for an hour", s.Scans)
	}
}

// TestRescanAllocations checks that a rescan of files offered already and
// unchanged allocates a few times a folder and nothing a file, where the
// native lister reads folders. It is not parallel: it counts allocations.
func TestRescanAllocations(t *testing.T) {
	if !fastLister {
		t.Skip("the portable lister allocates for each file")
	}
	root := t.TempDir()
	const folders = 4
	makeFolders(t, root, folders, 250)
	makeTree(t, root, "UPPER-CASE.WAV", "2024-0001/Ünïcode.wav")
	for _, o := range []Options{{}, {Include: []string{"*.wav"}, Exclude: []string{"2024-0002/*.mp3"}}} {
		r := scannedRun(t, root, o)
		allocs := testing.AllocsPerRun(3, func() { fullScan(t, r) })
		if max := float64(10 * (folders + 1)); allocs > max {
			t.Errorf("include %v, exclude %v: a rescan of %d folders allocated %v times, want at most %v",
				o.Include, o.Exclude, folders+1, allocs, max)
		}
	}
}

// TestPortableLister runs the watcher on the lister of systems without
// getdents64, wherever the tests run.
func TestPortableLister(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	tree := []string{"a.wav", "x/b.wav", "x/y/c.wav", "z/d.wav"}
	makeTree(t, root, tree...)
	fail := &failDirs{}
	fail.set(filepath.Join(root, "z"))
	h := startWith(t, Options{Root: root, Recursive: true, Settle: 20 * time.Millisecond}, func(w *Local) {
		w.newLister = newReadDirLister
		w.failDir = fail.fail
	})
	h.waitPaths("a.wav", "x/b.wav", "x/y/c.wav")
	fail.set()
	h.w.Rescan()
	h.waitPaths("z/d.wav")
	h.sync()
	if got := h.paths(); !slices.Equal(got, slices.Sorted(slices.Values(tree))) {
		t.Errorf("sent %v, want each of %v once", got, tree)
	}
}
