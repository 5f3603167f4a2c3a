package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// reload writes the harness's configuration with edit applied and puts it
// in force in the running agent.
func (h *harness) reload(edit func(string) string) {
	h.t.Helper()
	b, err := os.ReadFile(h.cfgFile)
	must(h.t, err)
	p := filepath.Join(filepath.Dir(h.cfgFile), fmt.Sprintf("reload-%d.yaml", time.Now().UnixNano()))
	must(h.t, os.WriteFile(p, []byte(edit(string(b))), 0o600))
	cfg, err := config.Load(p)
	must(h.t, err)
	restart, err := h.agent.Reload(cfg)
	must(h.t, err)
	if len(restart) != 0 {
		h.t.Fatalf("reload wants a restart for %v", restart)
	}
	must(h.t, os.WriteFile(h.cfgFile, []byte(edit(string(b))), 0o600))
}

// A running agent takes a new configuration with uploads in flight: a
// source added, a bandwidth limit and the worker count changed, a source
// removed while it has jobs queued (kept, then uploaded when it is back).
// Nothing is lost, nothing is uploaded twice.
func TestReloadWhileUploading(t *testing.T) {
	old := *agent.OrphanRecheck
	*agent.OrphanRecheck = 200 * time.Millisecond
	t.Cleanup(func() { *agent.OrphanRecheck = old })
	h := newHarness(t, harnessOptions{upload: "  bandwidth_limit: 1MB\n"})
	more := filepath.Join(filepath.Dir(h.in), "more")
	must(t, os.MkdirAll(more, 0o755))
	h.start()
	for i := 0; i < 6; i++ {
		h.write(fmt.Sprintf("calls_%02d.wav", i), 300_000)
	}
	h.waitFor("uploads in flight", 20*time.Second, func() bool {
		st, _ := h.agent.Status()
		return st != nil && len(st.Active) > 0
	})

	// Add a source, lift the limit, halve the workers: mid-upload.
	withMore := func(s string) string {
		return strings.Replace(s, "upload:\n", "  - name: more\n    path: "+more+"\n    settle: 300ms\n    rescan_interval: 1s\nupload:\n", 1)
	}
	h.reload(func(s string) string {
		s = withMore(s)
		s = strings.Replace(s, "bandwidth_limit: 1MB", "bandwidth_limit: 50MB", 1)
		return strings.Replace(s, "concurrency: 4", "concurrency: 2", 1)
	})
	if got := h.agent.BandwidthLimit(); got != 50_000_000 {
		t.Errorf("bandwidth limit after reload = %d, want 50000000", got)
	}
	h.waitFor("two workers", 20*time.Second, func() bool { want, live := h.agent.Workers(); return want == 2 && live == 2 })
	writeMore := func(name string) {
		data := audiotest.Stamp([]byte(strings.Repeat(name, 1000)))
		must(t, os.WriteFile(filepath.Join(more, name), data, 0o644))
		h.mu.Lock()
		h.files["more/"+name] = data // verify looks files up by base name
		h.mu.Unlock()
	}
	for i := 0; i < 4; i++ {
		writeMore(fmt.Sprintf("more_%02d.wav", i))
	}
	h.waitDone(10)

	// Jobs of "more" that cannot go yet, then the source removed: they
	// stay queued and are reported, not parked.
	h.srv.Inject(velatest.Fault{Op: velatest.OpPresign, File: "late_00.wav", Status: 503, Times: 1000})
	h.srv.Inject(velatest.Fault{Op: velatest.OpPresign, File: "late_01.wav", Status: 503, Times: 1000})
	writeMore("late_00.wav")
	writeMore("late_01.wav")
	h.waitFor("the late files queued", 20*time.Second, func() bool {
		st, _ := h.agent.Status()
		return st != nil && st.Counts["queued"]+st.Counts["ready"] == 2
	})
	h.reload(func(s string) string {
		i := strings.Index(s, "  - name: more\n")
		j := strings.Index(s, "upload:\n")
		return s[:i] + s[j:]
	})
	h.srv.ClearFaults()
	h.waitFor("the removed source's jobs reported", 20*time.Second, func() bool {
		st, _ := h.agent.Status()
		for _, e := range st.Recent {
			if strings.Contains(e.Error, `source "more" is no longer in the configuration`) {
				return true
			}
		}
		return false
	})
	if got := h.count("parked"); got != 0 {
		t.Errorf("parked = %d: a removed source's jobs are kept", got)
	}
	if got := h.count("done"); got != 10 {
		t.Errorf("done = %d while the source is removed, want 10", got)
	}

	// The source is back: its jobs go.
	h.reload(withMore)
	h.waitDone(12)
	h.verify()
}

// The configuration file of a running agent is edited three times: a new
// folder is picked up and its file uploaded; an invalid edit is refused,
// with its file:line:key problem in status, and uploads go on; a removed
// source stops being watched. The queue is intact throughout.
func TestConfigFileEditedWhileRunning(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	more := filepath.Join(filepath.Dir(h.in), "more")
	must(t, os.MkdirAll(more, 0o755))
	orig, err := os.ReadFile(h.cfgFile)
	must(t, err)
	edit := func(s string) {
		// As an editor saves: a new file renamed over the old one.
		tmp := h.cfgFile + ".swp"
		must(t, os.WriteFile(tmp, []byte(s), 0o600))
		must(t, os.Rename(tmp, h.cfgFile))
	}
	withMore := strings.Replace(string(orig), "upload:\n", "  - name: more\n    path: "+more+"\n    settle: 300ms\n    rescan_interval: 1s\nupload:\n", 1)
	writeMore := func(name string) {
		data := audiotest.Stamp([]byte(strings.Repeat(name, 500)))
		must(t, os.WriteFile(filepath.Join(more, name), data, 0o644))
		h.mu.Lock()
		h.files["more/"+name] = data
		h.mu.Unlock()
	}
	h.start()
	h.write("first.wav", 4000)
	h.waitDone(1)

	edit(withMore)
	h.waitFor("the new source", 20*time.Second, func() bool {
		st, _ := h.agent.Status()
		return st != nil && len(st.Sources) == 2
	})
	writeMore("picked_up.wav")
	h.waitDone(2)

	edit(strings.Replace(withMore, "concurrency: 4", "concurrency: -1", 1))
	h.waitFor("the refusal in status", 20*time.Second, func() bool {
		st, _ := h.agent.Status()
		return st != nil && hasProblem(st.Problems, "upload.concurrency")
	})
	h.write("during_refusal.wav", 4000)
	h.waitDone(3)

	edit(string(orig))
	h.waitFor("the source removed and the problem gone", 20*time.Second, func() bool {
		st, _ := h.agent.Status()
		return st != nil && len(st.Sources) == 1 && !hasProblem(st.Problems, "configuration")
	})
	must(t, os.WriteFile(filepath.Join(more, "unwatched.wav"), []byte("not uploaded"), 0o644))
	time.Sleep(2 * time.Second) // settle and a rescan of a watched folder would have taken it
	if st, _ := h.agent.Status(); st.Counts["queued"]+st.Counts["ready"]+st.Counts["done"] != 3 {
		t.Errorf("counts %v: a file in a removed source's folder was taken", st.Counts)
	}
	h.verify()
}
