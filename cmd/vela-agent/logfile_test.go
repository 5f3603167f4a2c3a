package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// With log.file set, run logs to that file, not to stderr.
func TestRunLogsToFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX signals")
	}
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	logFile := filepath.Join(e.dir, "logs", "vela-agent.log")
	f, err := os.OpenFile(e.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("log:\n  file: " + logFile + "\n  max_size: 1MB\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command(binary, "run", "-c", e.cfg)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(logFile)
		if strings.Contains(string(b), "vela-agent running") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("log file %s never said the agent runs; stderr:\n%s", logFile, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("run exited with %v", err)
	}
	if strings.Contains(stderr.String(), "vela-agent running") {
		t.Errorf("the log went to stderr too:\n%s", stderr.String())
	}
	b, _ := os.ReadFile(logFile)
	if !strings.Contains(string(b), "vela-agent stopped") {
		t.Errorf("log file lacks the stop:\n%s", b)
	}
}
