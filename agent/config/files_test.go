package config

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestLoadChecksFiles: Load looks at the folders and files the
// configuration names and reports each problem at its key.
func TestLoadChecksFiles(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	notDir := filepath.Join(dir, "recording.wav")
	tokDir := filepath.Join(dir, "tokdir")
	for _, d := range []string{in, tokDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(token, path string) string {
		return "api:\n  org_id: o\n  token_file: " + token + "\nsources:\n  - name: a\n    path: " + path + "\n"
	}
	tests := []struct {
		name, yaml string
		warn, err  string // "" means none; else the text after the file name
	}{
		{"all there", config(tokDir+"/../tok", in), "", ""},
		{"missing source folder", config(tokDir+"/../tok", filepath.Join(dir, "later")),
			":6:5: sources[0].path: " + filepath.Join(dir, "later") + " does not exist (yet): the agent waits for it and watches it once it appears", ""},
		{"source path is a file", config(tokDir+"/../tok", notDir),
			"", ":6:5: sources[0].path: " + notDir + " is a file, not a folder"},
		{"token file is a folder", config(tokDir, in),
			":3:3: api.token_file: " + tokDir + " is a folder, not a file holding the API token", ""},
		{"missing token file", config(filepath.Join(dir, "nope"), in),
			":3:3: api.token_file: " + filepath.Join(dir, "nope") + " does not exist", ""},
	}
	if err := os.WriteFile(filepath.Join(dir, "tok"), []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(file)
			if tc.err != "" {
				var errs Errors
				if !errors.As(err, &errs) || err.Error() != file+tc.err {
					t.Fatalf("Load = %v, want the error %q", err, file+tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := Errors(c.Warnings).Error()
			if want := file + tc.warn; tc.warn == "" && got != "" || tc.warn != "" && got != want {
				t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// Files and folders the agent's user cannot read: warnings, not errors.
func TestLoadUnreadable(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("needs POSIX permissions that bind the user")
	}
	dir := t.TempDir()
	in, tok := filepath.Join(dir, "in"), filepath.Join(dir, "tok")
	if err := os.Mkdir(in, 0o000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(in, 0o700) })
	if err := os.WriteFile(tok, []byte("t"), 0o000); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "c.yaml")
	yaml := "api:\n  org_id: o\n  token_file: tok\nsources:\n  - name: a\n    path: in\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	got := Errors(c.Warnings).Error()
	for _, want := range []string{
		file + ":3:3: api.token_file: cannot read " + tok + ": permission denied",
		file + ":6:5: sources[0].path: cannot read " + in + ": permission denied; the agent retries until it can",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings:\n%s\nlack:\n%s", got, want)
		}
	}
}
