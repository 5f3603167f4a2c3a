package agent

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/store"
)

// copyStager is a local folder whose files are staged (copied to the
// spool) before they are uploaded, as an FTP source's are downloaded: the
// real shape of a Stager without a server.
type copyStager struct {
	*localSource
	staged chan string // told of each staged path
}

func (s copyStager) Stage(_ context.Context, j *store.Job, spool string) error {
	in, err := s.localSource.Open(j)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(spool)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	// The spool copy carries the file's time, so describe finds the
	// version that was found.
	if err := os.Chtimes(spool, j.ModTime, j.ModTime); err != nil {
		return err
	}
	s.staged <- j.Path
	return nil
}

// A source that stages: its jobs wait in the stage lane, are staged by the
// local workers even while call uploads are paused, and are handed to the
// upload workers, which upload the spool copy.
func TestStagedSourceGoesThroughTheStageLane(t *testing.T) {
	a, srv, dir, in := testAgent(t, "{name: remote, path: %[1]s, settle: 100ms, rescan_interval: 1s}", "retry_min: 50ms, retry_max: 500ms")
	r := a.sources.running["remote"]
	staged := make(chan string, 1)
	r.src = copyStager{localSource: r.src.(*localSource), staged: staged}
	srv.SetAllocation(0) // the start-up check finds no minutes: calls stay paused
	a.gates.set(GateCalls, "Allocation exceeded (test)")

	// A copy left by a job that no longer exists is removed at start.
	stray := filepath.Join(dir, "state", "spool", "remote", "999.wav.part")
	if err := os.MkdirAll(filepath.Dir(stray), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stray, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	data := audiotest.Stamp([]byte(strings.Repeat("RIFF staged recording ", 4)))
	if err := os.WriteFile(filepath.Join(in, "call.wav"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-staged:
	case <-time.After(30 * time.Second):
		t.Fatal("not staged while call uploads were paused")
	}
	waitFor := func(what string, cond func(*store.Job) bool) *store.Job {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			j, err := a.store.Latest("remote", "call.wav")
			if err == nil && cond(j) {
				return j
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v, %v", what, j, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	j := waitFor("the staged job in the calls lane", func(j *store.Job) bool { return j.State == store.Staged && j.Lane == store.LaneCalls })
	if j.Spool == "" || len(srv.Objects()) != 0 {
		t.Fatalf("staged job %+v, %d objects: want a spool copy and nothing uploaded while paused", j, len(srv.Objects()))
	}
	// The spool copy is lost while the job waits (a crash of the machine
	// before it reached the disk): the file is staged again, not skipped.
	if err := os.Remove(j.Spool); err != nil {
		t.Fatal(err)
	}
	srv.SetAllocation(1000)
	a.gates.clear(GateCalls)
	a.wake.Broadcast()
	select {
	case <-staged:
	case <-time.After(30 * time.Second):
		t.Fatal("a lost spool copy was not staged again")
	}
	j = waitFor("the upload", func(j *store.Job) bool { return j.State == store.Done })
	if _, err := os.Stat(j.Spool); !os.IsNotExist(err) {
		t.Errorf("spool copy %s still there once the job is done (%v)", j.Spool, err)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("stray spool file %s not removed at start (%v)", stray, err)
	}
	objs := srv.Objects()
	if len(objs) != 1 || objs[0].Size != int64(len(data)) {
		t.Errorf("objects %+v, want the file once", objs)
	}
}
