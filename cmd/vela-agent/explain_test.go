package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// explain shows every field with its rule, sends nothing and records
// nothing.
func TestExplain(t *testing.T) {
	e := newEnv(t, velatest.Options{})
	conf, err := os.ReadFile(e.cfg)
	must(t, err)
	conf = append(conf, "metadata:\n  defaults: {team: Support}\n  filename_pattern: '^(?P<agent_name>[^_]+)_'\n"...)
	must(t, os.WriteFile(e.cfg, conf, 0o600))
	must(t, os.WriteFile(filepath.Join(e.in, "Thandi_001.WAV"), audiotest.WAV(16_044, 1), 0o644))
	must(t, os.WriteFile(filepath.Join(e.in, "metadata.csv"), []byte("filename,direction,email\nThandi_001.WAV,Inbound,bad\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(e.in, "notes.wav"), []byte(strings.Repeat("text ", 20)), 0o644))

	code, out := run(t, "explain", "-c", e.cfg, filepath.Join(e.in, "Thandi_001.WAV"), filepath.Join(e.in, "notes.wav"))
	if code != 0 {
		t.Fatalf("explain exited %d:\n%s", code, out)
	}
	for _, want := range []string{
		`outcome\s+upload`, `fileName\s+Thandi_001\.wav`, `audio\s+wav, 1\.0 s`,
		`agent_name\s+"Thandi"\s+metadata\.filename_pattern`,
		`direction\s+"inbound"\s+metadata\.csv row 2`,
		`team\s+"Support"\s+metadata\.defaults`,
		`warning: metadata\.csv row 2: email "bad" is not an e-mail address; not sent`,
		`outcome\s+park: named \.wav but holds text, not audio`,
	} {
		if !regexpLine(out, `\s*`+want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}

	code, out = run(t, "explain", "--json", "-c", e.cfg, filepath.Join(e.in, "Thandi_001.WAV"))
	var ex []struct {
		Outcome string
		Fields  map[string]struct {
			Value any
			From  string
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &ex) != nil || len(ex) != 1 || ex[0].Fields["agent_name"].From != "metadata.filename_pattern" {
		t.Errorf("explain --json: exit %d:\n%s", code, out)
	}
	if n := e.srv.Count(velatest.OpPresign); n != 0 {
		t.Errorf("explain presigned %d calls", n)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "state")); err == nil {
		t.Error("explain created the state directory")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
