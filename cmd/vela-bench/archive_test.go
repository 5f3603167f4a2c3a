package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/store"
)

// metricsPage is a part of the agent's /metrics page.
const metricsPage = `# HELP vela_agent_source_scans_total Full scans of a source completed since it was started.
# TYPE vela_agent_source_scans_total counter
vela_agent_source_scans_total{source="calls"} 3
vela_agent_source_last_scan_seconds{source="calls"} 1.25e-01
vela_agent_jobs{state="done"} 1e+06
vela_agent_uploaded_files_total 0

vela_agent_build_info{goversion="go1.26",version="a1 \"b\\c\"\n"} 1 1700000000000
`

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		name string
		page string
		want map[string]float64
		bad  bool
	}{
		{name: "agent page", page: metricsPage, want: map[string]float64{
			`vela_agent_source_scans_total{source="calls"}`:                     3,
			`vela_agent_source_last_scan_seconds{source="calls"}`:               0.125,
			`vela_agent_jobs{state="done"}`:                                     1e6,
			`vela_agent_uploaded_files_total`:                                   0,
			`vela_agent_build_info{goversion="go1.26",version="a1 \"b\\c\"\n"}`: 1,
		}},
		{name: "labels sorted", page: `m{b="2", a="1",} 7`, want: map[string]float64{`m{a="1",b="2"}`: 7}},
		{name: "empty labels", page: "m{} 1\n", want: map[string]float64{"m": 1}},
		{name: "special values", page: "a +Inf\nb NaN\n", want: map[string]float64{"a": math.Inf(1), "b": math.NaN()}},
		{name: "no value", page: "m\n", bad: true},
		{name: "bad value", page: "m one\n", bad: true},
		{name: "bad name", page: "9m 1\n", bad: true},
		{name: "open label", page: `m{a="1 1`, bad: true},
		{name: "unquoted label", page: `m{a=1} 1`, bad: true},
		{name: "no comma", page: `m{a="1" b="2"} 1`, bad: true},
		{name: "too much", page: "m 1 2 3\n", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMetrics(strings.NewReader(tt.page))
			if tt.bad {
				if err == nil {
					t.Fatalf("parseMetrics = %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d series %v, want %d", len(got), got, len(tt.want))
			}
			for k, v := range tt.want {
				g, ok := got[k]
				if !ok || g != v && !(math.IsNaN(g) && math.IsNaN(v)) {
					t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
				}
			}
		})
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add(metricsPage)
	f.Add(`m{a="x\"",b="\\"} 1`)
	f.Add("m{a=\"\n")
	f.Fuzz(func(t *testing.T, page string) {
		m, err := parseMetrics(strings.NewReader(page))
		if err != nil {
			return
		}
		// Every series it returns reads back as itself.
		for series := range m {
			again, err := parseMetrics(strings.NewReader(series + " 1\n"))
			if err != nil {
				t.Fatalf("series %q does not parse again: %v", series, err)
			}
			if _, ok := again[series]; !ok || len(again) != 1 {
				t.Fatalf("series %q parses again as %v", series, again)
			}
		}
	})
}

func TestHelpIsFor(t *testing.T) {
	// What cobra prints for `vela-agent state compact --help` without such
	// a command, and with it.
	parent := "The state file...\n\nUsage:\n  vela-agent state [command]\n\nAvailable Commands:\n  check       Verify the state file\n  compact-not Not it\n\nFlags:\n  -h, --help   help for state\n"
	leaf := "Rewrite the state file.\r\n\r\nUsage:\r\n  vela-agent state compact [flags]\r\n\r\nFlags:\r\n  -h, --help   help for compact\r\n"
	tests := []struct {
		name, help string
		want       bool
	}{
		{"the parent's help", parent, false},
		{"the command's help", leaf, true},
		{"the command alone", "Usage:\n  vela-agent state compact\n", true},
		{"outside the usage", "Examples:\n  vela-agent state compact\n", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		if got := helpIsFor(tt.help, "vela-agent state compact"); got != tt.want {
			t.Errorf("%s: helpIsFor = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
		bad        bool
	}{
		{name: "plain", stat: "4242 (vela-agent) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 123 456 789\n", want: 2870 * time.Millisecond},
		{name: "command with spaces and parentheses", stat: "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 2 3", want: 30 * time.Millisecond},
		{name: "short", stat: "7 (x) R 1 7 7 0", bad: true},
		{name: "no command", stat: "7 x R 1", bad: true},
		{name: "not a number", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a 2 0", bad: true},
		{name: "too big", stat: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 18446744073709551615 2 0", bad: true},
	}
	for _, tt := range tests {
		got, err := parseProcStat([]byte(tt.stat))
		switch {
		case tt.bad && err == nil:
			t.Errorf("%s: parseProcStat = %v, want an error", tt.name, got)
		case !tt.bad && (err != nil || got != tt.want):
			t.Errorf("%s: parseProcStat = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("4242 (vela-agent) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 9 0 123 456 789\n"))
	f.Add([]byte("1 ()) R"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d, err := parseProcStat(data); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

const procStatus = "Name:\tvela-agent\nVmPeak:\t 1300000 kB\nVmHWM:\t  150000 kB\nVmRSS:\t  120000 kB\nThreads:\t9\n"

func TestParseProcStatus(t *testing.T) {
	tests := []struct {
		name, status string
		rss, hwm     int64
		bad          bool
	}{
		{name: "agent", status: procStatus, rss: 120000 << 10, hwm: 150000 << 10},
		{name: "no rss", status: "VmHWM:\t 10 kB\n", bad: true},
		{name: "not kB", status: "VmHWM:\t 10 MB\nVmRSS:\t 10 kB\n", bad: true},
		{name: "negative", status: "VmHWM:\t -10 kB\nVmRSS:\t 10 kB\n", bad: true},
		{name: "empty", status: "", bad: true},
	}
	for _, tt := range tests {
		rss, hwm, err := parseProcStatus([]byte(tt.status))
		switch {
		case tt.bad && err == nil:
			t.Errorf("%s: parseProcStatus = %d, %d; want an error", tt.name, rss, hwm)
		case !tt.bad && (err != nil || rss != tt.rss || hwm != tt.hwm):
			t.Errorf("%s: parseProcStatus = %d, %d, %v; want %d, %d", tt.name, rss, hwm, err, tt.rss, tt.hwm)
		}
	}
}

func FuzzParseProcStatus(f *testing.F) {
	f.Add([]byte(procStatus))
	f.Add([]byte("VmRSS: 9223372036854775807 kB\nVmHWM: 1 kB"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if rss, hwm, err := parseProcStatus(data); err == nil && (rss <= 0 || hwm <= 0) {
			t.Fatalf("parseProcStatus = %d, %d without an error", rss, hwm)
		}
	})
}

// TestProcSelf reads the test process's own figures, where /proc exists.
func TestProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc here")
	}
	if _, err := selfCPU(); err != nil {
		t.Error(err)
	}
	if rss, hwm, err := procMemory(os.Getpid()); err != nil || rss <= 0 || hwm < rss {
		t.Errorf("procMemory = %d, %d, %v; want 0 < VmRSS <= VmHWM", rss, hwm, err)
	}
}

// TestWriteArchive checks the tree's layout: every file once, as many in
// each folder, the first folders below first/.
func TestWriteArchive(t *testing.T) {
	root := t.TempDir()
	if err := writeArchive(root, 60, 6, 2); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir   string
		files int
	}{{root, 60}, {filepath.Join(root, "first"), 20}} {
		if n, err := walkTree(c.dir); err != nil || n != c.files {
			t.Errorf("%s: %d files, %v; want %d", c.dir, n, err, c.files)
		}
	}
	for _, p := range []string{"first/d0001/call_0000019.wav", "more/d0002/call_0000020.wav", "more/d0005/call_0000059.wav"} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != archiveFileSize {
			t.Errorf("%s: %v, %v; want a regular file of %d bytes", p, fi, err, archiveFileSize)
		}
	}
}

// TestFillDone records a small tree with `vela-bench filldone` and checks
// that the store knows every file as uploaded, with the metadata the agent
// sends for it.
func TestFillDone(t *testing.T) {
	root := t.TempDir()
	if err := writeArchive(root, 30, 3, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("first", filepath.Join(root, "link")); err != nil {
		t.Log(err) // no links here; nothing to skip then
	}
	path := filepath.Join(t.TempDir(), "state", "queue.db")
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := fillDoneMain([]string{"-at", at.Format(time.RFC3339Nano), path, root}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	counts, err := s.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts[store.Done] != 30 {
		t.Errorf("counts %v, want 30 done", counts)
	}
	var again []store.Found
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		again = append(again, store.Found{Source: sourceName, Path: filepath.ToSlash(rel), Size: fi.Size(), ModTime: fi.ModTime(), Kind: store.Call})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Add(again); err != nil || n != 0 {
		t.Errorf("Add of the tree's files = %d, %v; want 0 jobs added", n, err)
	}
	j, err := s.Latest(sourceName, "more/d0002/call_0000029.wav")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(j.Meta, &m); err != nil || m["date_of_call"] != meta.FormatDate(j.ModTime) || len(m) != 1 {
		t.Errorf("metadata %s, %v; want the date of call of %v alone", j.Meta, err, j.ModTime)
	}
	if !j.Updated.Equal(at) || j.Size != archiveFileSize {
		t.Errorf("job updated %v, size %d; want %v, %d", j.Updated, j.Size, at, archiveFileSize)
	}
}

func TestFillDoneUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"only-one"}, {"-at", "yesterday", "a", "b"}, {"-nope", "a", "b"}} {
		if err := fillDoneMain(args, io.Discard, io.Discard); err != errUsage {
			t.Errorf("filldone %q: %v, want errUsage", args, err)
		}
	}
}

func TestArchiveOptions(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{nil, true},
		{[]string{"-archive-files", "60", "-archive-dirs", "6", "-archive-small-files", "20"}, true},
		{[]string{"-archive-files", "60", "-archive-dirs", "6", "-archive-small-files", "0"}, true},
		{[]string{"-archive-files", "60", "-archive-dirs", "7"}, false},                               // not a multiple
		{[]string{"-archive-files", "60", "-archive-dirs", "6", "-archive-small-files", "15"}, false}, // part of a folder
		{[]string{"-archive-files", "60", "-archive-dirs", "6", "-archive-small-files", "60"}, false}, // not smaller
		{[]string{"-archive-files", "6", "-archive-dirs", "60"}, false},
		{[]string{"-archive-files", "0"}, false},
		{[]string{"-archive-rescan", "500ms"}, false}, // shorter than -settle
		{[]string{"-archive-rescan", "500ms", "-settle", "200ms"}, true},
	}
	for _, tt := range tests {
		_, err := parseOptions(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("parseOptions(%q) = %v, want ok %v", tt.args, err, tt.ok)
		}
	}
}

func TestGrowthRow(t *testing.T) {
	small := &archiveResult{files: 100, startup: time.Second, rescan: time.Second, intervalCPU: time.Second, rss: 10e6, db: dbFigures{size: 1e6}}
	big := &archiveResult{files: 1000, startup: 2 * time.Second, rescan: 12 * time.Second, intervalCPU: 5 * time.Second, rss: 50e6, db: dbFigures{size: 10e6}}
	r := growthRow(small, big)
	if r.agent != "12.0× (rescan wall time)" || r.met != yesNo(false) {
		t.Errorf("growth row %+v, want 12.0× (rescan wall time), not met", r)
	}
	big.rescan = 3 * time.Second
	if r := growthRow(small, big); r.agent != "10.0× (queue.db)" || r.met != "yes" {
		t.Errorf("growth row %+v, want 10.0× (queue.db), met", r)
	}
}
