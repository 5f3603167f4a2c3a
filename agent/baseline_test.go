package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// Baseline records the files present as handled: the agent then uploads
// only the files that come after, and a changed file as a new version.
func TestBaseline(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	const n = 3000
	wav := audiotest.WAV(100, 1)
	for i := range n {
		p := filepath.Join(h.in, fmt.Sprintf("y%d", i%30), fmt.Sprintf("old_%04d.wav", i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, wav, 0o644))
	}
	must(t, os.WriteFile(filepath.Join(h.in, "notes.txt"), []byte("not included"), 0o644))
	cfg, err := config.Load(h.cfgFile)
	must(t, err)
	q, err := agent.OpenQueue(agent.StateFile(cfg), agent.QueueOptions{})
	must(t, err)
	rep, err := q.Baseline(cfg, "calls", nil)
	must(t, err)
	if rep.Files != n || rep.Added != n || rep.Known != 0 {
		t.Errorf("baseline: %+v, want %d files, all added", rep, n)
	}
	again, err := q.Baseline(cfg, "calls", nil)
	must(t, err)
	if again.Added != 0 || again.Known != n {
		t.Errorf("second baseline: %+v, want every file known", again)
	}
	if _, err := q.Baseline(cfg, "nosuch", nil); err == nil {
		t.Error("baseline of an unknown source succeeded")
	}
	must(t, q.Close())

	h.start()
	h.write("new/fresh.wav", 4000)
	changed := filepath.Join(h.in, "y0", "old_0000.wav")
	must(t, os.WriteFile(changed, audiotest.WAV(200, 2), 0o644))
	must(t, os.Chtimes(changed, time.Now(), time.Now()))
	h.waitDone(2)
	scans := func() uint64 {
		st, err := h.agent.Status()
		must(t, err)
		return st.Sources[0].Scans
	}
	after := scans()
	h.waitFor("two more full scans", 20*time.Second, func() bool { return scans() >= after+2 }) // nothing else may come of them
	if n := h.count("queued") + h.count("ready") + h.count("presigned"); n != 0 {
		t.Errorf("%d jobs on their way after the rescans, want none", n)
	}
	var names []string
	for _, p := range h.srv.Presigns() {
		names = append(names, p.FileName)
	}
	if len(names) != 2 {
		t.Errorf("presigned %v, want fresh.wav and the changed old_0000.wav only", names)
	}
	if got := h.count("skipped"); got != n {
		t.Errorf("%d jobs skipped, want the %d baselined", got, n)
	}
}
