package watcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// deadline bounds every wait for an outcome; it is generous because the
// tests run in parallel under the race detector.
const deadline = 20 * time.Second

// harness runs one watcher and records what it sends and logs.
type harness struct {
	t    *testing.T
	w    *Local
	root string
	logs *logRecorder

	mu      sync.Mutex
	got     []File
	batches []int         // size of each batch
	notify  chan struct{} // capacity 1: something was sent or logged
	barrier int
}

// start runs a watcher with o (Name, Logger and RescanInterval defaulted)
// until the test ends.
func start(t *testing.T, o Options) *harness {
	t.Helper()
	return startHeld(t, o, nil)
}

// startHeld is start with a receiver that takes nothing until hold is
// closed (nil: at once).
func startHeld(t *testing.T, o Options, hold <-chan struct{}) *harness {
	t.Helper()
	return startRun(t, o, hold, nil)
}

// startWith is start with setup called on the watcher before it runs.
func startWith(t *testing.T, o Options, setup func(*Local)) *harness {
	t.Helper()
	return startRun(t, o, nil, setup)
}

func startRun(t *testing.T, o Options, hold <-chan struct{}, setup func(*Local)) *harness {
	t.Helper()
	h := &harness{t: t, root: o.Root, notify: make(chan struct{}, 1)}
	h.logs = &logRecorder{t: t, notify: h.poke}
	if o.Name == "" {
		o.Name = "test"
	}
	if o.RescanInterval == 0 {
		o.RescanInterval = time.Hour // only events, Rescan or polling find files
	}
	o.Logger = slog.New(h.logs)
	w, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.w = w
	if setup != nil {
		setup(w)
	}

	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []File)
	runDone := make(chan error, 1)
	var collector sync.WaitGroup
	go func() { runDone <- w.Run(ctx, out) }()
	collector.Go(func() {
		if hold != nil {
			select {
			case <-hold:
			case <-ctx.Done():
				return
			}
		}
		for {
			select {
			case b := <-out:
				h.mu.Lock()
				h.got = append(h.got, b...)
				h.batches = append(h.batches, len(b))
				h.mu.Unlock()
				h.poke()
			case <-ctx.Done():
				return
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-runDone:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(deadline):
			t.Errorf("Run did not return within %v of cancellation", deadline)
		}
		collector.Wait()
	})
	return h
}

func (h *harness) poke() {
	select {
	case h.notify <- struct{}{}:
	default:
	}
}

// waitFor waits until cond holds for the files sent so far.
func (h *harness) waitFor(what string, cond func(got []File) bool) {
	h.t.Helper()
	timeout := time.NewTimer(deadline)
	defer timeout.Stop()
	for {
		h.mu.Lock()
		ok := cond(h.got)
		h.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-h.notify:
		case <-timeout.C:
			h.t.Fatalf("waited %v for %s; got %v", deadline, what, h.paths())
		}
	}
}

// waitPaths waits until every path in want was sent at least once.
func (h *harness) waitPaths(want ...string) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("%v", want), func(got []File) bool {
		for _, p := range want {
			if count(got, p) == 0 {
				return false
			}
		}
		return true
	})
}

// sync creates a new file, asks for a rescan and waits until the file is
// sent: anything the watcher would send for earlier scans has been sent.
func (h *harness) sync() {
	h.t.Helper()
	h.barrier++
	name := fmt.Sprintf("zz-barrier-%d.wav", h.barrier)
	write(h.t, filepath.Join(h.root, name), "b")
	h.w.Rescan()
	h.waitPaths(name)
}

func (h *harness) files() []File {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// paths lists the paths sent, barriers left out, sorted.
func (h *harness) paths() []string {
	var ps []string
	for _, f := range h.files() {
		if !strings.HasPrefix(f.Path, "zz-barrier-") {
			ps = append(ps, f.Path)
		}
	}
	slices.Sort(ps)
	return ps
}

func count(files []File, path string) int {
	n := 0
	for _, f := range files {
		if f.Path == path {
			n++
		}
	}
	return n
}

// logRecorder is a slog.Handler that logs to the test and keeps every
// record.
type logRecorder struct {
	t      *testing.T
	notify func() // called after each record

	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	l.t.Log(b.String())
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	l.notify()
	return nil
}

// WithAttrs drops the attributes: the tests look at messages only.
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count reports how many records at level have a message containing msg.
func (l *logRecorder) count(level slog.Level, msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Level == level && strings.Contains(r.Message, msg) {
			n++
		}
	}
	return n
}

func write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendTo(t *testing.T, name, content string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(f, content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// makeTree creates the files at rels (slash-separated) under root.
func makeTree(t *testing.T, root string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		write(t, filepath.Join(root, filepath.FromSlash(rel)), rel)
	}
}

func TestOffersEveryFileOnce(t *testing.T) {
	t.Parallel()
	tree := []string{"a.wav", "b.mp3", "x/c.wav", "x/y/d.wav", "x/y/z/e.wav", "w/f.wav"}
	tests := []struct {
		name      string
		poll      bool
		recursive bool
		want      []string
	}{
		{"events recursive", false, true, tree},
		{"polling recursive", true, true, tree},
		{"events top level only", false, false, []string{"a.wav", "b.mp3"}},
		{"polling top level only", true, false, []string{"a.wav", "b.mp3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			makeTree(t, root, tree...)
			h := start(t, Options{Root: root, Recursive: tc.recursive, Poll: tc.poll, Settle: 100 * time.Millisecond})
			h.waitPaths(tc.want...)
			h.sync()
			h.sync()
			want := slices.Sorted(slices.Values(tc.want))
			if got := h.paths(); !slices.Equal(got, want) {
				t.Errorf("sent %v, want each of %v once", got, want)
			}
			for _, f := range h.files() {
				info, err := os.Lstat(f.Abs)
				if err != nil {
					t.Fatal(err)
				}
				if f.Source != "test" || f.Abs != filepath.Join(root, filepath.FromSlash(f.Path)) ||
					f.Size != info.Size() || !f.ModTime.Equal(info.ModTime()) {
					t.Errorf("sent %+v, file is %d bytes at %v", f, info.Size(), info.ModTime())
				}
			}
			wantMode := ModeEvents
			if tc.poll {
				wantMode = ModePolling
			}
			if mode, reason := h.w.Mode(); mode != wantMode {
				t.Errorf("Mode() = %q (%s), want %q", mode, reason, wantMode)
			}
		})
	}
}

// TestFindsNewFolders runs without rescans: only events can find the files.
func TestFindsNewFolders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		make func(t *testing.T, root, staging string)
		want []string
	}{
		{
			name: "folder then file",
			make: func(t *testing.T, root, _ string) {
				if err := os.Mkdir(filepath.Join(root, "new"), 0o755); err != nil {
					t.Fatal(err)
				}
				write(t, filepath.Join(root, "new", "a.wav"), "a")
			},
			want: []string{"new/a.wav"},
		},
		{
			name: "nested folders with files at once",
			make: func(t *testing.T, root, _ string) {
				makeTree(t, root, "p/a.wav", "p/q/b.wav", "p/q/r/c.wav")
			},
			want: []string{"p/a.wav", "p/q/b.wav", "p/q/r/c.wav"},
		},
		{
			name: "folder moved in with its files",
			make: func(t *testing.T, root, staging string) {
				makeTree(t, staging, "batch/a.wav", "batch/sub/b.wav", "batch/sub/deeper/c.wav")
				if err := os.Rename(filepath.Join(staging, "batch"), filepath.Join(root, "batch")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"batch/a.wav", "batch/sub/b.wav", "batch/sub/deeper/c.wav"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			root, staging := filepath.Join(dir, "root"), filepath.Join(dir, "staging")
			for _, d := range []string{root, staging} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			h := start(t, Options{Root: root, Recursive: true, Settle: 100 * time.Millisecond})
			h.sync() // the first scan is done; what follows is found by events
			tc.make(t, root, staging)
			h.waitPaths(tc.want...)
			// A file in a folder that was just watched is found too.
			late := tc.want[len(tc.want)-1]
			late = late[:strings.LastIndex(late, "/")] + "/late.wav"
			write(t, filepath.Join(root, filepath.FromSlash(late)), "late")
			h.waitPaths(late)
			if mode, reason := h.w.Mode(); mode != ModeEvents {
				t.Errorf("Mode() = %q (%s), want %q", mode, reason, ModeEvents)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		want bool
	}{
		{"a.wav", true},
		{"B.WAV", true},
		{"c.Mp3", true},
		{"d.txt", false},
		{"keep/e.txt", true},
		{"keep/deeper/f.txt", false},
		{"sub/g.wav", true},
		{"skip-h.wav", false},
		{"archive/i.wav", false},
		{"sub/archive/j.wav", false},
		{"sub/private/k.wav", false},
		{"sub/private/deeper/l.wav", false}, // the folder matches "sub/private/*"
		{"m.wav.tmp", false},
		{"n.wav.TMP", false},
		{"o.part", false},
		{"p.wav.partial", false},
		{"q.crdownload", false},
		{"r.filepart", false},
		{"~$s.wav", false},
		{".t.wav", false},
		{".hidden/u.wav", false},
		{"v.tmp/w.wav", false},
	}
	root := t.TempDir()
	var want []string
	for _, tc := range tests {
		makeTree(t, root, tc.path)
		if tc.want {
			want = append(want, tc.path)
		}
	}
	slices.Sort(want)
	h := start(t, Options{
		Root:      root,
		Recursive: true,
		Include:   []string{"*.wav", "*.MP3", "keep/*.txt"},
		Exclude:   []string{"*skip*", "archive", "sub/private/*"},
	})
	h.waitPaths(want...)
	h.sync()
	got := h.paths()
	for _, tc := range tests {
		if sent := slices.Contains(got, tc.path); sent != tc.want {
			t.Errorf("%s: sent = %v, want %v", tc.path, sent, tc.want)
		}
	}
}

func TestIgnoredName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"call.wav", false},
		{"call.wav.tmp", true},
		{"CALL.TMP", true},
		{"call.part", true},
		{"call.partial", true},
		{"call.crdownload", true},
		{"call.filepart", true},
		{"~$call.docx", true},
		{".call.wav", true},
		{".git", true},
		{"call.tmp.wav", false},
		{"part", false},
	}
	for _, tc := range tests {
		if got := Ignored(tc.name); got != tc.want {
			t.Errorf("Ignored(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestGrowingFile is not parallel: a writer stalled longer than Settle by a
// busy machine would rightly see its file offered early.
func TestGrowingFile(t *testing.T) {
	root := t.TempDir()
	name := filepath.Join(root, "growing.wav")
	write(t, name, strings.Repeat("x", 100))
	h := start(t, Options{Root: root, Settle: 500 * time.Millisecond})
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range 20 {
		<-tick.C
		appendTo(t, name, strings.Repeat("x", 100))
	}
	const size = 21 * 100
	h.waitFor("growing.wav at its final size", func(got []File) bool {
		return slices.ContainsFunc(got, func(f File) bool { return f.Path == "growing.wav" && f.Size == size })
	})
	h.sync()
	for _, f := range h.files() {
		if f.Path == "growing.wav" && f.Size != size {
			t.Errorf("growing.wav offered at %d bytes, before it settled at %d", f.Size, size)
		}
	}
	if n := count(h.files(), "growing.wav"); n != 1 {
		t.Errorf("growing.wav offered %d times, want once", n)
	}
}

func TestChangedFileOfferedAgain(t *testing.T) {
	t.Parallel()
	for _, poll := range []bool{false, true} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			name := filepath.Join(root, "call.wav")
			write(t, name, "0123456789")
			h := start(t, Options{Root: root, Poll: poll, Settle: 100 * time.Millisecond, RescanInterval: 200 * time.Millisecond})
			h.waitPaths("call.wav")
			appendTo(t, name, "0123456789")
			h.waitFor("call.wav again at 20 bytes", func(got []File) bool {
				return count(got, "call.wav") == 2 && got[len(got)-1].Size == 20
			})
		})
	}
}

// TestPollingFindsNewFiles checks that polling alone, without fsnotify,
// finds files created while it runs.
func TestPollingFindsNewFiles(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	h := start(t, Options{Root: root, Recursive: true, Poll: true, Settle: 50 * time.Millisecond, RescanInterval: 200 * time.Millisecond})
	makeTree(t, root, "a.wav", "d/b.wav")
	h.waitPaths("a.wav", "d/b.wav")
	if mode, reason := h.w.Mode(); mode != ModePolling || !strings.Contains(reason, "configured") {
		t.Errorf("Mode() = %q, %q; want %q, configured", mode, reason, ModePolling)
	}
}

// TestWatchLimitFallback is not parallel: it changes maxWatches.
func TestWatchLimitFallback(t *testing.T) {
	saved := maxWatches
	maxWatches = func() (int, bool) { return 5, true }
	t.Cleanup(func() { maxWatches = saved })

	root := t.TempDir()
	var tree []string
	for i := range 12 {
		tree = append(tree, fmt.Sprintf("d%d/e/call%d.wav", i, i))
	}
	makeTree(t, root, tree...)
	h := start(t, Options{Root: root, Recursive: true, Settle: 50 * time.Millisecond, RescanInterval: 200 * time.Millisecond})
	h.waitPaths(tree...)
	mode, reason := h.w.Mode()
	if mode != ModePolling || !strings.Contains(reason, "max_user_watches") {
		t.Errorf("Mode() = %q, %q; want %q and the reason", mode, reason, ModePolling)
	}
	makeTree(t, root, "d3/later.wav")
	h.waitPaths("d3/later.wav")
	if n := h.logs.count(slog.LevelWarn, "inotify watch limit"); n != 1 {
		t.Errorf("%d warnings about the watch limit, want 1", n)
	}
	if n := h.w.Stats().PollingSwitches; n != 1 {
		t.Errorf("Stats().PollingSwitches = %d, want 1", n)
	}
}

// TestOverflowRescans overflows the inotify queue while the watcher is
// blocked on a slow receiver: the lost events must become one warning and a
// rescan, not missed files. It is not parallel: it looks for the watcher's
// goroutine among all.
func TestOverflowRescans(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skipf("no inotify queue limit to overflow: %v", err)
	}
	var queue int
	if _, err := fmt.Sscan(string(b), &queue); err != nil || queue > 1<<17 {
		t.Skipf("inotify queue of %q events is too long to overflow in a test", b)
	}
	root := t.TempDir()
	makeTree(t, root, "a.wav")
	hold := make(chan struct{})
	h := startHeld(t, Options{Root: root, Recursive: true}, hold)
	// The first scan watches Root, then blocks sending a.wav.
	waitUntil(t, "the watcher blocked in send", func() bool {
		buf := make([]byte, 1<<20)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, "watcher.(*run).send(") {
				return true
			}
		}
		return false
	})

	// Two files written in turn: the kernel merges only repeated identical
	// events, so each write queues one.
	var files [2]*os.File
	for i := range files {
		f, err := os.Create(filepath.Join(root, fmt.Sprintf("busy%d.wav", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	for i := range 2 * queue {
		if _, err := files[i%2].Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
	}
	close(hold)
	h.waitPaths("a.wav", "busy0.wav", "busy1.wav")
	h.waitFor("an overflow warning", func([]File) bool { return h.logs.count(slog.LevelWarn, "overflow") > 0 })
	if n := h.logs.count(slog.LevelWarn, "overflow"); n != 1 {
		t.Errorf("%d overflow warnings, want 1", n)
	}
	// The rescan may still be under way: it sends what it found at the end
	// of each slice of its work.
	waitUntil(t, "an overflow counted and the rescan it forced", func() bool {
		s := h.w.Stats()
		return s.Overflows > 0 && s.Scans >= 2
	})
	if mode, reason := h.w.Mode(); mode != ModeEvents {
		t.Errorf("Mode() = %q (%s), want %q", mode, reason, ModeEvents)
	}
}

func TestIsWatchLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{syscall.ENOSPC, true},
		{fmt.Errorf("add /srv/x: %w", syscall.ENOSPC), true},
		{syscall.EACCES, false},
		{errors.New("no space left on device"), false},
		{nil, false},
	}
	for _, tc := range tests {
		if got := isWatchLimit(tc.err); got != tc.want {
			t.Errorf("isWatchLimit(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestMissingRootAppearsLater(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "share")
	h := start(t, Options{Root: root, Recursive: true})
	// Wait for two failed scans: one warning, then quiet retries.
	h.waitFor("two failed scans", func([]File) bool {
		return h.logs.count(slog.LevelWarn, "root folder unavailable")+h.logs.count(slog.LevelDebug, "root folder unavailable") >= 2
	})
	if p := h.w.Problem(); !strings.Contains(p, "folder unavailable") {
		t.Errorf("Problem() = %q while the root is missing", p)
	}
	makeTree(t, root, "a.wav", "sub/b.wav")
	h.waitPaths("a.wav", "sub/b.wav")
	if p := h.w.Problem(); p != "" {
		t.Errorf("Problem() = %q once the root is back", p)
	}
	if n := h.logs.count(slog.LevelWarn, "root folder unavailable"); n != 1 {
		t.Errorf("%d warnings about the missing root, want 1", n)
	}
	if n := h.logs.count(slog.LevelInfo, "root folder available again"); n != 1 {
		t.Errorf("%d infos about the root coming back, want 1", n)
	}
	// The returned root is watched: a new file is found without a rescan.
	makeTree(t, root, "sub/c.wav")
	h.waitPaths("sub/c.wav")
}

func TestForget(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	makeTree(t, root, "a.wav", "sub/b.wav")
	h := start(t, Options{Root: root, Recursive: true, Settle: 50 * time.Millisecond})
	h.waitPaths("a.wav", "sub/b.wav")
	h.w.Forget("sub/b.wav")
	h.w.Forget("../outside.wav") // not inside Root: ignored
	h.w.Forget("missing.wav")
	h.waitFor("sub/b.wav offered again", func(got []File) bool { return count(got, "sub/b.wav") == 2 })
	h.sync()
	if n := count(h.files(), "a.wav"); n != 1 {
		t.Errorf("a.wav offered %d times, want once", n)
	}
}

func TestSymlinksNotFollowed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	makeTree(t, outside, "secret.wav", "sub/secret2.wav")
	makeTree(t, root, "real.wav", "d/real2.wav")
	symlink := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Skipf("cannot create symbolic links: %v", err)
		}
	}
	symlink(filepath.Join(outside, "secret.wav"), "link.wav")
	symlink(outside, "linkdir")
	symlink(filepath.Join(root, "real.wav"), "d/inside-link.wav")
	h := start(t, Options{Root: root, Recursive: true})
	h.waitPaths("real.wav", "d/real2.wav")
	symlink(filepath.Join(outside, "sub"), "d/late-linkdir")
	symlink(filepath.Join(outside, "secret.wav"), "late.wav")
	h.sync()
	if got, want := h.paths(), []string{"d/real2.wav", "real.wav"}; !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v", got, want)
	}
}

func TestUnreadableFolder(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs POSIX permissions that bind the user")
	}
	root := t.TempDir()
	makeTree(t, root, "a.wav", "locked/b.wav", "open/c.wav")
	locked := filepath.Join(root, "locked")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	h := start(t, Options{Root: root, Recursive: true})
	h.waitPaths("a.wav", "open/c.wav")
	h.sync()
	if n := h.logs.count(slog.LevelWarn, "cannot read folder"); n != 1 {
		t.Errorf("%d warnings about the unreadable folder, want 1", n)
	}
	if p, want := h.w.Problem(), "1 folder unreadable: locked (permission denied)"; p != want {
		t.Errorf("Problem() = %q, want %q", p, want)
	}
	if err := os.Chmod(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	h.w.Rescan()
	h.waitPaths("locked/b.wav")
	waitUntil(t, "Problem() empty", func() bool { return h.w.Problem() == "" })
	if n := h.logs.count(slog.LevelInfo, "folder readable again"); n != 1 {
		t.Errorf("%d infos about the folder coming back, want 1", n)
	}
}

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(1e9, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// TestSettleTime drives the settle clock by hand: a file is offered only
// once observations at least Settle apart agree.
func TestSettleTime(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	makeTree(t, root, "first.wav")
	clock := &fakeClock{}
	logged := make(chan struct{}, 1)
	logs := &logRecorder{t: t, notify: func() {
		select {
		case logged <- struct{}{}:
		default:
		}
	}}
	w, err := New(Options{Name: "test", Root: root, Settle: time.Hour, RescanInterval: time.Hour, Now: clock.now, Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan []File)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})

	var got []string
	// waitScans takes what is sent until n full scans are done. A scan
	// logs "scanned" after sending its batch, so nothing of it is left.
	waitScans := func(n int) {
		t.Helper()
		timeout := time.After(deadline)
		for logs.count(slog.LevelDebug, "scanned") < n {
			select {
			case b := <-out:
				for _, f := range b {
					got = append(got, f.Path)
				}
			case <-logged:
			case <-timeout:
				t.Fatalf("waited %v for scan %d", deadline, n)
			}
		}
	}
	scans := 1
	waitScans(scans) // first.wav seen at 0
	step := func(d time.Duration, want ...string) {
		t.Helper()
		clock.advance(d)
		w.Rescan()
		scans++
		waitScans(scans)
		if !slices.Equal(got, want) {
			t.Fatalf("at %v sent %v, want %v", clock.now(), got, want)
		}
	}
	step(30 * time.Minute)
	makeTree(t, root, "second.wav")
	step(0)                                // second.wav seen at 30m
	step(30*time.Minute - time.Nanosecond) // first.wav not quite settled
	step(time.Nanosecond, "first.wav")
	step(30*time.Minute-time.Nanosecond, "first.wav")
	step(time.Nanosecond, "first.wav", "second.wav")
}

// TestBatchCap is not parallel: it changes maxBatch.
func TestBatchCap(t *testing.T) {
	saved := maxBatch
	maxBatch = 7
	t.Cleanup(func() { maxBatch = saved })

	root := t.TempDir()
	var tree []string
	for i := range 30 {
		tree = append(tree, fmt.Sprintf("d%d/call%d.wav", i%4, i))
	}
	makeTree(t, root, tree...)
	h := start(t, Options{Root: root, Recursive: true})
	h.waitPaths(tree...)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.batches {
		if n > 7 {
			t.Errorf("batch sizes %v, want none above 7", h.batches)
			break
		}
	}
	if len(h.batches) < 30/7 {
		t.Errorf("batch sizes %v, want the scan split", h.batches)
	}
}

// TestRunStops is not parallel: it counts goroutines.
func TestRunStops(t *testing.T) {
	base := runtime.NumGoroutine()
	root := t.TempDir()
	makeTree(t, root, "a.wav", "d/b.wav")
	w, err := New(Options{Name: "test", Root: root, Recursive: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // a stopped watcher can run again
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan []File, 10)
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, out) }()
		select {
		case <-out:
		case <-time.After(deadline):
			t.Fatal("no files sent")
		}
		if err := w.Run(ctx, out); err == nil {
			t.Error("a second concurrent Run returned nil, want an error")
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(deadline):
			t.Fatal("Run did not return after cancel")
		}
	}
	// The fsnotify reader and everything else Run started is gone.
	waitUntil(t, fmt.Sprintf("at most %d goroutines", base), func() bool { return runtime.NumGoroutine() <= base })
}

// waitUntil waits for cond to hold, checking it every millisecond.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	stop := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(stop) {
			buf := make([]byte, 1<<20)
			t.Fatalf("waited %v for %s; goroutines:\n%s", deadline, what, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"valid", Options{Name: "s", Root: abs, Include: []string{"*.wav", "calls/*.mp3"}}, ""},
		{"no name", Options{Root: abs}, "name is empty"},
		{"relative root", Options{Name: "s", Root: "recordings"}, "not an absolute path"},
		{"empty root", Options{Name: "s"}, "not an absolute path"},
		{"negative settle", Options{Name: "s", Root: abs, Settle: -time.Second}, "settle"},
		{"negative rescan", Options{Name: "s", Root: abs, RescanInterval: -time.Second}, "rescan"},
		{"bad include", Options{Name: "s", Root: abs, Include: []string{"[a-"}}, "include"},
		{"bad exclude", Options{Name: "s", Root: abs, Exclude: []string{"x["}}, "exclude"},
		{"backslash", Options{Name: "s", Root: abs, Include: []string{`calls\*.wav`}}, "backslash"},
	}
	for _, tc := range tests {
		w, err := New(tc.opts)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s: New: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: New = %v, %v; want an error containing %q", tc.name, w, err, tc.wantErr)
		}
	}
}

func TestPollInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		settle, rescan, want time.Duration
	}{
		{10 * time.Second, 10 * time.Minute, 10 * time.Second},
		{0, 10 * time.Minute, time.Second},
		{time.Hour, 10 * time.Minute, 10 * time.Minute},
		{time.Second, 200 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tc := range tests {
		w, err := New(Options{Name: "s", Root: t.TempDir(), Settle: tc.settle, RescanInterval: tc.rescan})
		if err != nil {
			t.Fatal(err)
		}
		if got := w.pollInterval(); got != tc.want {
			t.Errorf("settle %v, rescan %v: poll every %v, want %v", tc.settle, tc.rescan, got, tc.want)
		}
	}
}

// TestCallsWithoutRun checks that Rescan and Forget never block.
func TestCallsWithoutRun(t *testing.T) {
	t.Parallel()
	w, err := New(Options{Name: "s", Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		w.Rescan()
		w.Forget("a.wav")
	}
	if mode, _ := w.Mode(); mode != ModeEvents {
		t.Errorf("Mode() = %q, want %q", mode, ModeEvents)
	}
}
