package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vela-agent/vela-agent/cmd/internal/loopback"
	"github.com/vela-agent/vela-agent/store"
)

// Targets, from the issue that asked for these benchmarks.
const (
	targetThroughput = 0.95  // agent ÷ bare uploader, at least
	targetBigRSS     = 60e6  // bytes, below
	targetDiscover   = 10.0  // seconds, below
	targetStartup    = 2.0   // seconds, below
	targetStartupRSS = 100e6 // bytes, below
)

// maxFileSize is the devserver's -max-file-size in every scenario: the
// largest object S3 takes, so that no policy refuses a file.
const maxFileSize = 5 << 30

// throughput compares `vela-agent push` of many files with the bare
// uploader.
func (b *bench) throughput(sec *section) error {
	n, size := b.o.files, int64(b.o.fileSize)
	sec.title = fmt.Sprintf("Throughput: %s files of %s", count(n), b.o.fileSize)
	dir, err := b.mkdir("throughput", "files")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	began := time.Now()
	if err := writeFiles(dir, n, size); err != nil {
		return err
	}
	b.say("wrote %d files of %v in %v", n, b.o.fileSize, time.Since(began).Round(time.Millisecond))
	total := int64(n) * size
	agent, bare, err := b.compareUploads(sec, "throughput", dir, n, total, nil)
	if err != nil {
		return err
	}
	sec.rows = append(sec.rows, throughputRow(sec.title+", concurrency "+strconv.Itoa(b.o.concurrency), total, agent, bare))
	sec.notes = append(sec.notes,
		fmt.Sprintf("%s files of %s (one random MiB repeated, each file's number at its start) in one folder, read from the page cache.", count(n), b.o.fileSize),
		uploadMethod(b.o, "objects in memory"),
	)
	return nil
}

// big compares `vela-agent push` of one big file with the bare uploader,
// and reports the agent's peak RSS.
func (b *bench) big(sec *section) error {
	size := int64(b.o.bigSize)
	sec.title = fmt.Sprintf("One file of %s", b.o.bigSize)
	dir, err := b.mkdir("big", "files")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	began := time.Now()
	if err := writeFiles(dir, 1, size); err != nil {
		return err
	}
	b.say("wrote a file of %v in %v", b.o.bigSize, time.Since(began).Round(time.Millisecond))
	onDisk := func(runDir string) []string { return []string{"-dir", filepath.Join(runDir, "s3")} }
	agent, bare, err := b.compareUploads(sec, "big", dir, 1, size, onDisk)
	if err != nil {
		return err
	}
	sec.rows = append(sec.rows,
		throughputRow(sec.title+": throughput", size, agent, bare),
		rssRow(sec.title+": peak RSS", median(rssOf(agent)), median(rssOf(bare)), "bare uploader", targetBigRSS),
	)
	sec.notes = append(sec.notes,
		fmt.Sprintf("One file of %s (one random MiB repeated), read from the page cache.", b.o.bigSize),
		uploadMethod(b.o, "objects on disk (`-dir`), so that the devserver does not hold the file in memory"),
		"The RSS baseline is the bare uploader's peak RSS in the same runs: what streaming the file costs a plain Go program.",
	)
	return nil
}

// uploadMethod describes how compareUploads measures.
func uploadMethod(o *options, store string) string {
	return fmt.Sprintf("Each run starts a fresh `vela-devserver` (%s, `-log-level warn`), then one process uploads every file to it: "+
		"the baseline is `vela-bench bare` (a presign per file, then a multipart POST streamed with `io.MultiReader` and an exact Content-Length, plain `net/http`, %d at a time); "+
		"the agent is `vela-agent push -q DIR` with a fresh `state_dir` and `upload.concurrency: %d`, the service's queue and workers. "+
		"Throughput is the bytes of the files ÷ the process's wall time from start to exit (sign-in, presigns, queueing and exit included). "+
		"The sides alternate (baseline, agent, baseline, agent…), %d run(s) each; the median is reported. "+
		"After each run the bench checks the devserver stored every file, and syncs the disks.",
		store, o.concurrency, o.concurrency, o.runs)
}

// compareUploads uploads the files under dir with the bare uploader and
// with `vela-agent push`, alternately, b.o.runs times each. Each run gets a
// fresh devserver, started with devArgs(runDir) if devArgs is set, and
// must store all n files, total bytes. It returns each side's usage.
func (b *bench) compareUploads(sec *section, name, dir string, n int, total int64, devArgs func(runDir string) []string) (agent, bare []usage, err error) {
	for i := 1; i <= b.o.runs; i++ {
		for _, side := range []string{"bare", "agent"} {
			u, err := b.uploadRun(name, side, i, dir, n, total, devArgs)
			if err != nil {
				return nil, nil, err
			}
			mbps := megabytesPerSecond(total, u.wall)
			what := "bare uploader"
			if side == "agent" {
				what, agent = "vela-agent push", append(agent, u)
			} else {
				bare = append(bare, u)
			}
			sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("%s, run %d", what, i), u: u, figure: fmt.Sprintf("%.1f MB/s", mbps)})
			b.say("%s run %d, %s: %.1f MB/s, %v, CPU %v, peak RSS %s", name, i, what, mbps,
				u.wall.Round(time.Millisecond), u.cpu.Round(time.Millisecond), megabytes(u.maxRSS))
		}
	}
	return agent, bare, nil
}

// uploadRun is one run of compareUploads.
func (b *bench) uploadRun(name, side string, i int, dir string, n int, total int64, devArgs func(runDir string) []string) (usage, error) {
	runDir, err := b.mkdir(name, fmt.Sprintf("%s-%d", side, i))
	if err != nil {
		return usage{}, err
	}
	defer func() {
		os.RemoveAll(runDir)
		syncDisks()
	}()
	args := []string{"-max-file-size", strconv.FormatInt(maxFileSize, 10)}
	if devArgs != nil {
		args = append(args, devArgs(runDir)...)
	}
	dev, err := b.startDevserver(runDir, args...)
	if err != nil {
		return usage{}, err
	}
	defer dev.stop()

	var argv []string
	if side == "bare" {
		argv = []string{exe(b.o.bin, "vela-bench"), "bare", "-api", dev.url(), "-org", orgID,
			"-token-file", dev.tokenFile, "-concurrency", strconv.Itoa(b.o.concurrency), dir}
	} else {
		watched, err := b.mkdir(name, fmt.Sprintf("%s-%d", side, i), "watched")
		if err != nil {
			return usage{}, err
		}
		cfg := filepath.Join(runDir, "vela-agent.yaml")
		err = b.writeAgentConfig(cfg, agentConfig{dev: dev, stateDir: filepath.Join(runDir, "state"), source: watched, settle: time.Second})
		if err != nil {
			return usage{}, err
		}
		argv = []string{exe(b.o.bin, "vela-agent"), "push", "-q", "-c", cfg, dir}
	}
	p, err := b.start(name+" "+side, filepath.Join(runDir, side+".log"), true, argv...)
	if err != nil {
		return usage{}, err
	}
	u, err := p.wait(b.ctx, b.o.timeout)
	if err != nil {
		return u, err
	}
	if err := dev.checkStored(n, total); err != nil {
		return u, fmt.Errorf("%s %s run %d: %w", name, side, i, err)
	}
	return u, nil
}

// discoverScenario times how long `vela-agent run` takes to find and queue
// a big tree, against a bare walk of it.
func (b *bench) discoverScenario(sec *section) error {
	n := b.o.discover
	sec.title = fmt.Sprintf("Discovery: %s files in %s folders", count(n), count(min(b.o.dirs, n)))
	root, err := b.mkdir("discover", "tree")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	began := time.Now()
	if err := writeTree(root, n, b.o.dirs); err != nil {
		return err
	}
	b.say("wrote %d files in %d folders in %v", n, min(b.o.dirs, n), time.Since(began).Round(time.Millisecond))

	dev, err := b.startPausedDevserver("discover")
	if err != nil {
		return err
	}
	defer dev.stop()

	var agent, walk []time.Duration
	var rss []int64
	for i := 1; i <= b.o.runs; i++ {
		began := time.Now()
		found, err := walkTree(root)
		if err != nil {
			return err
		}
		if found != n {
			return fmt.Errorf("the walk found %d files, want %d", found, n)
		}
		w := time.Since(began)
		walk = append(walk, w)
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("bare walk, run %d", i), u: usage{wall: w}, figure: seconds(w)})

		d, u, err := b.discoverRun(dev, root, i)
		if err != nil {
			return err
		}
		agent, rss = append(agent, d), append(rss, u.maxRSS)
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-agent run, run %d", i), u: u, figure: seconds(d) + " to queue all"})
		b.say("discover run %d: walk %v, agent %v (peak RSS %s)", i, w.Round(time.Millisecond), d.Round(time.Millisecond), megabytes(u.maxRSS))
	}
	a, w := median(agent), median(walk)
	sec.rows = append(sec.rows, row{
		scenario: fmt.Sprintf("discover and queue %s files (settle %v included)", count(n), b.o.settle),
		agent:    seconds(a),
		baseline: seconds(w) + " (bare walk)",
		ratio:    ratio(a.Seconds(), w.Seconds()),
		target:   fmt.Sprintf("< %g s", targetDiscover),
		met:      yesNo(a.Seconds() < targetDiscover),
	})
	sec.notes = append(sec.notes,
		fmt.Sprintf("%s files of about 40 bytes, named `*.wav`, spread over %s folders, created once; every run reads them from the page cache.", count(n), count(min(b.o.dirs, n))),
		fmt.Sprintf("Agent: `vela-agent run` with one source on the tree (`settle: %v`, `rescan_interval: 5m`) and a fresh `state_dir` per run. "+
			"The devserver starts with no minutes allocated, so the agent's first presigns are refused with `Allocation exceeded`, call uploads pause and every job stays in the queue. "+
			"The bench polls `/status` every 100 ms and takes the time from the process's start until its counts sum to %s. "+
			"**The settle time (%v) is part of the agent's time**: no file may be queued before it has been seen unchanged for that long.", b.o.settle, count(n), b.o.settle),
		"Baseline: a walk of the same tree in the bench process itself (`os.ReadDir` of every folder and `Info` of every entry), the least any discovery must do; it alternates with the agent's runs.",
		fmt.Sprintf("The agent's peak RSS after queueing them: %s (median).", megabytes(median(rss))),
	)
	return nil
}

// discoverRun runs the agent on the tree once and returns how long it took
// to queue every file.
func (b *bench) discoverRun(dev *devserver, root string, i int) (time.Duration, usage, error) {
	runDir, err := b.mkdir("discover", fmt.Sprintf("agent-%d", i))
	if err != nil {
		return 0, usage{}, err
	}
	defer os.RemoveAll(runDir)
	ports, err := loopback.FreeAddrs(1)
	if err != nil {
		return 0, usage{}, err
	}
	cfg := filepath.Join(runDir, "vela-agent.yaml")
	err = b.writeAgentConfig(cfg, agentConfig{dev: dev, stateDir: filepath.Join(runDir, "state"), source: root, settle: b.o.settle, status: ports[0]})
	if err != nil {
		return 0, usage{}, err
	}
	p, err := b.start("vela-agent run", filepath.Join(runDir, "agent.log"), true, exe(b.o.bin, "vela-agent"), "run", "-c", cfg)
	if err != nil {
		return 0, usage{}, err
	}
	at, perr := b.pollStatus(p, ports[0], b.o.discover, 100*time.Millisecond, b.o.timeout)
	u, err := p.stop(30 * time.Second)
	if perr != nil {
		return 0, u, perr
	}
	return at.Sub(p.started), u, err
}

// startPausedDevserver starts a devserver with no minutes allocated
// (-allocation 0), so that every presign is refused with "Allocation
// exceeded" and the agent pauses call uploads, keeping its queue.
func (b *bench) startPausedDevserver(scenario string) (*devserver, error) {
	dir, err := b.mkdir(scenario, "devserver")
	if err != nil {
		return nil, err
	}
	dev, err := b.startDevserver(dir, "-allocation", "0", "-max-file-size", strconv.FormatInt(maxFileSize, 10))
	if err != nil {
		return nil, err
	}
	if err := dev.checkPaused(b.ctx); err != nil {
		dev.stop()
		return nil, err
	}
	return dev, nil
}

// startup times `vela-agent run` with a store full of queued jobs against
// one with an empty store, and reports their peak RSS.
func (b *bench) startup(sec *section) error {
	n := b.o.jobs
	sec.title = fmt.Sprintf("Start-up with %s queued jobs", count(n))
	full, err := b.mkdir("startup", "full")
	if err != nil {
		return err
	}
	empty, err := b.mkdir("startup", "empty")
	if err != nil {
		return err
	}
	var filled time.Duration
	for _, c := range []struct {
		dir  string
		jobs int
	}{{full, n}, {empty, 0}} {
		p, err := b.start("vela-bench fill", filepath.Join(c.dir, "fill.log"), false,
			exe(b.o.bin, "vela-bench"), "fill", "-jobs", strconv.Itoa(c.jobs), filepath.Join(c.dir, "queue.db"))
		if err != nil {
			return err
		}
		u, err := p.wait(b.ctx, b.o.timeout)
		if err != nil {
			return err
		}
		if c.jobs > 0 {
			filled = u.wall
		}
	}
	b.say("filled a store with %d jobs in %v", n, filled.Round(time.Millisecond))
	dbSize := int64(0)
	if fi, err := os.Stat(filepath.Join(full, "queue.db")); err == nil {
		dbSize = fi.Size()
	}
	watched, err := b.mkdir("startup", "watched")
	if err != nil {
		return err
	}
	dev, err := b.startPausedDevserver("startup")
	if err != nil {
		return err
	}
	defer dev.stop()

	var fullT, emptyT []time.Duration
	var fullRSS, emptyRSS []int64
	for i := 1; i <= b.o.runs; i++ {
		for _, c := range []struct {
			name, dir string
			jobs      int
		}{{"empty", empty, 0}, {"full", full, n}} {
			d, u, err := b.startupRun(dev, c.name, c.dir, watched, c.jobs, i)
			if err != nil {
				return err
			}
			what := "empty store"
			if c.jobs > 0 {
				what = count(c.jobs) + " jobs"
				fullT, fullRSS = append(fullT, d), append(fullRSS, u.maxRSS)
			} else {
				emptyT, emptyRSS = append(emptyT, d), append(emptyRSS, u.maxRSS)
			}
			sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-agent run, %s, run %d", what, i), u: u, figure: seconds(d) + " to start"})
			b.say("startup run %d, %s: %v to start, peak RSS %s", i, what, d.Round(time.Millisecond), megabytes(u.maxRSS))
		}
	}
	f, e := median(fullT), median(emptyT)
	sec.rows = append(sec.rows,
		row{
			scenario: fmt.Sprintf("start-up with %s queued jobs", count(n)),
			agent:    seconds(f),
			baseline: seconds(e) + " (empty store)",
			ratio:    ratio(f.Seconds(), e.Seconds()),
			target:   fmt.Sprintf("< %g s", targetStartup),
			met:      yesNo(f.Seconds() < targetStartup),
		},
		rssRow(fmt.Sprintf("peak RSS with %s queued jobs", count(n)), median(fullRSS), median(emptyRSS), "empty store", targetStartupRSS),
	)
	sec.notes = append(sec.notes,
		fmt.Sprintf("`vela-bench fill` (a process of its own) wrote %s queued call jobs of source `%s` with `store.Fill` (%v; the state file is %s), then `store.Open` + `SetGate(calls)` paused both stores, so the agent starts paused. "+
			"The devserver has no minutes allocated, so the agent's first check of the organisation finds no minutes and it stays paused.",
			count(n), sourceName, filled.Round(100*time.Millisecond), megabytes(dbSize)),
		fmt.Sprintf("Each run starts `vela-agent run` on the store (one source on an empty folder) and polls `/status` every 5 ms; start-up is the time from the process's start until `/status` answers 200 with counts summing to the jobs in the store. "+
			"The agent then runs %v more before SIGTERM, and its peak RSS is read when it exits. Baseline: the same with an empty store. Empty and full alternate, %d run(s) each, on the same two state files; the median is reported.",
			b.o.linger, b.o.runs),
	)
	return nil
}

// checkPaused checks that the agent on addr is still paused with all of
// its jobs: otherwise it was working while it was measured.
func checkPaused(addr string, jobs int) error {
	st, err := readStatus(addr)
	switch {
	case err != nil:
		return fmt.Errorf("vela-agent run: status after the run: %w", err)
	case len(st.paused) == 0:
		return errors.New("vela-agent run: the agent was not paused: it worked on its jobs while it was measured")
	case st.jobs != jobs:
		return fmt.Errorf("vela-agent run: the store holds %d jobs, want %d", st.jobs, jobs)
	}
	return nil
}

// fillMain is `vela-bench fill`: it adds queued call jobs of the bench's
// source to a state file with store.Fill, then pauses call uploads in it,
// so that an agent started on it keeps every job queued.
func fillMain(args []string, stderr io.Writer) error {
	flags := flag.NewFlagSet("vela-bench fill", flag.ContinueOnError)
	flags.SetOutput(stderr)
	jobs := flags.Int("jobs", 0, "how many jobs to add")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if flags.NArg() != 1 || *jobs < 0 {
		fmt.Fprintln(stderr, "usage: vela-bench fill -jobs N STATEFILE")
		return errUsage
	}
	path := flags.Arg(0)
	if err := store.Fill(path, *jobs, sourceName); err != nil {
		return err
	}
	s, err := store.Open(path, store.Options{})
	if err != nil {
		return err
	}
	if err := s.SetGate(store.Gate{Name: "calls", Reason: "bench", Since: time.Now()}); err != nil {
		s.Close()
		return err
	}
	return s.Close()
}

// startupRun starts the agent on stateDir, waits until its status shows
// jobs jobs, lets it run b.o.linger more and stops it.
func (b *bench) startupRun(dev *devserver, name, stateDir, watched string, jobs, i int) (time.Duration, usage, error) {
	ports, err := loopback.FreeAddrs(1)
	if err != nil {
		return 0, usage{}, err
	}
	cfg := filepath.Join(b.dir, "startup", fmt.Sprintf("%s-%d.yaml", name, i))
	err = b.writeAgentConfig(cfg, agentConfig{dev: dev, stateDir: stateDir, source: watched, settle: time.Second, status: ports[0]})
	if err != nil {
		return 0, usage{}, err
	}
	p, err := b.start("vela-agent run", filepath.Join(b.dir, "startup", fmt.Sprintf("%s-%d.log", name, i)), true, exe(b.o.bin, "vela-agent"), "run", "-c", cfg)
	if err != nil {
		return 0, usage{}, err
	}
	at, perr := b.pollStatus(p, ports[0], jobs, 5*time.Millisecond, b.o.timeout)
	if perr == nil {
		t := time.NewTimer(b.o.linger)
		select {
		case <-t.C:
		case <-b.ctx.Done():
			t.Stop()
			perr = b.ctx.Err()
		}
	}
	if perr == nil {
		perr = checkPaused(ports[0], jobs)
	}
	u, err := p.stop(30 * time.Second)
	if perr != nil {
		return 0, u, perr
	}
	return at.Sub(p.started), u, err
}
