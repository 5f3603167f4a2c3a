package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// terminalControls reports the first byte sequence in out that a terminal
// would obey rather than print, if any: C0 controls but newline, DEL, and
// C1 controls (in UTF-8).
func terminalControls(out string) (string, bool) {
	for i, r := range out {
		if r == '\n' {
			continue
		}
		if r < 0x20 || r >= 0x7f && r < 0xa0 {
			return out[max(0, i-20):min(len(out), i+20)], true
		}
	}
	return "", false
}

// File names with escape sequences are printed escaped by push, queue list
// and status; ordinary Unicode stays readable.
func TestOutputEscapesFileNames(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows file names cannot hold control characters")
	}
	e := newEnv(t, velatest.Options{})
	e.writeToken(t)
	conf, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Over the limit: both files are parked, and listed by name.
	small := strings.Replace(string(conf), "upload:\n", "upload:\n  max_file_size: 5000\n", 1)
	if err := os.WriteFile(e.cfg, []byte(small), 0o600); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(e.dir, "batch")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	evil := "\x1b]0;owned\x07\x1b[31mred\u009b2J\x7f.wav"
	const evilShown = `\x1b]0;owned\x07\x1b[31mred\u009b2J\x7f.wav`
	const plain = "café_日本.wav"
	for _, name := range []string{evil, plain} {
		if err := os.WriteFile(filepath.Join(src, name), audiotest.WAV(10_000, 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	check := func(what, out string) {
		t.Helper()
		if seq, bad := terminalControls(out); bad {
			t.Errorf("%s prints a control sequence raw, near %q:\n%q", what, seq, out)
		}
		if !strings.Contains(out, evilShown) || !strings.Contains(out, plain) {
			t.Errorf("%s lacks %s or %s:\n%s", what, evilShown, plain, out)
		}
	}
	code, out := run(t, "push", "-q", "-c", e.cfg, src)
	if code != 1 {
		t.Fatalf("push: exit %d, want 1 (parked):\n%s", code, out)
	}
	check("push", out)
	_, out = run(t, "queue", "list", "-c", e.cfg)
	check("queue list", out)
	_, out = run(t, "status", "-c", e.cfg)
	check("status", out)

	cmd := exec.Command(binary, "status", "--json", "-c", e.cfg)
	js, _ := cmd.Output()
	if seq, bad := terminalControls(string(js)); bad {
		t.Errorf("status --json prints a control sequence raw, near %q", seq)
	}
	var st struct {
		Parked []struct{ Path string } `json:"parked"`
	}
	if err := json.Unmarshal(js, &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, js)
	}
	found := false
	for _, j := range st.Parked {
		found = found || strings.HasSuffix(j.Path, "/"+evil)
	}
	if !found {
		t.Errorf("status --json does not give the name as it is: %+v", st.Parked)
	}
}

// An error line with a name in it is escaped too.
func TestErrorLineEscaped(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows file names cannot hold control characters")
	}
	dir := t.TempDir()
	code, out := run(t, "validate", "-c", filepath.Join(dir, "\x1b[2Jmissing.yaml"))
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
	if seq, bad := terminalControls(out); bad || !strings.Contains(out, `\x1b[2Jmissing.yaml`) {
		t.Errorf("the error line is not escaped (near %q):\n%q", seq, out)
	}
}
