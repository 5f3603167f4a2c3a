package main

import (
	"archive/zip"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// zipEnv is a configuration whose source is in, with a file-name pattern.
func zipEnv(t *testing.T) (cfg, in string) {
	t.Helper()
	dir := t.TempDir()
	in = filepath.Join(dir, "in")
	cfg = filepath.Join(dir, "vela-agent.yaml")
	conf := fmt.Sprintf(`api:
  org_id: org-test
  refresh_token_file: %s
state_dir: %s
sources:
  - name: calls
    path: %s
metadata:
  defaults: {team: Support}
  filename_pattern: '^(?P<agent_name>[A-Za-z]+)_'
`, filepath.Join(dir, "token"), filepath.Join(dir, "state"), in)
	must(t, os.WriteFile(cfg, []byte(conf), 0o600))
	must(t, os.MkdirAll(in, 0o755))
	return cfg, in
}

// zipContents reads a ZIP back with archive/zip: its recordings, and the
// file names its metadata.csv lists.
func zipContents(t *testing.T, p string) (entries, listed []string) {
	t.Helper()
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.Method != zip.Deflate {
			t.Errorf("%s: %s is not Deflate", p, f.Name)
		}
		if f.Name != "metadata.csv" {
			entries = append(entries, f.Name)
			continue
		}
		rc, err := f.Open()
		must(t, err)
		rows, err := csv.NewReader(rc).ReadAll()
		rc.Close()
		if err != nil || len(rows) == 0 || rows[0][0] != "filename" || rows[0][1] != "agent_name" {
			t.Fatalf("%s: metadata.csv %q, %v", p, rows, err)
		}
		for _, r := range rows[1:] {
			listed = append(listed, r[0])
		}
	}
	return entries, listed
}

func TestZip(t *testing.T) {
	cfg, in := zipEnv(t)
	for i := range 5 {
		must(t, os.WriteFile(filepath.Join(in, fmt.Sprintf("Thandi_%d.WAV", i)), audiotest.WAV(20_000, byte(i)), 0o644))
	}
	must(t, os.WriteFile(filepath.Join(in, "notes.wav"), []byte(strings.Repeat("text ", 20)), 0o644))
	must(t, os.WriteFile(filepath.Join(in, "odd\x1b[31m.txt"), []byte("x"), 0o644))
	outDir := t.TempDir()
	out := filepath.Join(outDir, "batch.zip")

	code, got := run(t, "zip", "-c", cfg, in, "-o", out, "--max-size", "50kB")
	if code != 0 {
		t.Fatalf("zip exited %d:\n%s", code, got)
	}
	zips := []string{out, filepath.Join(outDir, "batch-2.zip"), filepath.Join(outDir, "batch-3.zip")}
	for _, want := range []string{
		`wrote ` + zips[0] + `: 2 recording\(s\), [0-9.]+ (kB \([0-9]+ bytes\)|bytes)`,
		`wrote ` + zips[1] + `: 2 recording\(s\), .*`,
		`wrote ` + zips[2] + `: 1 recording\(s\), .*`,
		`left out ` + filepath.Join(in, "notes.wav") + `: park: named \.wav but holds text, not audio`,
		`left out ` + filepath.Join(in, `odd\\x1b\[31m.txt`) + `: skip: .*`,
	} {
		if !regexpLine(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("output holds a raw escape:\n%q", got)
	}
	var all []string
	for _, z := range zips {
		entries, listed := zipContents(t, z)
		if !slices.Equal(entries, listed) {
			t.Errorf("%s holds %q, its metadata.csv lists %q", z, entries, listed)
		}
		all = append(all, entries...)
	}
	if want := []string{"Thandi_0.wav", "Thandi_1.wav", "Thandi_2.wav", "Thandi_3.wav", "Thandi_4.wav"}; !slices.Equal(all, want) {
		t.Errorf("recordings %q, want %q", all, want)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"exists", []string{in, "-o", out}, 1, "exists; use --force to replace it"},
		{"force", []string{in, "-o", out, "--force"}, 0, "wrote " + out + ": 5 recording"},
		{"no output", []string{in}, 1, `required flag(s) "output" not set`},
		{"bits", []string{in, "-o", out, "--max-size", "3Gb"}, 1, "looks like bits"},
		{"too big", []string{in, "-o", out, "--max-size", "4GB", "--force"}, 1, "over the 3221225472 bytes"},
		{"nothing to pack", []string{t.TempDir(), "-o", filepath.Join(t.TempDir(), "x.zip")}, 1, "no ZIP written"},
	} {
		code, got := run(t, append([]string{"zip", "-c", cfg}, tc.args...)...)
		if code != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s", tc.name, code, tc.code, tc.want, got)
		}
	}
	// --force over three smaller ZIPs names the two it left.
	code, got = run(t, "zip", "-c", cfg, in, "-o", out, "--force")
	if code != 0 || !strings.Contains(got, "warning: "+zips[1]+" is from an earlier run") {
		t.Errorf("exit %d:\n%s", code, got)
	}
}
