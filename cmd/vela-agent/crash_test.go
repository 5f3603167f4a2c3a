package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	crand "crypto/rand"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// The crash test's scale: `make test` runs the scale the guarantee is
// claimed at (1,000 files, 50 kills); `make test-long` a larger one.
var (
	crashFiles = flag.Int("crash.files", 1000, "files in TestCrashResume")
	crashKills = flag.Int("crash.kills", 50, "kills in TestCrashResume")
	crashDisk  = flag.Duration("crash.slowdisk", 0, "longest wait before each commit in TestCrashResume (a slow disk)")
)

// TestCrashResume kills a real agent process with SIGKILL at random moments
// during a sync. Afterwards every file must be in S3, intact, under one
// object key; no file may have been uploaded again after its upload was
// confirmed; and repeats to the same key and extra presigns stay within
// one per kill on average.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: kills and restarts a process many times")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX signals")
	}
	srv, dir, token := startEmulator(t)
	in := filepath.Join(dir, "in")
	stateDir := filepath.Join(dir, "state")
	n, kills := *crashFiles, *crashKills
	want := map[string]string{} // file name -> sha256
	for i := 0; i < n; i++ {
		data := make([]byte, 16<<10+mrand(400<<10))
		crand.Read(data)
		audiotest.Stamp(data)
		name := fmt.Sprintf("call_%04d.wav", i)
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
	statusAddr := freeAddr(t)
	cfg := writeCrashConfig(t, dir, srv.URL(), token, stateDir, localSource(in), "  concurrency: 4\n  bandwidth_limit: 20MB\n", statusAddr)

	var env []string
	if *crashDisk > 0 {
		env = append(env, "VELA_TEST_SLOW_DISK="+crashDisk.String())
	}
	start := agentRunner(t, cfg, env...)

	// committed maps each file whose upload the store had recorded after a
	// kill to how often the storage had it then: it must never grow.
	committed := map[string]int{}
	for k := 0; k < kills; k++ {
		cmd := start()
		time.Sleep(time.Duration(150+mrand(500)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		stored := uploadsByFile(srv)
		for _, name := range recordedUploads(t, filepath.Join(stateDir, "queue.db")) {
			if _, ok := committed[name]; !ok {
				committed[name] = stored[name]
			}
		}
	}

	// Let a last run finish the sync, as its status page reports.
	finishRun(t, start(), statusAddr, n, 3*time.Minute)

	checkNotGrown(t, srv, committed)

	// Every file is in S3, byte-identical.
	twoKeys, repeats := checkStored(t, srv, want, nil)
	// A repeat is possible only for a kill between the storage keeping the
	// file and the store's commit of its reply (documented), so at most
	// upload.concurrency per kill; it goes to the same key, with the
	// stored presign. On this machine's disk commits are quick and repeats
	// rare: at most one per kill on average. On a slow disk (-crash.slowdisk)
	// they grow with the commit's latency, never past the bound.
	perKill := 1
	if *crashDisk > 0 {
		perKill = 4 // upload.concurrency
	}
	if repeats > perKill*kills {
		t.Errorf("%d repeated uploads for %d kills, want at most %d per kill on average", repeats, kills, perKill)
	}

	// The queue agrees: all done.
	wantDone(t, filepath.Join(stateDir, "queue.db"), n)

	presigns, attempts := srv.Count(velatest.OpPresign), srv.Count(velatest.OpUpload)
	t.Logf("%d files, %d kills: %d presigns (%d extra), %d upload attempts, %d files under two keys, %d same-key repeats",
		n, kills, presigns, presigns-n, attempts, twoKeys, repeats)
	if presigns-n > perKill*kills {
		t.Errorf("%d presigns for %d files: %d extra, want at most %d per kill on average", presigns, n, presigns-n, perKill)
	}
	if attempts <= presigns {
		t.Errorf("%d upload attempts with %d presigns: no interrupted upload resumed with its stored presign", attempts, presigns)
	}
}

// writeCrashConfig writes the configuration of the kill tests into dir:
// the source (YAML of one item of sources, indented as such), the upload
// lines (indented, such as the concurrency and a bandwidth limit that makes
// kills land mid-way), quick retries, the status page at statusAddr. It
// returns the file's path.
func writeCrashConfig(t *testing.T, dir, url, token, stateDir, source, upload, statusAddr string) string {
	t.Helper()
	cfg := filepath.Join(dir, "vela-agent.yaml")
	conf := fmt.Sprintf(`api:
  base_url: %s
  org_id: org-test
  refresh_token_file: %s
  timeout: 2s
state_dir: %s
sources:
%supload:
%s  retry_min: 50ms
  retry_max: 500ms
status:
  listen: %s
`, url, token, stateDir, source, upload, statusAddr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// localSource is the source of the kill tests of local folders.
func localSource(in string) string {
	return "  - name: calls\n    path: " + in + "\n    settle: 200ms\n    rescan_interval: 1s\n"
}

// agentRunner returns a function that starts `vela-agent run -c cfg` with env
// added, logging to agent.log beside cfg, whose tail the test shows if it
// fails.
func agentRunner(t *testing.T, cfg string, env ...string) func() *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(filepath.Dir(cfg), "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := os.ReadFile(logf.Name())
			t.Logf("agent log (tail):\n%s", tail(string(out), 4000))
		}
		logf.Close()
	})
	return func() *exec.Cmd {
		cmd := exec.Command(binary, "run", "-c", cfg)
		if len(env) > 0 {
			cmd.Env = append(os.Environ(), env...)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
}

// startEmulator starts the in-process Vela emulator for the test and
// writes its refresh token into a new folder, dir.
func startEmulator(t *testing.T) (srv *velatest.Server, dir, token string) {
	t.Helper()
	srv, err := velatest.Start(velatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir = t.TempDir()
	token = filepath.Join(dir, "refresh_token")
	if err := os.WriteFile(token, []byte(srv.RefreshToken()), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, dir, token
}

// finishRun waits until the agent cmd's status page reports n jobs done,
// or timeout, then stops it with SIGTERM. It reports whether all were done.
func finishRun(t *testing.T, cmd *exec.Cmd, statusAddr string, n int, timeout time.Duration) bool {
	t.Helper()
	finished := false
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		st, err := fetchStatus(context.Background(), "http://"+statusAddr+"/status")
		if err == nil && st.Counts["done"] == n {
			finished = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("the agent exited with %v", err)
	}
	return finished
}

// checkStored checks that every file of want (name -> SHA-256) is stored,
// byte-identical, under one object key, with date_of_call dated[name] when
// dated is not nil. It returns how many files were under two keys and how
// many uploads repeated one to its own key.
func checkStored(t *testing.T, srv *velatest.Server, want, dated map[string]string) (twoKeys, repeats int) {
	t.Helper()
	objects := map[string]velatest.Object{}
	for _, o := range srv.Objects() {
		objects[o.Key] = o
	}
	uploads := map[string]int{} // file name -> successful POSTs, over all its keys
	keys := map[string]int{}    // file name -> object keys stored
	for _, p := range srv.Presigns() {
		o, ok := objects[p.Key]
		if !ok {
			continue
		}
		if o.SHA256 != want[p.FileName] {
			t.Errorf("%s: stored bytes differ from the file", p.FileName)
		}
		if dated != nil {
			if got := p.Metadata["date_of_call"]; got != dated[p.FileName] {
				t.Errorf("%s: date_of_call %v, want the server's time %q", p.FileName, got, dated[p.FileName])
			}
		}
		uploads[p.FileName] += o.Uploads
		keys[p.FileName]++
	}
	for name := range want {
		switch u := uploads[name]; {
		case u == 0:
			t.Errorf("%s: never uploaded", name)
		case keys[name] > 1:
			twoKeys++
			t.Errorf("%s: stored under %d object keys (%d uploads)", name, keys[name], u)
		case u > 1:
			repeats += u - 1
		}
	}
	return twoKeys, repeats
}

// checkNotGrown checks that no file was stored again after a kill found
// its upload recorded: committed maps each such file to how often the
// storage had it then.
func checkNotGrown(t *testing.T, srv *velatest.Server, committed map[string]int) {
	t.Helper()
	final := uploadsByFile(srv)
	for name, then := range committed {
		if final[name] != then {
			t.Errorf("%s: stored %d time(s) when its upload was recorded, %d time(s) in the end", name, then, final[name])
		}
	}
}

// wantDone checks that the stopped agent's store has n jobs, all done.
func wantDone(t *testing.T, stateFile string, n int) {
	t.Helper()
	s, err := store.Open(stateFile, store.Options{ReadOnly: true})
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
		for _, st := range []store.State{store.Skipped, store.Parked} {
			jobs, _ := s.List(st, 0, 20)
			for _, j := range jobs {
				t.Errorf("job %d %s %s: %s", j.ID, j.Path, j.State, j.Reason)
			}
		}
	}
}

// uploadsByFile counts the stored uploads of each file name.
func uploadsByFile(srv *velatest.Server) map[string]int {
	objects := map[string]velatest.Object{}
	for _, o := range srv.Objects() {
		objects[o.Key] = o
	}
	n := map[string]int{}
	for _, p := range srv.Presigns() {
		n[p.FileName] += objects[p.Key].Uploads
	}
	return n
}

// recordedUploads lists the files the stopped agent's store records as
// uploaded.
func recordedUploads(t *testing.T, stateFile string) []string {
	t.Helper()
	s, err := store.Open(stateFile, store.Options{ReadOnly: true})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var names []string
	for _, st := range []store.State{store.Uploaded, store.Done} {
		jobs, err := s.List(st, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs {
			names = append(names, path.Base(j.Path))
		}
	}
	return names
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func mrand(n int) int { return rand.IntN(n) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
