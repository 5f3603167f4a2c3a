package agent_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// mountTmpfs mounts a tmpfs of size bytes at dir for the test. It needs
// root; without it the test is skipped, except under CI, where it fails.
func mountTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a tmpfs at %s (needs root): %v", dir, err)
		}
		t.Skipf("cannot mount a tmpfs to fill (run as root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fill writes to a file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return p
		}
	}
}

// With the state file on a full disk, uploads the storage confirmed are
// kept in memory and recorded once there is space again: none is sent
// twice, status names the problem while it lasts and clears it after.
// (A nearly full disk fails only the commits that need new pages, so
// commits fail and land by turns; every upload must still go once.)
func TestStateDiskFull(t *testing.T) {
	if _, err := exec.LookPath("mount"); err != nil && os.Getuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	old := *agent.ProblemLinger
	*agent.ProblemLinger = 2 * time.Second
	t.Cleanup(func() { *agent.ProblemLinger = old })
	h := newHarness(t, harnessOptions{})
	mountTmpfs(t, h.state, 2<<20)
	h.start()
	for i := 0; i < 5; i++ {
		h.write(fmt.Sprintf("before_%02d.wav", i), 20_000)
	}
	h.waitDone(5)

	filler := fill(t, h.state)
	// A few files first: their jobs may fit in the file's free pages and
	// their uploads' commits fail. Then a batch too large for that.
	const during = 40
	for i := 0; i < during; i++ {
		h.write(fmt.Sprintf("during_%02d.wav", i), 20_000)
		if i == 9 {
			time.Sleep(2 * time.Second)
		}
	}
	h.waitFor("the state problem in status", 30*time.Second, func() bool {
		st, err := h.agent.Status()
		return err == nil && hasProblem(st.Problems, "cannot write the state file")
	})
	time.Sleep(3 * time.Second) // retries run meanwhile: none may upload again
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	h.waitDone(5 + during)
	h.verify()
	h.waitFor("the problem to clear", 10*time.Second, func() bool {
		st, err := h.agent.Status()
		return err == nil && !hasProblem(st.Problems, "state file")
	})
}

// A spool with no room for a download makes it wait, shown on its source,
// without failing the job; it goes by itself once the downloads before it
// are uploaded and their copies removed.
func TestSpoolFullWaitsForRoom(t *testing.T) {
	oldReserve, oldRecheck := *agent.SpoolReserve, *agent.SpoolRecheck
	*agent.SpoolReserve, *agent.SpoolRecheck = 0, 200*time.Millisecond
	t.Cleanup(func() { *agent.SpoolReserve, *agent.SpoolRecheck = oldReserve, oldRecheck })
	root := t.TempDir()
	addr, password := startFTP(t, root)
	pwFile := filepath.Join(t.TempDir(), "pbx.pass")
	must(t, os.WriteFile(pwFile, []byte(password), 0o600))
	h := newHarness(t, harnessOptions{upload: "  bandwidth_limit: 2MB\n"})
	mountTmpfs(t, filepath.Join(h.state, "spool"), 1600<<10)
	b, err := os.ReadFile(h.cfgFile)
	must(t, err)
	src := fmt.Sprintf("  - name: pbx\n    type: ftp\n    url: ftp://rec@%s/calls\n    password_file: %s\n    settle: 300ms\n    poll_interval: 200ms\n    timeout: 5s\n", addr, pwFile)
	must(t, os.WriteFile(h.cfgFile, []byte(strings.Replace(string(b), "upload:\n", src+"upload:\n", 1)), 0o600))
	for i := 0; i < 3; i++ {
		rel := fmt.Sprintf("calls/big_%d.wav", i)
		data := audiotest.Stamp([]byte(strings.Repeat(fmt.Sprintf("%d", i), 700<<10)))
		p := filepath.Join(root, filepath.FromSlash(rel))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, 0o644))
		h.mu.Lock()
		h.files[rel] = data
		h.mu.Unlock()
	}
	h.start()
	h.waitFor("the spool problem on the source", 30*time.Second, func() bool {
		st, err := h.agent.Status()
		return err == nil && hasProblem(st.Problems, "the spool")
	})
	h.waitDone(3)
	h.verify()
	if got := h.count("parked"); got != 0 {
		t.Errorf("parked = %d: a full spool is not the job's fault", got)
	}
}
