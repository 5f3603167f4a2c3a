package main

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

func TestStateCompact(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("compacting is not supported on Windows")
	}
	e := newEnv(t, velatest.Options{})
	e.fillState(t, 300)
	// A leftover copy of an earlier compaction that did not finish.
	if err := os.WriteFile(e.stateFile()+".compact", []byte("half a copy"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out := run(t, "state", "compact", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "compacted "+e.stateFile()+" in ") ||
		!strings.Contains(out, "before: ") || !strings.Contains(out, "after: ") {
		t.Fatalf("state compact: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(e.stateFile() + ".compact"); !os.IsNotExist(err) {
		t.Errorf("a copy is left after state compact: %v", err)
	}
	if code, out := run(t, "state", "check", "-c", e.cfg); code != 0 || !strings.Contains(out, "OK (300 jobs)") {
		t.Errorf("state check after compact: exit %d:\n%s", code, out)
	}

	// While an agent has the file, compact says to stop it and changes
	// nothing.
	s, err := store.Open(e.stateFile(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before, _ := os.ReadFile(e.stateFile())
	code, out = run(t, "state", "compact", "-c", e.cfg)
	if code == 0 || !strings.Contains(out, "in use by another vela-agent process (stop it first") {
		t.Errorf("state compact of a file in use: exit %d:\n%s", code, out)
	}
	if now, _ := os.ReadFile(e.stateFile()); string(now) != string(before) {
		t.Error("state compact of a file in use changed it")
	}
}
