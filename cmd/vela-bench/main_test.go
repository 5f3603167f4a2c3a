package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSmoke builds the binaries and runs every scenario at a tiny size. It
// checks that the report has every row, never what the figures are.
func TestSmoke(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the bench runs on Unix systems")
	}
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binaries with")
	}
	bin := t.TempDir()
	build := exec.Command(gotool, "build", "-o", bin+string(filepath.Separator),
		"github.com/vela-agent/vela-agent/cmd/vela-agent",
		"github.com/vela-agent/vela-agent/cmd/vela-devserver",
		"github.com/vela-agent/vela-agent/cmd/vela-bench")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The ftp scenario needs vsftpd, root and curl; without them the
	// others run.
	only, ftpRows := strings.Join(scenarios, ","), true
	if _, err := os.Stat("/usr/sbin/vsftpd"); err != nil || os.Geteuid() != 0 || runtime.GOOS != "linux" {
		only, ftpRows = "throughput,big,discover,describe,startup,zip,archive", false
		t.Log("scenario ftp not run: it needs Linux, root and /usr/sbin/vsftpd")
	} else if _, err := exec.LookPath("curl"); err != nil {
		only, ftpRows = "throughput,big,discover,describe,startup,zip,archive", false
		t.Log("scenario ftp not run: no curl")
	}

	out := filepath.Join(t.TempDir(), "benchmarks.md")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err = benchMain(ctx, []string{
		"-bin", bin, "-tmp", t.TempDir(), "-out", out, "-runs", "2",
		"-files", "3", "-file-size", "10KB", "-big-size", "2MiB",
		"-discover", "60", "-discover-dirs", "4", "-settle", "200ms",
		"-describe", "30",
		"-jobs", "500", "-linger", "100ms", "-timeout", "1m",
		"-zip-files", "8", "-zip-file-size", "10KB", "-zip-runs", "1",
		"-ftp-list", "50", "-ftp-files", "3", "-ftp-size", "200KB", "-ftp-small-size", "10KB",
		"-archive-files", "60", "-archive-small-files", "20", "-archive-dirs", "6", "-archive-rescan", "500ms",
		"-only", only,
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench: %v\nprogress:\n%s\nreport:\n%s", err, stderr.String(), stdout.String())
	}
	report := stdout.String()
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(written) != report {
		t.Errorf("-out wrote something else than the report printed")
	}
	for _, want := range []string{
		"| scenario | agent | baseline | ratio | target | met? |",
		"| Throughput: 3 files of 10 KB, concurrency 4 |",
		"| One file of 2 MiB: throughput |",
		"| One file of 2 MiB: peak RSS |",
		"| discover and queue 60 files (settle 200ms included) |",
		"| describe and upload 30 calls named by a 30-row manifest (settle 200ms included) |",
		"| CPU time, 30 calls with a 30-row manifest |",
		"| manifest parses while describing 30 calls, at least: opens of metadata.csv seen |",
		"| manifest parses while describing 30 calls, at most: extra CPU time ÷ one parse |",
		"| peak RSS, 30 calls with a 30-row manifest |",
		"| start-up with 500 queued jobs |",
		"| peak RSS with 500 queued jobs |",
		"| bulk ZIP of 8 recordings of 10 KB (",
		"| bulk ZIP of 8 recordings of 10 KB: until its recordings are done |",
		"| bulk ZIP of 8 recordings of 10 KB: CPU time |",
		"| bulk ZIP of 8 recordings of 10 KB: peak RSS |",
		"| archive of 20 files uploaded: start-up |",
		"| archive of 60 files uploaded: one rescan, wall time |",
		"| archive of 60 files uploaded: one rescan, CPU time (a whole rescan interval) |",
		"| archive of 60 files uploaded: steady RSS after two rescans |",
		"| archive of 60 files uploaded: queue.db |",
		"| archive of 60 files uploaded: queue.db after `vela-agent state compact` |",
		"| archive of 60 files uploaded: files offered again | 0 jobs added, 0 presigns, 0 uploads |",
		"| archive growth, 20 → 60 files: ",
		"- machine: ",
		"- commit: ",
		"- Go: " + runtime.Version(),
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report has no %q", want)
		}
	}
	if ftpRows {
		for _, want := range []string{
			"| FTP: list 50 files (the source's first poll) |",
			"| FTP: list and offer 50 files (two polls, an MDTM each) |",
			"| FTP pipeline: 3 files of 200 KB, vsftpd → storage |",
			"| FTP pipeline: 3 files of 10 KB, vsftpd → storage |",
			"| FTP pipeline: peak RSS, 3 files of 200 KB |",
		} {
			if !strings.Contains(report, want) {
				t.Errorf("the report has no %q", want)
			}
		}
	}
	if strings.Contains(report, "not measured") {
		t.Errorf("the report says something was not measured:\n%s", report)
	}
	if t.Failed() {
		t.Logf("report:\n%s", report)
	}
}

func TestParseClock(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0:01.23", 1230 * time.Millisecond, true},
		{"2:03.50", 2*time.Minute + 3500*time.Millisecond, true},
		{"1:02:03", time.Hour + 2*time.Minute + 3*time.Second, true},
		{"12", 0, false},
		{"a:b", 0, false},
	} {
		got, err := parseClock(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseClock(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestReadTimeReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "time")
	report := `	Command being timed: "vela-agent run -c x.yaml"
	User time (seconds): 1.25
	System time (seconds): 0.50
	Percent of CPU this job got: 12%
	Elapsed (wall clock) time (h:mm:ss or m:ss): 0:14.02
	Maximum resident set size (kbytes): 11660
	Exit status: 0
`
	if err := os.WriteFile(path, []byte(report), 0o644); err != nil {
		t.Fatal(err)
	}
	var u usage
	if err := readTimeReport(path, &u); err != nil {
		t.Fatal(err)
	}
	want := usage{cpu: 1750 * time.Millisecond, elapsed: 14020 * time.Millisecond, maxRSS: 11660 << 10}
	if u != want {
		t.Errorf("got %+v, want %+v", u, want)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want byteSize
		str  string
	}{
		{"1MiB", 1 << 20, "1 MiB"},
		{"1 GiB", 1 << 30, "1 GiB"},
		{"10KB", 10_000, "10 KB"},
		{"1000000000", 1e9, "1 GB"},
		{"1234", 1234, "1234 B"},
	} {
		var s byteSize
		if err := s.Set(tc.in); err != nil || s != tc.want || s.String() != tc.str {
			t.Errorf("Set(%q) = %d (%s), %v; want %d (%s)", tc.in, s, s, err, tc.want, tc.str)
		}
	}
	var s byteSize
	if err := s.Set("1 TB"); err == nil {
		t.Errorf("Set(1 TB) succeeded")
	}
}

func TestMedian(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median of 3 = %v", got)
	}
	if got := median([]int64{4, 1, 3, 2}); got != 2 {
		t.Errorf("median of 4 = %v", got) // (2+3)/2 in integers
	}
	if got := median[float64](nil); got != 0 {
		t.Errorf("median of none = %v", got)
	}
}
