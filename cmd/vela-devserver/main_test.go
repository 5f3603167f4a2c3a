package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

func TestFaultFlag(t *testing.T) {
	tests := []struct {
		in   string
		want velatest.Fault
		ok   bool
	}{
		{"presign:503", velatest.Fault{Op: velatest.OpPresign, Status: 503}, true},
		{"upload:503:3", velatest.Fault{Op: velatest.OpUpload, Status: 503, Times: 3}, true},
		{"presign:400:2:Allocation exceeded", velatest.Fault{Op: velatest.OpPresign, Status: 400, Times: 2, Message: "Allocation exceeded"}, true},
		{"chats:500::a:b", velatest.Fault{Op: velatest.OpChats, Status: 500, Message: "a:b"}, true},
		{"presign", velatest.Fault{}, false},
		{"nothing:503", velatest.Fault{}, false},
		{"presign:abc", velatest.Fault{}, false},
		{"presign:99", velatest.Fault{}, false},
		{"presign:503:0", velatest.Fault{}, false},
	}
	for _, tt := range tests {
		var l faultList
		err := l.Set(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Set(%q): %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (len(l) != 1 || l[0] != tt.want) {
			t.Errorf("Set(%q) = %+v, want %+v", tt.in, l, tt.want)
		}
	}
}

// TestDevserver builds the command, runs it, uses the refresh token it
// wrote, and stops it with SIGTERM.
func TestDevserver(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the server with SIGTERM")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vela-devserver")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	tokenFile := filepath.Join(dir, "refresh_token")
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0", "-s3-listen", "127.0.0.1:0",
		"-refresh-token-file", tokenFile, "-fault", "generate:503:1:busy", "-log-level", "debug")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	}()

	// The URLs are printed once the servers listen and the token is written.
	urls := map[string]string{}
	sc := bufio.NewScanner(stdout)
	for len(urls) < 3 && sc.Scan() {
		name, value, _ := strings.Cut(sc.Text(), ":")
		urls[name] = strings.TrimSpace(value)
	}
	api := urls["vela API"]
	if !strings.HasPrefix(api, "http://127.0.0.1:") || !strings.HasPrefix(urls["S3"], "http://127.0.0.1:") {
		t.Fatalf("printed %v", urls)
	}

	fi, err := os.Stat(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"refresh_token": strings.TrimSpace(string(token))})
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusOK} {
		resp, err := http.Post(api+"/auth/generate", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("generate %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
	if strings.Contains(logs.String(), strings.TrimSpace(string(token))) {
		t.Error("the logs contain the refresh token")
	}
	if !strings.Contains(logs.String(), "op=generate") {
		t.Errorf("no request log line:\n%s", logs.String())
	}
}
