package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate looks at the folders and files the configuration names: a
// source path that is a file fails, a missing source folder or an unusable
// token file warns, each at the position of its key.
func TestValidateChecksPaths(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"in", "tokdir"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a.wav"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := func(token, path string) string {
		return "api:\n  org_id: org-1\n  token_file: " + token + "\nstate_dir: state\nsources:\n  - name: calls\n    path: " + path + "\n"
	}
	tests := []struct {
		name, config string
		code         int
		want         string
	}{
		{"source path is a file", conf("tokdir", "a.wav"), 1,
			"vela-agent.yaml:7:5: sources[0].path: " + filepath.Join(dir, "a.wav") + " is a file, not a folder"},
		{"missing source folder", conf("tokdir", "later"), 0,
			"warning: " + filepath.Join(dir, "vela-agent.yaml") + ":7:5: sources[0].path: " + filepath.Join(dir, "later") + " does not exist (yet)"},
		{"token file is a folder", conf("tokdir", "in"), 0,
			"warning: " + filepath.Join(dir, "vela-agent.yaml") + ":3:3: api.token_file: " + filepath.Join(dir, "tokdir") + " is a folder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "vela-agent.yaml")
			if err := os.WriteFile(cfg, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := run(t, "validate", "-c", cfg)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
		})
	}
}
