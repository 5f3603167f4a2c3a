package agent_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// With the default retry settings, a burst of transient faults on both
// remotes (presign 503s, S3 SlowDowns with Retry-After: 1, connection
// resets mid-body), all there from the start, leaves every file uploaded
// within a minute: holds do not compound. (Compounding holds took 90 s.)
func TestFaultBurstDefaultRetrySettings(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the default backoffs")
	}
	h := newHarness(t, harnessOptions{defaults: true})
	h.srv.Inject(velatest.Fault{Op: velatest.OpPresign, Status: 503, Times: 5})
	h.srv.Inject(velatest.Fault{Op: velatest.OpUpload, Status: 503, Code: "SlowDown", Message: "Please reduce your request rate.", RetryAfter: time.Second, Times: 3})
	h.srv.Inject(velatest.Fault{Op: velatest.OpUpload, ResetAfter: 20000, Times: 3})
	h.start()
	start := time.Now()
	const n = 12
	for i := 0; i < n; i++ {
		h.write(fmt.Sprintf("d%d/call_%02d.wav", i%2, i), 60_000+i)
	}
	var cleared time.Time
	h.waitFor("every file within 60s of the faults", 60*time.Second, func() bool {
		if cleared.IsZero() && h.srv.FaultsLeft() == 0 {
			cleared = time.Now()
		}
		return h.count("done") >= n
	})
	t.Logf("all %d files done %v after the start, %v after the last fault", n,
		time.Since(start).Round(time.Millisecond), time.Since(cleared).Round(time.Millisecond))
	if left := h.srv.FaultsLeft(); left != 0 {
		t.Errorf("%d faults never met", left)
	}
	h.verify()
	// The figures a /metrics page will read saw it all.
	st := h.agent.Stats()
	if st.Retries[agent.CausePresign] == 0 || st.Retries[agent.CauseUpload] == 0 ||
		st.Pacers["api"].Failures != 5 || st.Pacers["upload"].Failures != 6 || st.Pacers["upload"].RetryAfterHolds == 0 ||
		st.Sources["calls"].Scans == 0 || st.Sources["calls"].Found < n || st.Store.Commits == 0 {
		t.Errorf("stats: %+v", st)
	}
}

// A file whose presign keeps failing (a 500 for that file only) backs off
// by itself: the files around it go at once, never held behind it.
func TestOneFailingFileHoldsNoOther(t *testing.T) {
	if testing.Short() {
		t.Skip("streams files for several seconds")
	}
	h := newHarness(t, harnessOptions{defaults: true})
	h.srv.Inject(velatest.Fault{Op: velatest.OpPresign, File: "bad.wav", Status: 500, Message: "internal", Times: 1000})
	h.start()
	h.write("bad.wav", 5000)
	written := map[string]time.Time{}
	const n = 20
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("ok_%02d.wav", i)
		h.write(name, 5000)
		written[name] = time.Now()
		time.Sleep(400 * time.Millisecond)
	}
	h.waitFor("the healthy files", 30*time.Second, func() bool { return h.count("done") >= n })
	// Each healthy file was presigned within settle plus a little of being
	// written: a hold of the default retry_min (2.5-5s) would show.
	for _, p := range h.srv.Presigns() {
		w, ok := written[p.FileName]
		if !ok {
			t.Errorf("presign for %s", p.FileName)
			continue
		}
		if d := p.Time.Sub(w); d > 2*time.Second {
			t.Errorf("%s presigned %v after it was written: held behind the failing file", p.FileName, d.Round(time.Millisecond))
		}
	}
	if st, _ := h.agent.Status(); st.Counts["parked"] != 0 {
		t.Errorf("parked = %d: a 500 is transient", st.Counts["parked"])
	}
}

// A file that cannot be read is found out before a presign is spent on it,
// tried a few times by itself and then parked with the reason; the others
// are not held up.
func TestUnreadableFileParkedWithoutPresign(t *testing.T) {
	old := *agent.OpenFile
	t.Cleanup(func() { *agent.OpenFile = old })
	*agent.OpenFile = func(root, rel string) (*os.File, error) {
		if path.Base(rel) == "locked.wav" {
			return nil, &fs.PathError{Op: "open", Path: filepath.Join(root, rel), Err: fs.ErrPermission}
		}
		return old(root, rel)
	}
	h := newHarness(t, harnessOptions{})
	h.start()
	h.write("locked.wav", 4000)
	h.write("fine.wav", 4000)
	h.waitFor("one parked, one done", 30*time.Second, func() bool { return h.count("parked") == 1 && h.count("done") == 1 })
	jobs, err := h.agent.Store().List(store.Parked, 0, 10)
	must(t, err)
	if len(jobs) != 1 || !strings.Contains(jobs[0].Reason, "permission denied") || !strings.Contains(jobs[0].Reason, "cannot read the file") {
		t.Fatalf("parked jobs = %+v, want locked.wav with the reason", jobs)
	}
	for _, p := range h.srv.Presigns() {
		if p.FileName == "locked.wav" {
			t.Errorf("a presign was spent on the unreadable file")
		}
	}
}

// after_upload: delete never acts outside the source's tree: a folder
// swapped for a link to elsewhere while the upload ran leaves the file
// there alone, even one of the same size and time.
func TestDeleteNeverFollowsASwappedFolder(t *testing.T) {
	h := newHarness(t, harnessOptions{source: "    after_upload: delete\n"})
	outside := t.TempDir()
	var once sync.Once
	h.srv.SetHook(velatest.OpUpload, func(*http.Request) {
		once.Do(func() {
			sub := filepath.Join(h.in, "sub")
			fi, err := os.Stat(filepath.Join(sub, "a.wav"))
			must(t, err)
			data, err := os.ReadFile(filepath.Join(sub, "a.wav"))
			must(t, err)
			victim := filepath.Join(outside, "a.wav")
			must(t, os.WriteFile(victim, data, 0o644))
			must(t, os.Chtimes(victim, fi.ModTime(), fi.ModTime()))
			must(t, os.Rename(sub, filepath.Join(h.in, "moved-away")))
			must(t, os.Symlink(outside, sub))
		})
	})
	h.start()
	h.write("sub/a.wav", 5000)
	h.waitDone(1)
	if _, err := os.Stat(filepath.Join(outside, "a.wav")); err != nil {
		t.Errorf("the file outside the tree was touched: %v", err)
	}
}

// A pushed file inside a configured source is that source's file: the
// watcher finding it later adds nothing, and it is uploaded once.
func TestPushedFileInsideASourceUploadedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.start()
	h.write("p/x.wav", 6000)
	pushed, err := h.agent.QueueFiles([]string{filepath.Join(h.in, "p", "x.wav")})
	must(t, err)
	h.waitDone(1)
	time.Sleep(2500 * time.Millisecond) // two rescans, and the settle, go by
	h.verify()
	st, err := h.agent.Status()
	must(t, err)
	if total := st.Counts["done"] + st.Counts["queued"] + st.Counts["ready"]; total != 1 || len(pushed) != 1 {
		t.Errorf("jobs %v for one pushed file in the source (pushed %+v)", st.Counts, pushed)
	}
}

// A file swapped for a link to a secret while its job waited is never
// read: the job is skipped, and the secret's bytes never leave.
func TestSymlinkSwapNeverUploadsTheTarget(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	secret := filepath.Join(t.TempDir(), "shadow")
	h.srv.Inject(velatest.Fault{Op: velatest.OpUpload, Status: 503, Times: 1})
	var once sync.Once
	h.srv.SetHook(velatest.OpUpload, func(*http.Request) {
		once.Do(func() {
			p := filepath.Join(h.in, "a.wav")
			fi, err := os.Stat(p)
			must(t, err)
			// The secret has the file's size and time: only the link
			// gives it away.
			must(t, os.WriteFile(secret, bytes.Repeat([]byte("s"), int(fi.Size())), 0o600))
			must(t, os.Chtimes(secret, fi.ModTime(), fi.ModTime()))
			must(t, os.Remove(p))
			must(t, os.Symlink(secret, p))
		})
	})
	h.start()
	h.write("a.wav", 5000)
	h.waitFor("the job to be skipped", 30*time.Second, func() bool { return h.count("skipped") == 1 })
	jobs, err := h.agent.Store().List(store.Skipped, 0, 10)
	must(t, err)
	if len(jobs) != 1 || !strings.Contains(jobs[0].Reason, "symbolic link") {
		t.Errorf("skipped jobs = %+v, want a.wav for the link", jobs)
	}
	if n := len(h.srv.Objects()); n != 0 {
		t.Errorf("%d objects stored: the link's target was uploaded", n)
	}
}

// With ignore_older, a folder that already holds old recordings uploads
// only the recent ones; the old are recorded, skipped with the reason, and
// never uploaded.
func TestIgnoreOlder(t *testing.T) {
	h := newHarness(t, harnessOptions{source: "    ignore_older: 720h\n"})
	old := time.Now().Add(-60 * 24 * time.Hour)
	for i := 0; i < 3; i++ {
		p := filepath.Join(h.in, "archive", fmt.Sprintf("old_%d.wav", i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte("an old call"), 0o644))
		must(t, os.Chtimes(p, old, old))
	}
	h.start()
	h.write("new_0.wav", 3000)
	h.write("new_1.wav", 3000)
	h.waitFor("2 done, 3 skipped", 30*time.Second, func() bool { return h.count("done") == 2 && h.count("skipped") == 3 })
	h.verify()
	for _, p := range h.srv.Presigns() {
		if strings.HasPrefix(p.FileName, "old_") {
			t.Errorf("%s uploaded, though older than ignore_older", p.FileName)
		}
	}
	jobs, err := h.agent.Store().List(store.Skipped, 0, 10)
	must(t, err)
	for _, j := range jobs {
		if !strings.Contains(j.Reason, "ignore_older") {
			t.Errorf("%s skipped for %q", j.Path, j.Reason)
		}
	}
}

// A restart on a tree of files already uploaded hands none of them over
// again: the watcher asks the store (store.Known) about each file it has no
// memory of, and remembers those it knows in a few bytes.
func TestRestartOffersNothingKnown(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	for i := range 120 {
		h.write(fmt.Sprintf("d%d/%03d.wav", i%4, i), 2000)
	}
	h.start()
	h.waitDone(120)
	h.stop()
	h.start()
	h.write("new.wav", 2000)
	h.waitDone(121)
	st := h.agent.Stats().Sources["calls"]
	if st.Known != 120 || st.Found != 1 {
		t.Errorf("after the restart: %d files known, %d handed over; want 120 known and only the new one handed over", st.Known, st.Found)
	}
	h.verify()
}

// A state file that became mostly free space (here 70 MiB of jobs with
// large metadata, then pruned) is compacted when the agent starts.
func TestStateFileCompactedAtStart(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	st, err := store.Open(filepath.Join(h.state, "queue.db"), store.Options{})
	must(t, err)
	big, err := json.Marshal(map[string]string{"notes": strings.Repeat("x", 1<<20)})
	must(t, err)
	var fs []store.Found
	for i := range 70 {
		fs = append(fs, store.Found{Source: "calls", Path: fmt.Sprintf("gone_%02d.wav", i), Size: 1000, ModTime: time.Now().Add(-time.Hour), Kind: store.Call})
	}
	_, err = st.Add(fs)
	must(t, err)
	for range fs {
		j, err := st.Claim(store.LaneCalls)
		must(t, err)
		j.Meta = big
		for _, s := range []store.State{store.Ready, store.Uploaded, store.Done} {
			j.State = s
			must(t, st.Save(j))
		}
		must(t, st.Release(j))
	}
	n, err := st.Prune(time.Now().Add(time.Hour))
	must(t, err)
	if n != 70 {
		t.Fatalf("pruned %d jobs, want 70", n)
	}
	fi, err := os.Stat(st.Path())
	must(t, err)
	must(t, st.Close())

	h.start()
	h.waitFor("the state file compacted", 30*time.Second, func() bool { return strings.Contains(h.logged(), `msg="state file compacted"`) })
	after, err := os.Stat(filepath.Join(h.state, "queue.db"))
	must(t, err)
	if after.Size() >= fi.Size()/4 {
		t.Errorf("queue.db is %d bytes after compaction, %d before", after.Size(), fi.Size())
	}
	h.write("after.wav", 3000)
	h.waitDone(1)
	h.verify()
}
