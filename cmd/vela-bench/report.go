package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// section is what one scenario found: rows of the summary table, notes on
// its method and every run.
type section struct {
	name  string
	title string
	rows  []row
	notes []string // markdown paragraphs
	runs  []runRecord
	err   error
}

// row is one line of the summary table.
type row struct {
	scenario        string
	agent, baseline string
	ratio           float64 // agent ÷ baseline; 0 = none
	target, met     string
}

// runRecord is one process run, or one timed walk.
type runRecord struct {
	what   string
	u      usage
	figure string // what the run measured, formatted
}

// report is the whole markdown report.
type report struct {
	opts     *options
	meter    string
	machine  machine
	sections []*section
	took     time.Duration
}

func (r *report) markdown() string {
	var w strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&w, format+"\n", args...) }
	m := r.machine
	p("# Benchmarks")
	p("")
	p("Whole-process benchmarks of vela-agent, written by `cmd/vela-bench` (`make bench` runs it after `make build`; `bin/vela-bench -bin bin -out docs/benchmarks.md` rewrites this file). " +
		"Every figure is compared with a baseline measured in the same run on the same machine, and every process talks to servers on 127.0.0.1 only.")
	p("")
	p("- date: %s", m.date)
	p("- machine: %d CPUs (nproc), %s, %s memory, %s", m.nproc, m.cpu, m.memory, m.os)
	p("- Go: %s", m.goVersion)
	p("- commit: %s", m.commit)
	p("- agent: %s", m.agent)
	p("- peak RSS and CPU time measured with %s", r.meter)
	p("- the whole run took %v", r.took.Round(time.Second))
	p("- flags: `%s`", r.opts.flagLine())
	p("")
	p("## Results")
	p("")
	p("| scenario | agent | baseline | ratio | target | met? |")
	p("|---|---|---|---|---|---|")
	for _, s := range r.sections {
		if s.err != nil && len(s.rows) == 0 {
			p("| %s | not measured | | | | no (see below) |", s.name)
		}
		for _, row := range s.rows {
			ratio := ""
			if row.ratio > 0 {
				ratio = fmt.Sprintf("%.2f×", row.ratio)
			}
			p("| %s | %s | %s | %s | %s | %s |", row.scenario, row.agent, row.baseline, ratio, row.target, row.met)
		}
	}
	p("")
	p("Ratio is agent ÷ baseline. MB is 10⁶ bytes, MiB 2²⁰ bytes; RSS is the process's peak resident set size.")
	p("")
	p("## Method")
	for _, s := range r.sections {
		p("")
		title := s.title
		if title == "" {
			title = s.name
		}
		p("### %s", title)
		p("")
		if s.err != nil {
			p("**Not measured:**")
			p("")
			p("```")
			p("%s", s.err)
			p("```")
			p("")
		}
		for _, n := range s.notes {
			p("- %s", n)
		}
		if len(s.runs) == 0 {
			continue
		}
		p("")
		p("| run | result | wall time | CPU (user + sys) | peak RSS |")
		p("|---|---|---|---|---|")
		for _, run := range s.runs {
			cpu, rss := "", ""
			if run.u.cpu > 0 || run.u.maxRSS > 0 { // measured, not a walk
				cpu = seconds(run.u.cpu)
			}
			if run.u.maxRSS > 0 {
				rss = megabytes(run.u.maxRSS)
			}
			p("| %s | %s | %s | %s | %s |", run.what, run.figure, seconds(run.u.wall), cpu, rss)
		}
	}
	return w.String()
}

// flagLine returns the flags the bench ran with, as a command line.
func (o *options) flagLine() string {
	return fmt.Sprintf("-runs %d -concurrency %d -files %d -file-size %s -big-size %s -discover %d -discover-dirs %d -settle %v -describe %d -describe-concurrency %d -describe-runs %d -jobs %d -linger %v -ftp-list %d -ftp-files %d -ftp-size %s -ftp-small-size %s -ftp-connections %d -zip-files %d -zip-file-size %s -zip-runs %d -archive-files %d -archive-small-files %d -archive-dirs %d -archive-rescan %v",
		o.runs, o.concurrency, o.files, o.fileSize, o.bigSize, o.discover, o.dirs, o.settle, o.describe, o.describeConc, o.describeRuns, o.jobs, o.linger, o.ftpList, o.ftpFiles, o.ftpSize, o.ftpSmallSize, o.ftpConns, o.zipFiles, o.zipFileSize, o.zipRuns, o.archiveFiles, o.archiveSmall, o.archiveDirs, o.rescan)
}

// throughputRow compares upload throughputs of total bytes.
func throughputRow(scenario string, total int64, agent, bare []usage) row {
	a, b := median(throughputs(total, agent)), median(throughputs(total, bare))
	return row{
		scenario: scenario,
		agent:    fmt.Sprintf("%.1f MB/s", a),
		baseline: fmt.Sprintf("%.1f MB/s (bare uploader)", b),
		ratio:    ratio(a, b),
		target:   fmt.Sprintf("≥ %.2f × baseline", targetThroughput),
		met:      yesNo(a >= targetThroughput*b),
	}
}

// rssRow compares peak RSS, in bytes; 0 is unknown.
func rssRow(scenario string, agent, base int64, baseName string, target float64) row {
	met := "unknown"
	if agent > 0 {
		met = yesNo(float64(agent) < target)
	}
	return row{
		scenario: scenario,
		agent:    megabytes(agent),
		baseline: megabytes(base) + " (" + baseName + ")",
		ratio:    ratio(float64(agent), float64(base)),
		target:   fmt.Sprintf("< %g MB", target/1e6),
		met:      met,
	}
}

func throughputs(total int64, us []usage) []float64 {
	out := make([]float64, len(us))
	for i, u := range us {
		out[i] = megabytesPerSecond(total, u.wall)
	}
	return out
}

func rssOf(us []usage) []int64 {
	out := make([]int64, len(us))
	for i, u := range us {
		out[i] = u.maxRSS
	}
	return out
}

func megabytesPerSecond(bytes int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(bytes) / d.Seconds() / 1e6
}

// median returns the median of v, the mean of the middle two for an even
// count, or zero for none.
func median[T ~int64 | ~float64](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := append([]T(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return a / b
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func seconds(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.3f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

func megabytes(n int64) string {
	if n <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// count formats n with thousands separators: 100,000.
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// byteSize is a size flag: bytes, or a number with KB, MB, GB (powers of
// 1000) or KiB, MiB, GiB (powers of 1024).
type byteSize int64

var sizeUnits = []struct {
	suffix string
	n      int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

func (s *byteSize) Set(v string) error {
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want bytes, or a number with KB, MB, GB, KiB, MiB or GiB")
	}
	*s = byteSize(n * mult)
	return nil
}

func (s byteSize) String() string {
	n := int64(s)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"GiB", 1 << 30}, {"GB", 1e9}, {"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3}} {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + " " + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + " B"
}

// machine describes where the bench ran.
type machine struct {
	date, cpu, memory, os, goVersion, commit, agent string
	nproc                                           int
}

func describeMachine(ctx context.Context, bin string) machine {
	m := machine{
		date:      time.Now().Format("2006-01-02 15:04 MST"),
		nproc:     runtime.NumCPU(),
		cpu:       "CPU model unknown",
		memory:    "unknown",
		os:        runtime.GOOS + "/" + runtime.GOARCH,
		goVersion: runtime.Version(),
		commit:    "unknown",
		agent:     "unknown",
	}
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		m.cpu = v
	}
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		if kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64); err == nil {
			m.memory = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	if out, err := exec.CommandContext(ctx, "git", "-C", bin, "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "-C", bin, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			m.commit += " (the working tree had uncommitted changes)"
		}
	}
	if out, err := exec.CommandContext(ctx, exe(bin, "vela-agent"), "version").Output(); err == nil {
		m.agent = strings.TrimSpace(string(out))
	}
	return m
}

// procField returns the value of the first "key : value" line of a /proc
// file, or "". Linux only.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
