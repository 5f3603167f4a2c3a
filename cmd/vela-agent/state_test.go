package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// stateFile is the state file of e's configuration.
func (e *env) stateFile() string { return filepath.Join(e.dir, "state", "queue.db") }

// fillState writes a state file of n queued jobs, enough for the jobs
// bucket to be a tree of pages, with its marker.
func (e *env) fillState(t *testing.T, n int) {
	t.Helper()
	s, err := store.Open(e.stateFile(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var found []store.Found
	for i := range n {
		found = append(found, store.Found{Source: "calls", Path: fmt.Sprintf("old/call_%04d.wav", i), Size: int64(10_000 + i), ModTime: time.Unix(1_700_000_000, 0), Kind: store.Call})
	}
	if _, err := s.Add(found); err != nil {
		t.Fatal(err)
	}
}

// damageJobsRoot overwrites the header of the root page of the jobs bucket.
func damageJobsRoot(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var root, ps int64
	err = db.View(func(tx *bolt.Tx) error {
		root, ps = int64(tx.Bucket([]byte("jobs")).Root()), int64(db.Info().PageSize)
		return nil
	})
	db.Close()
	if err != nil || root == 0 {
		t.Fatalf("jobs bucket root %d: %v", root, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 16), root*ps); err != nil {
		t.Fatal(err)
	}
}

// runBriefly is run for a command that must end by itself: one that
// starts the agent after all is killed after a few seconds.
func runBriefly(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Errorf("%s still running after 10s, killed:\n%s", args, out.String())
		return -1, out.String()
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// noCrash fails the test if out shows a panic or a fault.
func noCrash(t *testing.T, out string) {
	t.Helper()
	for _, bad := range []string{"panic", "goroutine ", "SIGBUS", "SIGSEGV", "fatal error"} {
		if strings.Contains(out, bad) {
			t.Errorf("output shows %q:\n%s", bad, out)
		}
	}
}

// A damaged or lost state file stops run, status and queue list with one
// line that names the file and the command to run, and a non-zero exit.
func TestDamagedStateRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"cut mid-file", func(t *testing.T, path string) {
			fi, _ := os.Stat(path)
			if err := os.Truncate(path, fi.Size()/2+100); err != nil {
				t.Fatal(err)
			}
		}, "`vela-agent state salvage`"},
		{"empty", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "`vela-agent state reset`"},
		{"corrupt page", damageJobsRoot, "`vela-agent state salvage`"},
		{"garbage meta pages", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			f.WriteAt(bytes.Repeat([]byte("garbage!"), 2*65536/8), 0)
		}, "`vela-agent state salvage`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, velatest.Options{})
			e.writeToken(t)
			e.fillState(t, 300)
			tc.damage(t, e.stateFile())
			for _, args := range [][]string{{"run"}, {"status"}, {"queue", "list"}} {
				code, out := runBriefly(t, append(args, "-c", e.cfg)...)
				noCrash(t, out)
				lines := strings.Split(strings.TrimSpace(out), "\n")
				if code == 0 || len(lines) != 1 || !strings.Contains(out, e.stateFile()) || !strings.Contains(out, tc.want) {
					t.Errorf("%s: exit %d, want non-zero and one line naming %s and %s:\n%s", args, code, e.stateFile(), tc.want, out)
				}
			}
		})
	}
}

func TestStateCheck(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.fillState(t, 300)
	code, out := run(t, "state", "check", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "OK (300 jobs)") {
		t.Errorf("state check of a good file: exit %d:\n%s", code, out)
	}
	damageJobsRoot(t, e.stateFile())
	code, out = run(t, "state", "check", "-c", e.cfg)
	noCrash(t, out)
	if code != 1 || !strings.Contains(out, "is damaged") {
		t.Errorf("state check of a damaged file: exit %d, want 1:\n%s", code, out)
	}
}

func TestStateSalvage(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.fillState(t, 300)
	damageJobsRoot(t, e.stateFile())
	damaged, _ := os.ReadFile(e.stateFile())

	// To a new file: the damaged one stays.
	out1 := filepath.Join(e.dir, "salvaged.db")
	code, out := run(t, "state", "salvage", "-o", out1, "-c", e.cfg)
	noCrash(t, out)
	if code != 0 || !strings.Contains(out, "into "+out1) || !strings.Contains(out, "unreadable:") {
		t.Errorf("state salvage -o: exit %d:\n%s", code, out)
	}
	if now, _ := os.ReadFile(e.stateFile()); !bytes.Equal(now, damaged) {
		t.Error("state salvage -o changed the damaged file")
	}

	// In place.
	code, out = run(t, "state", "salvage", "-c", e.cfg)
	noCrash(t, out)
	if code != 0 || !strings.Contains(out, "the damaged file is kept as "+e.stateFile()+".damaged-") {
		t.Fatalf("state salvage: exit %d:\n%s", code, out)
	}
	t.Logf("state salvage:\n%s", out)
	asides, _ := filepath.Glob(e.stateFile() + ".damaged-*")
	if len(asides) != 1 {
		t.Fatalf("damaged files kept: %v", asides)
	}
	if kept, _ := os.ReadFile(asides[0]); !bytes.Equal(kept, damaged) {
		t.Error("the damaged file was not kept as it was")
	}
	if code, out := run(t, "state", "check", "-c", e.cfg); code != 0 {
		t.Errorf("state check after salvage: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "status", "-c", e.cfg); code != 2 || !strings.Contains(out, "not running") { // 2: not running
		t.Errorf("status after salvage: exit %d:\n%s", code, out)
	}
}

func TestStateReset(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.fillState(t, 3)
	before, _ := os.ReadFile(e.stateFile())
	code, out := run(t, "state", "reset", "-c", e.cfg)
	if code != 1 || !strings.Contains(out, "--yes") || !strings.Contains(out, "uploaded again") {
		t.Errorf("state reset without --yes: exit %d, want 1 and what it would do:\n%s", code, out)
	}
	if now, _ := os.ReadFile(e.stateFile()); !bytes.Equal(now, before) {
		t.Fatal("state reset without --yes changed the state file")
	}
	code, out = run(t, "state", "reset", "--yes", "-c", e.cfg)
	if code != 0 || !strings.Contains(out, "kept as "+e.stateFile()+".reset-") || !strings.Contains(out, "uploads it again") {
		t.Errorf("state reset --yes: exit %d:\n%s", code, out)
	}
	if code, out := run(t, "state", "check", "-c", e.cfg); code != 0 || !strings.Contains(out, "OK (0 jobs)") {
		t.Errorf("state check after reset: exit %d:\n%s", code, out)
	}
}

// An empty state file with its marker is refused; --accept-new-state starts
// afresh and says what that means.
func TestRunAcceptNewState(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	e.fillState(t, 3)
	if _, err := os.Stat(e.stateFile() + ".created"); err != nil {
		t.Fatalf("no marker after the first start: %v", err)
	}
	if err := os.Truncate(e.stateFile(), 0); err != nil {
		t.Fatal(err)
	}
	code, out := runBriefly(t, "run", "-c", e.cfg)
	if code == 0 || !strings.Contains(out, "is empty, but this state directory has held one since") || !strings.Contains(out, "--accept-new-state") {
		t.Fatalf("run on an empty state file: exit %d:\n%s", code, out)
	}

	cmd := exec.Command(binary, "run", "--accept-new-state", "-c", e.cfg)
	var buf syncBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitUntil(t, func() bool { return strings.Contains(buf.String(), "vela-agent running") })
	if !strings.Contains(buf.String(), "every file in the sources is treated as new and uploaded again") {
		t.Errorf("run --accept-new-state does not say what it does:\n%s", buf.String())
	}
}
