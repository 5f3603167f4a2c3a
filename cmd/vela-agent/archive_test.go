package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

var archiveFiles = flag.Int("archive.files", 10_001, "old recordings in the tree of TestArchiveInstall (make test-long: 100,000)")

// TestArchiveInstall: installing on a tree that already holds years of
// recordings (10,001 by default, 100,000 in make test-long) uploads none of them by surprise:
// ignore_older records the old ones without uploading them, `vela-agent
// baseline` marks everything present as handled, and without either a new
// install says, before its first upload, how many files and minutes it is
// about to send. Each count is logged and checked.
func TestArchiveInstall(t *testing.T) {
	n := *archiveFiles
	tree := t.TempDir()
	old := time.Now().Add(-60 * 24 * time.Hour)
	wav := audiotest.WAV(audiotest.HeaderLen+16000, 1) // one second
	for i := range n {
		p := filepath.Join(tree, fmt.Sprintf("%04d", i%100), fmt.Sprintf("call_%06d.wav", i))
		if i < 100 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(p, wav, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	addNew := func(prefix string) {
		for i := range 20 {
			p := filepath.Join(tree, "new", fmt.Sprintf("%s_%02d.wav", prefix, i))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, audiotest.WAV(3000+i, byte(i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	addNew("a")
	source := "  - name: calls\n    path: " + tree + "\n    settle: 200ms\n    rescan_interval: 1m\n"

	waitCounts := func(addr string, want map[string]int) bool {
		for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			st, err := fetchStatus(context.Background(), "http://"+addr+"/status")
			if err != nil {
				continue
			}
			ok := true
			for k, v := range want {
				ok = ok && st.Counts[k] == v
			}
			if ok {
				return true
			}
		}
		return false
	}
	logged := func(cfg string) string {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), "agent.log"))
		return string(b)
	}

	t.Run("ignore_older", func(t *testing.T) {
		srv, dir, token := startEmulator(t)
		addr := freeAddr(t)
		cfg := writeCrashConfig(t, dir, srv.URL(), token, filepath.Join(dir, "state"), source+"    ignore_older: 720h\n", "", addr)
		cmd := agentRunner(t, cfg)()
		ok := waitCounts(addr, map[string]int{"done": 20, "skipped": n})
		stopAgent(t, cmd)
		if !ok {
			t.Fatalf("not 20 done and %d skipped", n)
		}
		if got := len(srv.Objects()); got != 20 {
			t.Errorf("%d objects stored, want the 20 new recordings", got)
		}
		if got := sumLogged(logged(cfg), `msg="recorded without uploading: older than ignore_older" source=calls files=(\d+)`); got != n {
			t.Errorf("the log counts %d files recorded without uploading, want %d", got, n)
		}
		if strings.Contains(logged(cfg), "new install:") {
			t.Error("a new-install notice, though only 20 files were queued")
		}
	})

	t.Run("baseline", func(t *testing.T) {
		srv, dir, token := startEmulator(t)
		addr := freeAddr(t)
		cfg := writeCrashConfig(t, dir, srv.URL(), token, filepath.Join(dir, "state"), source, "", addr)
		code, out := run(t, "baseline", "calls", "-c", cfg)
		if want := fmt.Sprintf("source calls: %d files recorded as handled, not to be uploaded (%d new, 0 already known)", n+20, n+20); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("baseline: exit %d, %q; want %q", code, out, want)
		}
		addNew("b")
		cmd := agentRunner(t, cfg)()
		ok := waitCounts(addr, map[string]int{"done": 20})
		stopAgent(t, cmd)
		if !ok {
			t.Fatal("the 20 files added after the baseline were not uploaded")
		}
		for _, o := range srv.Objects() {
			if !strings.Contains(o.Key, "/b_") {
				t.Errorf("%s uploaded, though present at the baseline", o.Key)
			}
		}
		if got := len(srv.Objects()); got != 20 {
			t.Errorf("%d objects stored, want 20", got)
		}
	})

	t.Run("notice", func(t *testing.T) {
		srv, dir, token := startEmulator(t)
		srv.SetAllocation(0) // nothing is uploaded: the notice is what is checked
		addr := freeAddr(t)
		cfg := writeCrashConfig(t, dir, srv.URL(), token, filepath.Join(dir, "state"), source, "", addr)
		cmd := agentRunner(t, cfg)()
		want := fmt.Sprintf("new install: %d files already in the watched folders are queued for upload", n+40)
		deadline := time.Now().Add(3 * time.Minute)
		for !strings.Contains(logged(cfg), want) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		stopAgent(t, cmd)
		log := logged(cfg)
		at := strings.Index(log, want)
		if at < 0 {
			t.Fatalf("no %q in the log", want)
		}
		line := log[at:]
		line = line[:strings.IndexByte(line, '\n')]
		// n one-second calls and 40 short ones; the estimate scales the
		// sampled calls' seconds per byte to all of them.
		m := regexp.MustCompile(`minutes=(\d+)`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("notice without minutes: %s", line)
		}
		minutes, _ := strconv.Atoi(m[1])
		if exact := float64(n) / 60; float64(minutes) < exact*0.8 || float64(minutes) > exact*1.25 {
			t.Errorf("notice says %d minutes, want about %.0f: %s", minutes, exact, line)
		}
		if up := strings.Index(log, "msg=uploaded"); up >= 0 && up < at {
			t.Error("an upload was logged before the notice")
		}
	})
}

// sumLogged adds up the first group of pattern over every line of log.
func sumLogged(log, pattern string) int {
	sum := 0
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(log, -1) {
		k, _ := strconv.Atoi(m[1])
		sum += k
	}
	return sum
}

// stopAgent stops an agent started by agentRunner and waits for it.
func stopAgent(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("the agent exited with %v", err)
	}
}
