package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio"
)

func TestManifestCSV(t *testing.T) {
	for _, n := range []int{1, 7, 500} {
		csv, rows := manifestCSV(n)
		m, err := meta.ReadManifest("metadata.csv", bytes.NewReader(csv), meta.ManifestOptions{})
		if err != nil {
			t.Fatalf("%d rows: %v", n, err)
		}
		if m.Len() != n || len(rows) != n || len(m.Problems) > 0 {
			t.Fatalf("%d rows: the manifest has %d rows and problems %q; %d rows expected", n, m.Len(), m.Problems, len(rows))
		}
		for i := 1; i <= n; i++ {
			name := callName(i)
			r, ok := m.Lookup(name)
			if !ok || r.Err != nil {
				t.Fatalf("%d rows: no usable row names %s: %v", n, name, r)
			}
			want := rows[name]
			if r.Fields["agent_name"] != want.agent || r.Fields["team"] != want.team || r.Fields["tags"] != "a;b" || r.Fields["date_of_call"] == nil {
				t.Errorf("%d rows: %s: fields %v, want agent_name %q, team %q", n, name, r.Fields, want.agent, want.team)
			}
		}
		if n > 2 && slices.IsSorted(m.Names()) {
			t.Errorf("%d rows: the rows are in file order, not shuffled", n)
		}
	}
}

func TestWriteCalls(t *testing.T) {
	const n = 3
	dir, to := t.TempDir(), t.TempDir()
	if err := writeCalls(dir, n); err != nil {
		t.Fatal(err)
	}
	if err := linkCalls(dir, to, n); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range []string{dir, to} {
		for i := 1; i <= n; i++ {
			data, err := os.ReadFile(filepath.Join(d, callName(i)))
			if err != nil {
				t.Fatal(err)
			}
			info, err := audio.Probe(bytes.NewReader(data), int64(len(data)))
			if err != nil || info.Format != audio.WAV || len(data) != describeFileSize {
				t.Errorf("%s: %d bytes, %+v, %v; want a WAV file of %d bytes", callName(i), len(data), info, err, describeFileSize)
			}
			if d == dir {
				if seen[string(data)] {
					t.Errorf("%s is the same as another call", callName(i))
				}
				seen[string(data)] = true
			} else if !seen[string(data)] {
				t.Errorf("%s in the second folder is not one of the first's", callName(i))
			}
		}
	}
}

func TestCountOpens(t *testing.T) {
	if !opensCounted {
		t.Skip("opens are counted with inotify")
	}
	dir := t.TempDir()
	for _, name := range []string{"metadata.csv", "other.csv"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("filename\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := countOpens(dir, "metadata.csv")
	if err != nil {
		t.Fatal(err)
	}
	// Opens of the same file one after the other, none read in between,
	// may be merged into one event: other opens separate these.
	for _, name := range []string{"metadata.csv", "other.csv", "metadata.csv", "missing.csv", "other.csv", "metadata.csv"} {
		if f, err := os.Open(filepath.Join(dir, name)); err == nil {
			f.Close()
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata.csv")); err != nil {
		t.Fatal(err)
	}
	n, err := c.stop()
	if err != nil || n != 3 {
		t.Errorf("counted %d opens, %v; want 3", n, err)
	}
}
