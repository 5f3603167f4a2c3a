// Command vela-bench measures vela-agent as whole processes, each figure
// against a baseline measured in the same run, and prints a markdown report.
// `make bench` runs it.
//
//	vela-bench -bin bin [-out docs/benchmarks.md] [scaling flags]
//	vela-bench bare -api URL -token-file FILE [-concurrency N] DIR
//	vela-bench fill -jobs N STATEFILE
//	vela-bench filldone [-source NAME] [-at TIME] STATEFILE ROOT
//
// The first form runs every scenario on 127.0.0.1 against vela-devserver
// processes, in a temporary folder it removes afterwards. The others are
// run by the first as processes of their own: bare is the baseline
// uploader, measured exactly like the agent; fill writes a big queue, and
// filldone records a tree's files as uploaded, without growing the bench
// process, whose memory its children inherit when they start.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "bare":
		err = bareMain(ctx, os.Args[2:], os.Stdout, os.Stderr)
	case len(os.Args) > 1 && os.Args[1] == "fill":
		err = fillMain(os.Args[2:], os.Stderr)
	case len(os.Args) > 1 && os.Args[1] == "filldone":
		err = fillDoneMain(os.Args[2:], os.Stdout, os.Stderr)
	default:
		err = benchMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "vela-bench:", err)
		os.Exit(1)
	}
}

// errUsage reports bad flags; the flag package has printed why.
var errUsage = errors.New("usage")

// options scale and select what benchmarks run.
type options struct {
	bin          string        // folder holding vela-agent, vela-devserver and vela-bench
	out          string        // also write the report here
	tmp          string        // parent of the working folder
	keep         bool          // keep the working folder
	only         string        // comma-separated scenario names; "" = all
	runs         int           // runs of each side of every comparison, alternated
	concurrency  int           // upload.concurrency, and the bare uploader's
	files        int           // scenario throughput: how many files
	fileSize     byteSize      // ... of this size
	bigSize      byteSize      // scenario big: the one file's size
	discover     int           // scenario discover: files in the tree
	dirs         int           // ... spread over this many folders
	settle       time.Duration // ... the source's settle; also scenario describe's
	describe     int           // scenario describe: calls in the folder, rows in its manifest
	describeConc int           // ... the agent's upload.concurrency
	describeRuns int           // ... runs of each side, instead of runs
	jobs         int           // scenario startup: jobs in the store
	linger       time.Duration // ... how long the agent runs after start-up
	timeout      time.Duration // the longest any one process may run
	rusage       bool          // measure with rusage even where GNU time exists
	ftpList      int           // scenario ftp: files in the listed folder
	ftpFiles     int           // ... files moved by the pipeline, of each size
	ftpSize      byteSize      // ... the big files' size
	ftpSmallSize byteSize      // ... the small files' size
	ftpConns     int           // ... the source's max_connections
	zipFiles     int           // scenario zip: recordings in the ZIP
	zipFileSize  byteSize      // ... each of this size
	zipRuns      int           // ... runs of each side, instead of runs
	archiveFiles int           // scenario archive: files in the tree, all uploaded
	archiveSmall int           // ... files of the smaller archive, the first folders; 0 = none
	archiveDirs  int           // ... folders the files are spread over
	rescan       time.Duration // ... the source's rescan_interval
}

// scenarios lists the scenario names, in the order they run.
var scenarios = []string{"throughput", "big", "discover", "describe", "startup", "ftp", "zip", "archive"}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{fileSize: 1 << 20, bigSize: 1 << 30, ftpSize: 5e6, ftpSmallSize: 1e6, zipFileSize: 1 << 20}
	fs := flag.NewFlagSet("vela-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "bin", "`folder` holding vela-agent, vela-devserver and vela-bench (make build)")
	fs.StringVar(&o.out, "out", "", "also write the report to `file` (docs/benchmarks.md)")
	fs.StringVar(&o.tmp, "tmp", "", "make the working folder in `dir` (default: the system's temporary folder)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working folder")
	fs.StringVar(&o.only, "only", "", "run only these `scenarios`, comma-separated: "+strings.Join(scenarios, ", "))
	fs.IntVar(&o.runs, "runs", 5, "runs of each side of every comparison, alternated; the median is reported")
	fs.IntVar(&o.concurrency, "concurrency", 4, "uploads at a time, for the agent and the bare uploader")
	fs.IntVar(&o.files, "files", 1000, "throughput: how many files")
	fs.Var(&o.fileSize, "file-size", "throughput: each file's `size` (bytes, or with KB, MB, GB, KiB, MiB, GiB)")
	fs.Var(&o.bigSize, "big-size", "big: the one file's `size`")
	fs.IntVar(&o.discover, "discover", 100_000, "discover: files in the tree")
	fs.IntVar(&o.dirs, "discover-dirs", 100, "discover: folders the files are spread over")
	fs.DurationVar(&o.settle, "settle", time.Second, "discover, describe, archive: the source's settle time (part of the measured time)")
	fs.IntVar(&o.describe, "describe", 10_000, "describe: calls in the folder, and rows in its manifest")
	fs.IntVar(&o.describeConc, "describe-concurrency", 16, "describe: the agent's upload.concurrency (small files: more workers keep the run short)")
	fs.IntVar(&o.describeRuns, "describe-runs", 2, "describe: runs of each side, instead of -runs (each run moves every call)")
	fs.IntVar(&o.jobs, "jobs", 1_000_000, "startup: jobs in the store")
	fs.DurationVar(&o.linger, "linger", 3*time.Second, "startup: how long the agent runs after it started, before SIGTERM")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "the longest any one process may run")
	fs.IntVar(&o.ftpList, "ftp-list", 10_000, "ftp: files in the folder listed")
	fs.IntVar(&o.ftpFiles, "ftp-files", 200, "ftp: files the pipeline moves from vsftpd to storage, of each size")
	fs.Var(&o.ftpSize, "ftp-size", "ftp: the pipeline's big files' `size`")
	fs.Var(&o.ftpSmallSize, "ftp-small-size", "ftp: the pipeline's small files' `size`, for the RSS comparison")
	fs.IntVar(&o.ftpConns, "ftp-connections", 2, "ftp: the FTP source's max_connections (one lists, the others download)")
	fs.IntVar(&o.zipFiles, "zip-files", 1000, "zip: recordings in the bulk ZIP (and as loose files; a second ZIP holds a quarter of them)")
	fs.Var(&o.zipFileSize, "zip-file-size", "zip: each recording's `size`")
	fs.IntVar(&o.zipRuns, "zip-runs", 3, "zip: runs of each side, instead of -runs (each run moves every recording)")
	fs.IntVar(&o.archiveFiles, "archive-files", 1_000_000, "archive: files in the tree, every one already uploaded")
	fs.IntVar(&o.archiveSmall, "archive-small-files", 100_000, "archive: files of the smaller archive measured too, the tree's first folders (0: none)")
	fs.IntVar(&o.archiveDirs, "archive-dirs", 1000, "archive: folders the files are spread over, as many in each")
	fs.DurationVar(&o.rescan, "archive-rescan", 20*time.Second, "archive: the source's rescan_interval (each run waits for two rescans)")
	fs.BoolVar(&o.rusage, "rusage", false, "measure peak RSS and CPU time from the reaped process's rusage even if "+timePath+" exists")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vela-bench: unexpected arguments %q\n", fs.Args())
		return nil, errUsage
	}
	var bad []string
	check := func(ok bool, msg string) {
		if !ok {
			bad = append(bad, msg)
		}
	}
	check(o.runs >= 1, "-runs must be at least 1")
	check(o.concurrency >= 1 && o.concurrency <= 64, "-concurrency must be 1 to 64")
	check(o.files >= 1, "-files must be at least 1")
	check(o.fileSize >= 1, "-file-size must be at least 1 byte")
	check(o.bigSize >= 1, "-big-size must be at least 1 byte")
	check(o.discover >= 1 && o.dirs >= 1, "-discover and -discover-dirs must be at least 1")
	check(o.describe >= 1 && o.describeRuns >= 1, "-describe and -describe-runs must be at least 1")
	check(o.describeConc >= 1 && o.describeConc <= 64, "-describe-concurrency must be 1 to 64")
	check(o.jobs >= 1, "-jobs must be at least 1")
	check(o.ftpList >= 1 && o.ftpFiles >= 1, "-ftp-list and -ftp-files must be at least 1")
	check(o.ftpSize >= 1 && o.ftpSmallSize >= 1 && o.ftpSize != o.ftpSmallSize, "-ftp-size and -ftp-small-size must be at least 1 byte and differ")
	check(o.ftpConns >= 1, "-ftp-connections must be at least 1")
	check(o.zipFiles >= 4 && o.zipRuns >= 1, "-zip-files must be at least 4 (a second ZIP holds a quarter of them) and -zip-runs at least 1")
	check(o.zipFileSize >= audiotest.HeaderLen+64 && o.zipFileSize <= 1<<30, "-zip-file-size must be 108 bytes to 1 GiB (a WAV recording Vela takes)")
	check(int64(o.zipFiles)*int64(o.zipFileSize) <= 3<<30-64<<20, "-zip-files × -zip-file-size must leave the ZIP under 3 GiB, the most Vela takes")
	check(o.archiveFiles >= 1 && o.archiveDirs >= 1 && o.archiveDirs <= o.archiveFiles && o.archiveFiles%o.archiveDirs == 0,
		"-archive-files must be a multiple of -archive-dirs, both at least 1")
	check(o.archiveSmall >= 0 && o.archiveSmall < o.archiveFiles && o.archiveSmall%max(o.archiveFiles/max(o.archiveDirs, 1), 1) == 0,
		"-archive-small-files must be 0, or fewer than -archive-files and a multiple of the files in each folder (-archive-files ÷ -archive-dirs)")
	check(o.rescan > 0 && o.rescan >= o.settle, "-archive-rescan must be positive and at least -settle")
	check(o.timeout > 0, "-timeout must be positive")
	for _, s := range o.selected() {
		check(slices.Contains(scenarios, s), fmt.Sprintf("-only: unknown scenario %q", s))
	}
	if len(bad) > 0 {
		fmt.Fprintln(stderr, "vela-bench:", strings.Join(bad, "; "))
		return nil, errUsage
	}
	return o, nil
}

// selected returns the scenarios to run.
func (o *options) selected() []string {
	if o.only == "" {
		return scenarios
	}
	var out []string
	for _, s := range strings.Split(o.only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// benchMain runs the selected scenarios and prints the report. It fails if
// any scenario could not be measured; a missed target is not a failure.
// analysisHeading starts the part of the report file that is written by
// hand and kept when the figures are rewritten.
const analysisHeading = "## Analysis"

func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, o, stderr)
	if err != nil {
		return err
	}
	defer b.close()

	began := time.Now()
	rep := &report{opts: o, meter: b.meter.String()}
	var failed []string
	for _, name := range o.selected() {
		b.say("scenario %s", name)
		sec := b.run(name)
		rep.sections = append(rep.sections, sec)
		if sec.err != nil {
			b.say("scenario %s failed: %v", name, sec.err)
			failed = append(failed, name)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	rep.took = time.Since(began)
	rep.machine = describeMachine(ctx, o.bin)

	text := rep.markdown()
	if _, err := io.WriteString(stdout, text); err != nil {
		return err
	}
	if o.out != "" {
		// A hand-written analysis at the end of the file outlives the
		// figures it discusses being measured again.
		if old, err := os.ReadFile(o.out); err == nil {
			if i := bytes.Index(old, []byte("\n"+analysisHeading)); i >= 0 {
				text = strings.TrimRight(text, "\n") + "\n" + string(old[i:])
			}
		}
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
		b.say("report written to %s", o.out)
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenario(s) not measured: %s", strings.Join(failed, ", "))
	}
	return nil
}
