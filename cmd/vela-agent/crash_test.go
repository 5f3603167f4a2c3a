package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	crand "crypto/rand"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// TestCrashResume kills a real agent process with SIGKILL at random moments
// during a 300-file sync. Afterwards every file must be in S3, intact, and
// no file may have been uploaded again after its upload was confirmed.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts a process 20 times")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX signals")
	}
	srv, err := velatest.Start(velatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	token := filepath.Join(dir, "refresh_token")
	stateDir := filepath.Join(dir, "state")
	if err := os.WriteFile(token, []byte(srv.RefreshToken()), 0o600); err != nil {
		t.Fatal(err)
	}
	const n = 300
	want := map[string]string{} // file name -> sha256
	for i := 0; i < n; i++ {
		data := make([]byte, 32<<10+mrand(900<<10))
		crand.Read(data)
		name := fmt.Sprintf("call_%03d.wav", i)
		p := filepath.Join(in, fmt.Sprintf("d%d", i%7), name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		want[name] = hex.EncodeToString(sum[:])
	}
	cfg := filepath.Join(dir, "vela-agent.yaml")
	conf := fmt.Sprintf(`api:
  base_url: %s
  org_id: org-test
  refresh_token_file: %s
  timeout: 2s
state_dir: %s
sources:
  - name: calls
    path: %s
    settle: 200ms
    rescan_interval: 1s
upload:
  concurrency: 4
  bandwidth_limit: 20MB
  retry_min: 50ms
  retry_max: 500ms
status:
  listen: ""
`, srv.URL(), token, stateDir, in)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(binary, "run", "-c", cfg)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	const kills = 20
	for k := 0; k < kills; k++ {
		cmd := start()
		time.Sleep(time.Duration(150+mrand(500)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
	}

	// Let a last run finish the sync.
	cmd := start()
	deadline := time.Now().Add(2 * time.Minute)
	for uploadedFiles(srv) < n && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("final run exited with %v", err)
	}

	// Every file is in S3, byte-identical.
	objects := map[string]velatest.Object{}
	for _, o := range srv.Objects() {
		objects[o.Key] = o
	}
	uploads := map[string]int{}
	for _, p := range srv.Presigns() {
		o, ok := objects[p.Key]
		if !ok {
			continue
		}
		if o.SHA256 != want[p.FileName] {
			t.Errorf("%s: stored bytes differ from the file", p.FileName)
		}
		uploads[p.FileName] += o.Uploads
	}
	dups := 0
	for name := range want {
		switch u := uploads[name]; {
		case u == 0:
			t.Errorf("%s: never uploaded", name)
		case u > 1:
			dups++
			t.Logf("%s: uploaded %d times", name, u)
		}
	}
	// A duplicate is possible only for a kill between the storage's reply
	// and the store's commit of it (documented); at most one per upload in
	// flight at a kill.
	if dups > kills*4 {
		t.Errorf("%d files uploaded more than once", dups)
	}

	// The queue agrees: all done.
	s, err := store.Open(filepath.Join(stateDir, "queue.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counts, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.Done] != n {
		t.Errorf("done jobs = %d, want %d (counts %v)", counts[store.Done], n, counts)
	}

	presigns, attempts := srv.Count(velatest.OpPresign), srv.Count(velatest.OpUpload)
	t.Logf("%d kills: %d presigns, %d upload attempts, %d duplicate uploads", kills, presigns, attempts, dups)
	if presigns > n+kills*4 {
		t.Errorf("%d presigns for %d files: presigns were not reused", presigns, n)
	}
	if attempts <= presigns {
		t.Errorf("%d upload attempts with %d presigns: no interrupted upload resumed with its stored presign", attempts, presigns)
	}
	if t.Failed() {
		out, _ := os.ReadFile(logf.Name())
		t.Logf("agent log (tail):\n%s", tail(string(out), 4000))
	}
}

// uploadedFiles counts distinct file names stored at least once.
func uploadedFiles(srv *velatest.Server) int {
	stored := map[string]bool{}
	for _, o := range srv.Objects() {
		if o.Uploads > 0 {
			stored[path.Base(o.Key)] = true
		}
	}
	return len(stored)
}

func mrand(n int) int { return rand.IntN(n) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
