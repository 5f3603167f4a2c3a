package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// TestNewInstallSaysWhatItWillUpload: a new install on a folder that
// already holds more than NewInstallFiles recordings says, before its first
// upload, how many it queued and about how many minutes they are; a
// restart does not say it again.
func TestNewInstallSaysWhatItWillUpload(t *testing.T) {
	defer func(n int) { *agent.NewInstallFiles = n }(*agent.NewInstallFiles)
	*agent.NewInstallFiles = 20
	h := newHarness(t, harnessOptions{})
	// 30 calls of 1 to 30 seconds (8 kHz 16-bit mono: 16,000 bytes a
	// second): 465 s, 7.75 minutes.
	for i := range 30 {
		name := fmt.Sprintf("old/call_%02d.wav", i)
		data := audiotest.WAV(audiotest.HeaderLen+16000*(i+1), byte(i))
		must(t, os.MkdirAll(filepath.Join(h.in, "old"), 0o755))
		must(t, os.WriteFile(filepath.Join(h.in, name), data, 0o644))
		h.mu.Lock()
		h.files[name] = data
		h.mu.Unlock()
	}
	h.start()
	h.waitDone(30)
	logs := h.logged()
	notice := strings.Index(logs, "new install: 30 files already in the watched folders are queued for upload")
	upload := strings.Index(logs, "msg=uploaded")
	if notice < 0 || upload < 0 || notice > upload {
		t.Fatalf("want the new-install notice before the first upload; at %d and %d", notice, upload)
	}
	line := logs[notice:]
	line = line[:strings.IndexByte(line, '\n')]
	for _, want := range []string{"minutes of call allocation: about 8, estimated from the durations of 30 of them", "vela-agent baseline SOURCE", "ignore_older", "files=30", "minutes=8", "timed=30"} {
		if !strings.Contains(line, want) {
			t.Errorf("notice %q lacks %q", line, want)
		}
	}
	h.verify()

	// A restart has jobs: no notice, uploads at once.
	h.stop()
	h.start()
	for i := range 25 {
		h.write(fmt.Sprintf("new/%02d.wav", i), 3000)
	}
	h.waitDone(55)
	if n := strings.Count(h.logged(), "new install:"); n != 1 {
		t.Errorf("the notice was logged %d times, want once", n)
	}
}
