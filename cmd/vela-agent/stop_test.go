package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// SIGTERM during a 200 MB upload under a bandwidth limit stops the agent
// within its deadline (10 s), and the next start sends the file again with
// the same presign: one presign, one stored object.
func TestStopDuringBigUploadResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 200 MB")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX signals")
	}
	srv, dir, token := startEmulator(t)
	in := filepath.Join(dir, "in")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(in, 0o755))
	block := make([]byte, 1<<20)
	crand.Read(block)
	must(os.WriteFile(filepath.Join(in, "big.wav"), audiotest.Stamp(bytes.Repeat(block, 200)), 0o644))
	statusAddr := freeAddr(t)
	cfg := filepath.Join(dir, "vela-agent.yaml")
	must(os.WriteFile(cfg, []byte(fmt.Sprintf(`api: {base_url: %s, org_id: org-test, refresh_token_file: %s}
state_dir: %s
sources: [{name: calls, path: %s, settle: 200ms}]
upload: {bandwidth_limit: 20MB, max_file_size: 1GB}
status: {listen: %s}
`, srv.URL(), token, filepath.Join(dir, "state"), in, statusAddr)), 0o600))

	start := func() *exec.Cmd {
		cmd := exec.Command(binary, "run", "-c", cfg)
		must(cmd.Start())
		return cmd
	}
	cmd := start()
	// Wait until the upload is well under way.
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := fetchStatus(context.Background(), "http://"+statusAddr+"/status")
		if err == nil && len(st.Active) == 1 && st.Active[0].Sent > 30<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the upload never got under way")
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopAt := time.Now()
	must(cmd.Process.Signal(syscall.SIGTERM))
	if err := cmd.Wait(); err != nil {
		t.Errorf("run exited with %v after SIGTERM", err)
	}
	took := time.Since(stopAt)
	t.Logf("stopped %v after SIGTERM, mid-upload", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("stopping took %v, over the 10 s deadline", took)
	}
	if n := len(srv.Objects()); n != 0 {
		t.Fatalf("%d objects stored by an interrupted upload", n)
	}

	cmd = start()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	deadline = time.Now().Add(90 * time.Second)
	for len(srv.Objects()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the upload did not complete after the restart")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if p := srv.Count(velatest.OpPresign); p != 1 {
		t.Errorf("%d presigns: the restart did not reuse the stored one", p)
	}
	if o := srv.Objects(); len(o) != 1 || o[0].Size != 200<<20 || o[0].Uploads != 1 {
		t.Errorf("objects %+v, want the 200 MiB file once", o)
	}
}
