package audio_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio"
)

// installHint is how to get the encoders the tests run.
const installHint = "apt-get install -y sox lame flac ffmpeg"

// need skips the test when a command line tool is missing, and fails it
// under CI, which must have installed the tools.
func need(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not installed: %s", name, installHint)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// run runs a tool and returns its standard output.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	need(t, name)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v\n%s", name, args, err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// tone writes a 16-bit PCM WAV sine tone made by sox.
func tone(t testing.TB, path string, rate, channels int, seconds float64) string {
	t.Helper()
	run(t, "sox", "-n", "-r", strconv.Itoa(rate), "-c", strconv.Itoa(channels), "-b", "16", path,
		"synth", strconv.FormatFloat(seconds, 'f', -1, 64), "sine", "440")
	return path
}

// probed is what ffprobe says about a file.
type probed struct {
	duration   time.Duration
	sampleRate int
	channels   int
}

func ffprobe(t testing.TB, path string) probed {
	t.Helper()
	out := run(t, "ffprobe", "-v", "error", "-show_entries", "format=duration:stream=sample_rate,channels,codec_type",
		"-of", "json", path)
	var doc struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
		Streams []struct {
			CodecType  string `json:"codec_type"`
			SampleRate string `json:"sample_rate"`
			Channels   int    `json:"channels"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("read ffprobe output for %s: %v\n%s", path, err, out)
	}
	sec, err := strconv.ParseFloat(doc.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe gives no duration for %s: %s", path, out)
	}
	p := probed{duration: time.Duration(sec * float64(time.Second))}
	for _, s := range doc.Streams {
		if s.CodecType == "audio" {
			p.sampleRate, _ = strconv.Atoi(s.SampleRate)
			p.channels = s.Channels
			break
		}
	}
	return p
}

// probeFile runs Probe on a file.
func probeFile(t testing.TB, path string) (audio.Info, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return audio.Probe(f, st.Size())
}

// near reports whether two durations are within 0.1 s.
func near(a, b time.Duration) bool {
	d := a - b
	return d > -100*time.Millisecond && d < 100*time.Millisecond
}

func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
