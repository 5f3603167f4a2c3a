package main

import (
	"archive/zip"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

var (
	crashZipFiles = flag.Int("crashzip.files", 500, "recordings in the ZIP of TestCrashZip")
	crashZipKills = flag.Int("crashzip.kills", 10, "kills in TestCrashZip")
)

// TestCrashZip kills the agent 10 times (-crashzip.kills; 50 in make
// test-long) while it expands and uploads a bulk ZIP of 500 recordings
// (-crashzip.files; 1,000 in make test-long): every recording arrives
// once, and none is stored again after its upload was recorded.
func TestCrashZip(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX signals")
	}
	n, kills := *crashZipFiles, *crashZipKills
	srv, dir, token := startEmulator(t)
	in := filepath.Join(dir, "in")
	stateDir := filepath.Join(dir, "state")
	must(t, os.MkdirAll(in, 0o755))
	want := map[string]string{}
	f, err := os.Create(filepath.Join(in, "batch.zip"))
	must(t, err)
	zw := zip.NewWriter(f)
	for i := range n {
		data := make([]byte, 8<<10+mrand(56<<10))
		crand.Read(data)
		audiotest.Stamp(data)
		name := fmt.Sprintf("rec/call_%04d.wav", i)
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: []uint16{zip.Store, zip.Deflate}[i%2]})
		must(t, err)
		_, err = w.Write(data)
		must(t, err)
		sum := sha256.Sum256(data)
		want[filepath.Base(name)] = hex.EncodeToString(sum[:])
	}
	must(t, zw.Close())
	must(t, f.Close())

	statusAddr := freeAddr(t)
	cfg := writeCrashConfig(t, dir, srv.URL(), token, stateDir, localSource(in), "  concurrency: 4\n  bandwidth_limit: 10MB\n", statusAddr)

	start := agentRunner(t, cfg)
	committed := map[string]int{}
	for range kills {
		cmd := start()
		time.Sleep(time.Duration(300+mrand(700)) * time.Millisecond)
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		cmd.Wait()
		stored := uploadsByFile(srv)
		for _, name := range recordedUploads(t, filepath.Join(stateDir, "queue.db")) {
			if _, ok := committed[name]; !ok {
				committed[name] = stored[name]
			}
		}
	}
	if !finishRun(t, start(), statusAddr, n+1, 3*time.Minute) {
		t.Error("the last run did not finish the ZIP")
	}
	checkNotGrown(t, srv, committed)
	twoKeys, repeats := checkStored(t, srv, want, nil)
	wantDone(t, filepath.Join(stateDir, "queue.db"), n+1)
	presigns := srv.Count(velatest.OpPresign)
	t.Logf("%d recordings in one ZIP, %d kills: %d presigns (%d extra), %d under two keys, %d same-key repeats", n, kills, presigns, presigns-n, twoKeys, repeats)
	// A repeat (to the same key) is possible only for a kill between the
	// storage's reply and the commit of it: at most upload.concurrency per
	// kill.
	if repeats > 4*kills || presigns-n > 4*kills {
		t.Errorf("%d repeats and %d extra presigns for %d kills, want at most 4 (upload.concurrency) each per kill", repeats, presigns-n, kills)
	}
	if _, err := os.Stat(filepath.Join(in, "batch.zip")); err != nil {
		t.Errorf("the ZIP is gone with after_upload: keep: %v", err)
	}
}
