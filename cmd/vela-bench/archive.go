package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/cmd/internal/loopback"
	"github.com/vela-agent/vela-agent/store"
)

// Targets of scenario archive, from the issue "archive scale".
const (
	targetArchiveRSS     = 100e6 // steady RSS, bytes, below
	targetArchiveDB      = 400e6 // queue.db, bytes, below
	targetArchiveCompact = 2.0   // queue.db after `state compact` ÷ its live data, at most
	targetArchiveScan    = 10.0  // seconds of wall time of one rescan, below
	targetArchiveScanCPU = 5.0   // seconds of CPU time of one rescan, below
	// The start-up target is targetStartup's.
)

// archiveScans is how many full scans the agent runs in each archive run:
// the one at start and two rescans.
const archiveScans = 3

// archivePoll is how often the bench reads the agent's /metrics and its
// CPU time while it waits for the scans.
const archivePoll = 100 * time.Millisecond

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// 100 on every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// archiveFolder is the folder of the archive tree's folder d: the first
// firstDirs folders are below "first", the source root of the smaller
// archive, the others below "more".
func archiveFolder(root string, d, firstDirs int) string {
	part := "more"
	if d < firstDirs {
		part = "first"
	}
	return filepath.Join(root, part, fmt.Sprintf("d%04d", d))
}

// archiveFileSize is the size of each file of the archive tree: a WAV
// recording of 30 s of 8 kHz 16-bit mono, header included.
const archiveFileSize = audiotest.HeaderLen + 30*8000*2

// writeArchive writes files recordings spread evenly over dirs folders,
// files/dirs in each: root/first/d0000/call_0000000.wav, ...
// root/more/d0100/call_0100000.wav, the first firstDirs folders below
// root/first. dirs must divide files. Each file has archiveFileSize bytes
// and no data blocks (a sparse file, zeros if read): the agent only
// lstats files it knows, and a tree of a million is then quick to write
// and to remove.
func writeArchive(root string, files, dirs, firstDirs int) error {
	per := files / dirs
	return eachFolder(dirs, 2*max(runtime.NumCPU(), 2), func(d int) error {
		return writeArchiveFolder(archiveFolder(root, d, firstDirs), d*per, per)
	})
}

// writeArchiveFolder writes files first to first+n-1 into dir.
func writeArchiveFolder(dir string, first, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := first; i < first+n; i++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("call_%07d.wav", i)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		err = f.Truncate(archiveFileSize)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// archiveResult is what one archive run measured.
type archiveResult struct {
	files         int
	fill          time.Duration // vela-bench filldone's wall time
	walk          time.Duration // the bare walk's wall time (median)
	walkCPU       time.Duration // ... and the bench's CPU time during it (median); -1 = unknown
	startup       time.Duration
	firstScan     time.Duration // the first full scan, at start (settling files)
	allFound      time.Duration // from the start until the watcher had handed over every file; 0 = never
	rescan        time.Duration // the slower of the two rescans
	rescans       []time.Duration
	intervalWall  time.Duration // from the end of the first rescan to the end of the second
	intervalCPU   time.Duration // the agent's CPU time in that interval, idle time included; -1 = unknown
	scanCPU       time.Duration // ... of which while the second rescan ran (estimated); -1 = unknown
	rss, hwm      int64         // VmRSS after the second rescan, VmHWM then; 0 = unknown
	mode          string        // the source's watching mode
	jobs, done    int           // the store's jobs and done jobs after the run, from /status
	found         uint64        // files the watcher handed over in the run
	uploaded      float64       // the agent's uploaded_files_total
	presigns      int           // presigns the devserver was asked for
	objects       int           // objects the devserver stored
	db            dbFigures     // queue.db after the run
	compacted     *dbFigures    // ... after `vela-agent state compact`; nil = not run
	compactErr    string        // why compact failed, if it did
	compactUsage  usage
	compactExists bool
}

// dbFigures describe a state file.
type dbFigures struct {
	size    int64 // bytes of the file
	inuse   int64 // bytes of its B+tree pages holding data (bbolt's BranchInuse + LeafInuse, every bucket)
	alloc   int64 // bytes of the pages the buckets' trees take (bbolt's BranchAlloc + LeafAlloc)
	buckets map[string]bolt.BucketStats
}

// archiveScenario runs `vela-agent run` on a tree whose every file was
// already uploaded, at two sizes, and reports the figures of the issue
// "archive scale".
func (b *bench) archiveScenario(sec *section) error {
	n, small, dirs := b.o.archiveFiles, b.o.archiveSmall, b.o.archiveDirs
	per := n / dirs
	firstDirs := small / per
	sec.title = fmt.Sprintf("Archive: %s files already uploaded, in %s folders", count(n), count(dirs))
	root, err := b.mkdir("archive", "tree")
	if err != nil {
		return err
	}
	defer func() {
		began := time.Now()
		os.RemoveAll(root)
		b.say("removed the archive tree in %v", time.Since(began).Round(time.Millisecond))
	}()
	began := time.Now()
	if err := writeArchive(root, n, dirs, firstDirs); err != nil {
		return err
	}
	syncDisks()
	wrote := time.Since(began)
	b.say("wrote %d files in %d folders in %v", n, dirs, wrote.Round(time.Millisecond))
	compact := b.compactExists()

	type size struct {
		files int
		root  string // the source folder
	}
	var sizes []size
	if small > 0 {
		sizes = append(sizes, size{small, filepath.Join(root, "first")})
	}
	sizes = append(sizes, size{n, root})
	var results []*archiveResult
	for _, s := range sizes {
		r, err := b.archiveRun(sec, s.files, s.root, compact)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	for _, r := range results {
		sec.rows = append(sec.rows, r.rows()...)
	}
	if len(results) == 2 {
		sec.rows = append(sec.rows, growthRow(results[0], results[1]))
	}

	compactNote := "This build has no `vela-agent state compact` (`vela-agent state compact --help` does not show its usage), so the rows after compaction say so and are not met."
	if compact {
		compactNote = "After the agent stopped, `vela-agent state compact -c CONFIG` ran on the state file, as a measured process of its own; the bench then read the file again."
	}
	sec.notes = append(sec.notes,
		fmt.Sprintf("The tree: %s files `call_NNNNNNN.wav` of %s bytes each (the size of 30 s of 8 kHz 16-bit mono WAV) in %s folders of %s, written once in %v. "+
			"The files are sparse, without data blocks (zeros if read): the agent only lstats the files it knows, and the tree is quick to write and to remove. "+
			"`first/d0000` to `first/d%04d` hold the first %s and are the smaller archive's source folder; the bigger one's is the tree's root, `first` and `more` included. Each size is walked just after the tree was written and walked by the fill, so its inodes come from the kernel's caches, as far as they hold them.",
			count(n), count(archiveFileSize), count(dirs), count(per), wrote.Round(100*time.Millisecond), max(firstDirs-1, 0), count(small)),
		"The store: `vela-bench filldone` (a process of its own) walks the source folder (`filepath.WalkDir`, an lstat of every file) and records each file's version with `store.FillDone`, as an upload leaves it: a job of kind call made as `Store.Add` makes it and moved to done with the metadata the agent sends for such a file (`{\"date_of_call\":…}` from its modification time), its seen entry, index entries and counters, all at the time of the fill. "+
			"With `retention` (720h by default) the agent prunes done jobs, keeping the seen entries, so a store years old holds fewer jobs than this one: this is the worst case, every file uploaded within the retention.",
		fmt.Sprintf("Each size runs once: a fresh `vela-devserver` (minutes allocated, objects in memory, so a file offered again would be uploaded), then `vela-agent run` on the filled state file with one source on the folder (`settle: %v`, `rescan_interval: %v`, `after_upload: keep`) and `/status` and `/metrics` on 127.0.0.1. "+
			"Start-up is the time from the process's start until `/status` (polled every 5 ms) answers with counts summing to the files. "+
			"Then the bench reads `/metrics` every %v until `vela_agent_source_scans_total` counts %d full scans: the one at start, which sees every file for the first time and hands them over to be queued once they settled, and two rescans, which find them all known. "+
			"A rescan's wall time is `vela_agent_source_last_scan_seconds` after it: the slower of the two is reported.",
			b.o.settle, b.o.rescan, archivePoll, archiveScans),
		"CPU time is the agent's `utime + stime` from `/proc/PID/stat`, read each time the bench reads `/metrics`: the row is the CPU time from the end of the first rescan to the end of the second, as the bench saw them, **idle time and the bench's polls included** (a whole rescan interval). "+
			"The figure in parentheses is the part of it from the last reading before the second rescan started (its end less its duration) to its end: the scan alone, to the polling period. "+
			"The baseline is a walk of the same tree in the bench process (`os.ReadDir` of every folder and `Info` of every entry, what a scan must do at least), the median of three, with the bench's own CPU time during it.",
		"Steady RSS is `VmRSS` of `/proc/PID/status` after the second rescan; in parentheses `VmHWM`, the peak so far (the first scan and the queueing of every file included). "+
			"The state file's size is read after the agent stopped; its live data is what bbolt's `Stats` of every bucket count as in use in their pages (`BranchInuse + LeafInuse`: keys, values and page headers), read by the bench with bbolt, the agent stopped.",
		compactNote,
		"Nothing may be uploaded: after the run the bench reads the devserver's presigns and objects, and the store's counts in `/status`; a job added, a presign or an upload means a file was offered again, and the row is not met.",
	)
	if len(results) == 2 {
		sec.notes = append(sec.notes, fmt.Sprintf("The growth row divides each figure at %s files by the same at %s (%s× the files): start-up, rescan wall time, the rescan interval's CPU time, steady RSS and the state file's size; the steepest is reported, and growth no steeper than the files' is linear. "+
			"Figures that include a fixed part (the process's own memory, idle CPU time) grow less.", count(n), count(small), strconv.Itoa(n/small)))
	}
	for _, r := range results {
		sec.notes = append(sec.notes, r.detail())
	}
	return nil
}

// compactExists reports whether this build's vela-agent has `state
// compact`. Cobra prints the parent's help, and exits 0, for the help of
// a subcommand it does not have: the usage printed tells.
func (b *bench) compactExists() bool {
	cmd := exec.CommandContext(b.ctx, exe(b.o.bin, "vela-agent"), "state", "compact", "--help")
	out, err := cmd.CombinedOutput()
	return err == nil && helpIsFor(string(out), "vela-agent state compact")
}

// helpIsFor reports whether a cobra help text is the help of command, a
// command line such as "vela-agent state compact": whether a line of its
// usage section starts with that command's words.
func helpIsFor(help, command string) bool {
	want := strings.Fields(command)
	inUsage := false
	for _, line := range strings.Split(help, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "Usage:":
			inUsage = true
		case len(f) == 0:
			inUsage = false
		case inUsage && len(want) > 0 && len(f) >= len(want) && slices.Equal(f[:len(want)], want):
			return true
		}
	}
	return false
}

// archiveRun fills a state file with the files under srcRoot as uploaded,
// runs the agent on it and measures it.
func (b *bench) archiveRun(sec *section, n int, srcRoot string, compact bool) (*archiveResult, error) {
	r := &archiveResult{files: n, compactExists: compact, walkCPU: -1, intervalCPU: -1, scanCPU: -1}
	runDir, err := b.mkdir("archive", strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	defer func() {
		os.RemoveAll(runDir)
		syncDisks()
	}()
	stateDir := filepath.Join(runDir, "state")
	statePath := filepath.Join(stateDir, "queue.db")
	fill, err := b.start("vela-bench filldone", filepath.Join(runDir, "filldone.log"), true,
		exe(b.o.bin, "vela-bench"), "filldone", "-source", sourceName, "-at", time.Now().UTC().Format(time.RFC3339Nano), statePath, srcRoot)
	if err != nil {
		return nil, err
	}
	fu, err := fill.wait(b.ctx, b.o.timeout)
	if err != nil {
		return nil, err
	}
	r.fill = fu.wall
	sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-bench filldone, %s files", count(n)), u: fu, figure: fmt.Sprintf("state file of %s", megabytes(fileSize(statePath)))})
	b.say("archive %d: filled the store in %v (%s)", n, fu.wall.Round(time.Millisecond), megabytes(fileSize(statePath)))
	syncDisks()

	var walks, walkCPUs []time.Duration
	for range 3 {
		cpu0, cerr := selfCPU()
		began := time.Now()
		found, err := walkTree(srcRoot)
		w := time.Since(began)
		cpu1, cerr1 := selfCPU()
		if err != nil {
			return nil, err
		}
		if found != n {
			return nil, fmt.Errorf("the walk of %s found %d files, want %d", srcRoot, found, n)
		}
		walks = append(walks, w)
		if cerr == nil && cerr1 == nil {
			walkCPUs = append(walkCPUs, cpu1-cpu0)
		}
	}
	r.walk = median(walks)
	if len(walkCPUs) == len(walks) {
		r.walkCPU = median(walkCPUs)
	}
	b.say("archive %d: a bare walk takes %v (CPU %v)", n, r.walk.Round(time.Millisecond), r.walkCPU.Round(time.Millisecond))

	dev, err := b.startDevserver(runDir, "-max-file-size", strconv.FormatInt(maxFileSize, 10))
	if err != nil {
		return nil, err
	}
	defer dev.stop()
	ports, err := loopback.FreeAddrs(1)
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(runDir, "vela-agent.yaml")
	keys := fmt.Sprintf("    path: %q\n    settle: %s\n    rescan_interval: %s\n    after_upload: keep\n", srcRoot, b.o.settle, b.o.rescan)
	if err := b.writeAgentConfig(cfg, agentConfig{dev: dev, stateDir: stateDir, status: ports[0], keys: keys}); err != nil {
		return nil, err
	}
	p, err := b.start("vela-agent run", filepath.Join(runDir, "agent.log"), true, exe(b.o.bin, "vela-agent"), "run", "-c", cfg)
	if err != nil {
		return nil, err
	}
	perr := b.archiveWatch(p, ports[0], r)
	u, err := p.stop(30 * time.Second)
	if perr != nil {
		return nil, perr
	}
	if err != nil {
		return nil, err
	}
	sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-agent run, %s files uploaded", count(n)), u: u,
		figure: fmt.Sprintf("start-up %s, rescans %s", seconds(r.startup), joinSeconds(r.rescans))})
	b.say("archive %d: start-up %v, rescans %s, interval CPU %v, RSS %s (peak %s)", n, r.startup.Round(time.Millisecond), joinSeconds(r.rescans), r.intervalCPU.Round(time.Millisecond), megabytes(r.rss), megabytes(r.hwm))

	if r.presigns, r.objects, err = dev.countUploads(); err != nil {
		return nil, err
	}
	if r.db, err = readDB(statePath); err != nil {
		return nil, err
	}
	if !compact {
		return r, nil
	}
	cp, err := b.start("vela-agent state compact", filepath.Join(runDir, "compact.log"), true, exe(b.o.bin, "vela-agent"), "state", "compact", "-c", cfg)
	if err != nil {
		return nil, err
	}
	r.compactUsage, err = cp.wait(b.ctx, b.o.timeout)
	if err != nil {
		r.compactErr = strings.SplitN(err.Error(), "\n", 2)[0]
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-agent state compact, %s files", count(n)), u: r.compactUsage, figure: "failed"})
		b.say("archive %d: state compact failed: %v", n, err)
		return r, nil
	}
	after, err := readDB(statePath)
	if err != nil {
		r.compactErr = err.Error()
		return r, nil
	}
	r.compacted = &after
	sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-agent state compact, %s files", count(n)), u: r.compactUsage,
		figure: fmt.Sprintf("%s → %s", megabytes(r.db.size), megabytes(after.size))})
	b.say("archive %d: state compact took %v: %s → %s", n, r.compactUsage.wall.Round(time.Millisecond), megabytes(r.db.size), megabytes(after.size))
	return r, nil
}

// archiveWatch measures the running agent p, whose status listener is
// addr: start-up, then the scans, CPU time and memory, and what the store
// and the watcher say after the second rescan. It leaves p running.
func (b *bench) archiveWatch(p *proc, addr string, r *archiveResult) error {
	at, err := b.pollStatus(p, addr, r.files, 5*time.Millisecond, b.o.timeout)
	if err != nil {
		return err
	}
	r.startup = at.Sub(p.started)
	pid := 0
	if t := p.target(); t != nil {
		pid = t.Pid
	}
	type sample struct {
		at  time.Time
		cpu time.Duration
	}
	type scanEnd struct {
		at   time.Time
		cpu  time.Duration
		took time.Duration
		// before is the CPU time at the last sample before the scan began.
		before time.Duration
	}
	var samples []sample
	var ends []scanEnd
	cpuKnown := pid > 0
	series := func(name string) string { return name + `{source="` + sourceName + `"}` }
	deadline := time.Now().Add(b.o.timeout)
	var last map[string]float64
	for len(ends) < archiveScans {
		m, merr := readMetrics(addr)
		now := time.Now()
		var cpu time.Duration
		if cpuKnown {
			c, err := procCPU(pid)
			if err != nil {
				cpuKnown = false
			}
			cpu = c
		}
		if merr == nil {
			last = m
			if r.allFound == 0 && m[series("vela_agent_source_files_found_total")] >= float64(r.files) {
				r.allFound = now.Sub(p.started)
			}
			for scans := int(m[series("vela_agent_source_scans_total")]); len(ends) < min(scans, archiveScans); {
				took := time.Duration(m[series("vela_agent_source_last_scan_seconds")] * float64(time.Second))
				e := scanEnd{at: now, cpu: cpu, took: took, before: -1}
				start := now.Add(-took)
				for i := len(samples) - 1; i >= 0; i-- {
					if !samples[i].at.After(start) {
						e.before = samples[i].cpu
						break
					}
				}
				ends = append(ends, e)
			}
		}
		samples = append(samples, sample{at: now, cpu: cpu})
		switch {
		case b.ctx.Err() != nil:
			return b.ctx.Err()
		case !p.running():
			return fmt.Errorf("%s exited; its output ends:\n%s", p.name, tail(p.log.Name(), 15))
		case now.After(deadline):
			return fmt.Errorf("%s: after %v its metrics count %d full scans, want %d (last error: %v)", p.name, b.o.timeout, len(ends), archiveScans, merr)
		}
		if len(ends) < archiveScans {
			time.Sleep(archivePoll)
		}
	}
	if pid > 0 {
		r.rss, r.hwm, _ = procMemory(pid)
	}
	r.firstScan = ends[0].took
	for _, e := range ends[1:] {
		r.rescans = append(r.rescans, e.took)
		r.rescan = max(r.rescan, e.took)
	}
	first, second := ends[len(ends)-2], ends[len(ends)-1]
	r.intervalWall = second.at.Sub(first.at)
	if cpuKnown {
		r.intervalCPU = second.cpu - first.cpu
		if second.before >= 0 {
			r.scanCPU = second.cpu - second.before
		}
	}
	r.found = uint64(last[series("vela_agent_source_files_found_total")])
	r.uploaded = last["vela_agent_uploaded_files_total"]

	var st struct {
		Counts  map[string]int
		Sources []struct{ Mode, Reason string }
	}
	if err := loopback.GetJSON("http://"+addr+"/status", &st); err != nil {
		return fmt.Errorf("vela-agent run: status after the scans: %w", err)
	}
	for _, c := range st.Counts {
		r.jobs += c
	}
	r.done = st.Counts[store.Done.String()]
	if len(st.Sources) > 0 {
		r.mode = st.Sources[0].Mode
		if st.Sources[0].Reason != "" {
			r.mode += " (" + st.Sources[0].Reason + ")"
		}
	}
	return nil
}

// rows returns the summary rows of one archive run.
func (r *archiveResult) rows() []row {
	what := fmt.Sprintf("archive of %s files uploaded", count(r.files))
	cpu, cpuMet := "unknown", "unknown"
	if r.intervalCPU >= 0 {
		cpu = fmt.Sprintf("%s in %s, idle included", seconds(r.intervalCPU), seconds(r.intervalWall))
		if r.scanCPU >= 0 {
			cpu += fmt.Sprintf(" (%s during the scan)", seconds(r.scanCPU))
		}
		cpuMet = yesNo(r.intervalCPU.Seconds() < targetArchiveScanCPU)
	}
	walkCPU := "unknown"
	if r.walkCPU >= 0 {
		walkCPU = seconds(r.walkCPU)
	}
	rss, rssMet := "unknown", "unknown"
	if r.rss > 0 {
		rss = fmt.Sprintf("%s (peak %s)", megabytes(r.rss), megabytes(r.hwm))
		rssMet = yesNo(float64(r.rss) < targetArchiveRSS)
	}
	rows := []row{
		{
			scenario: what + ": start-up",
			agent:    seconds(r.startup),
			target:   fmt.Sprintf("< %g s", targetStartup),
			met:      yesNo(r.startup.Seconds() < targetStartup),
		},
		{
			scenario: what + ": one rescan, wall time",
			agent:    seconds(r.rescan),
			baseline: seconds(r.walk) + " (bare walk)",
			ratio:    ratio(r.rescan.Seconds(), r.walk.Seconds()),
			target:   fmt.Sprintf("< %g s", targetArchiveScan),
			met:      yesNo(r.rescan.Seconds() < targetArchiveScan),
		},
		{
			scenario: what + ": one rescan, CPU time (a whole rescan interval)",
			agent:    cpu,
			baseline: walkCPU + " (bare walk)",
			ratio:    ratio(r.intervalCPU.Seconds(), r.walkCPU.Seconds()),
			target:   fmt.Sprintf("< %g s", targetArchiveScanCPU),
			met:      cpuMet,
		},
		{
			scenario: what + ": steady RSS after two rescans",
			agent:    rss,
			target:   fmt.Sprintf("< %g MB", targetArchiveRSS/1e6),
			met:      rssMet,
		},
		{
			scenario: what + ": queue.db",
			agent:    dataSize(r.db.size),
			baseline: dataSize(r.db.inuse) + " (live data)",
			ratio:    ratio(float64(r.db.size), float64(r.db.inuse)),
			target:   fmt.Sprintf("< %g MB", targetArchiveDB/1e6),
			met:      yesNo(float64(r.db.size) < targetArchiveDB),
		},
		r.compactRow(what),
	}
	again := r.jobs - r.files
	offered := fmt.Sprintf("%d jobs added, %d presigns, %d uploads", again, r.presigns, r.objects)
	rows = append(rows, row{
		scenario: what + ": files offered again",
		agent:    offered,
		target:   "none",
		met:      yesNo(again == 0 && r.done == r.files && r.presigns == 0 && r.objects == 0 && r.uploaded == 0),
	})
	return rows
}

// compactRow is the row of the state file after `vela-agent state compact`.
func (r *archiveResult) compactRow(what string) row {
	rw := row{
		scenario: what + ": queue.db after `vela-agent state compact`",
		target:   fmt.Sprintf("≤ %g × live data", targetArchiveCompact),
		met:      yesNo(false),
	}
	switch {
	case !r.compactExists:
		rw.agent = "no such command in this build"
		rw.baseline = dataSize(r.db.inuse) + " (live data)"
	case r.compacted == nil:
		rw.agent = "failed: " + r.compactErr
		rw.baseline = dataSize(r.db.inuse) + " (live data)"
	default:
		c := r.compacted
		rw.agent = dataSize(c.size)
		rw.baseline = dataSize(c.inuse) + " (live data)"
		rw.ratio = ratio(float64(c.size), float64(c.inuse))
		known := c.buckets["seen"].KeyN
		if known < r.files {
			rw.agent += fmt.Sprintf(", but it knows %s of the %s files", count(known), count(r.files))
		}
		rw.met = yesNo(c.inuse > 0 && float64(c.size) <= targetArchiveCompact*float64(c.inuse) && known >= r.files)
	}
	return rw
}

// growthRow compares the figures of the bigger archive with the smaller
// one's.
func growthRow(small, big *archiveResult) row {
	files := float64(big.files) / float64(small.files)
	figures := []struct {
		name   string
		sm, bg float64
	}{
		{"start-up", small.startup.Seconds(), big.startup.Seconds()},
		{"rescan wall time", small.rescan.Seconds(), big.rescan.Seconds()},
		{"rescan interval CPU time", small.intervalCPU.Seconds(), big.intervalCPU.Seconds()},
		{"steady RSS", float64(small.rss), float64(big.rss)},
		{"queue.db", float64(small.db.size), float64(big.db.size)},
	}
	worst, name := 0.0, ""
	var all []string
	for _, f := range figures {
		g := ratio(f.bg, f.sm)
		if g == 0 {
			continue
		}
		all = append(all, fmt.Sprintf("%s %.1f×", f.name, g))
		if g > worst {
			worst, name = g, f.name
		}
	}
	rw := row{
		scenario: fmt.Sprintf("archive growth, %s → %s files: the steepest of start-up, rescan wall and CPU time, steady RSS, queue.db", count(small.files), count(big.files)),
		agent:    "unknown",
		baseline: fmt.Sprintf("%.0f× (the files)", files),
		target:   "≤ the files' growth (linear)",
		met:      "unknown",
	}
	if name != "" {
		rw.agent = fmt.Sprintf("%.1f× (%s)", worst, name)
		rw.ratio = worst / files
		rw.met = yesNo(worst <= files)
	}
	return rw
}

// detail is the note of one run's other figures.
func (r *archiveResult) detail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s files: filling the store took %s. The source was watched in mode %s. The first full scan took %s; ",
		count(r.files), seconds(r.fill), r.mode, seconds(r.firstScan))
	if r.allFound > 0 {
		fmt.Fprintf(&b, "the watcher had handed over every file %s after the start", seconds(r.allFound))
	} else {
		b.WriteString("the watcher never handed over every file")
	}
	fmt.Fprintf(&b, " (%s files in all during the run). Rescans: %s. ", count(int(r.found)), joinSeconds(r.rescans))
	fmt.Fprintf(&b, "queue.db: %s, of which %s of pages in the buckets' trees and %s in use; by bucket (in use, keys): %s.",
		dataSize(r.db.size), dataSize(r.db.alloc), dataSize(r.db.inuse), r.db.byBucket())
	if c := r.compacted; c != nil {
		fmt.Fprintf(&b, " After `vela-agent state compact` (%s): %s, of which %s of pages in the buckets' trees and %s in use; by bucket: %s.",
			seconds(r.compactUsage.wall), dataSize(c.size), dataSize(c.alloc), dataSize(c.inuse), c.byBucket())
	}
	if r.compactErr != "" {
		fmt.Fprintf(&b, " `vela-agent state compact` failed: %s.", r.compactErr)
	}
	return b.String()
}

// byBucket lists the buckets' figures, biggest first.
func (d dbFigures) byBucket() string {
	names := make([]string, 0, len(d.buckets))
	for name := range d.buckets {
		names = append(names, name)
	}
	inuse := func(s bolt.BucketStats) int { return s.BranchInuse + s.LeafInuse }
	sort.Slice(names, func(i, j int) bool {
		a, b := inuse(d.buckets[names[i]]), inuse(d.buckets[names[j]])
		return a > b || a == b && names[i] < names[j]
	})
	var parts []string
	for _, name := range names {
		s := d.buckets[name]
		if s.KeyN == 0 {
			continue
		}
		parts = append(parts, fmt.Sprintf("`%s` %s, %s", name, dataSize(int64(inuse(s))), count(s.KeyN)))
	}
	return strings.Join(parts, "; ")
}

// dataSize formats n bytes in MB, or in kB below a MB.
func dataSize(n int64) string {
	if n < 1e6 {
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func joinSeconds(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = seconds(d)
	}
	return strings.Join(s, ", ")
}

// readDB reads the size and the bbolt statistics of the state file at
// path, which no process may have open for writing.
func readDB(path string) (dbFigures, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return dbFigures{}, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return dbFigures{}, fmt.Errorf("read the statistics of %s: %w", path, err)
	}
	defer db.Close()
	d := dbFigures{size: fi.Size(), buckets: map[string]bolt.BucketStats{}}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			s := b.Stats()
			d.buckets[string(name)] = s
			d.inuse += int64(s.BranchInuse + s.LeafInuse)
			d.alloc += int64(s.BranchAlloc + s.LeafAlloc)
			return nil
		})
	})
	if err != nil {
		return dbFigures{}, fmt.Errorf("read the statistics of %s: %w", path, err)
	}
	return d, nil
}

// countUploads returns how many presigns the devserver was asked for and
// how many objects it stored.
func (d *devserver) countUploads() (presigns, objects int, err error) {
	var ps []json.RawMessage
	if err := loopback.GetJSON("http://"+d.api+"/_emulator/presigns", &ps); err != nil {
		return 0, 0, fmt.Errorf("list the devserver's presigns: %w", err)
	}
	var objs []object
	if err := loopback.GetJSON("http://"+d.api+"/_emulator/objects", &objs); err != nil {
		return 0, 0, fmt.Errorf("list the devserver's objects: %w", err)
	}
	return len(ps), len(objs), nil
}

// metricsClient bounds every read of /metrics.
var metricsClient = &http.Client{Timeout: 5 * time.Second}

// readMetrics reads the agent's /metrics page on addr.
func readMetrics(addr string) (map[string]float64, error) {
	resp, err := metricsClient.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20))
}

// parseMetrics reads a page in Prometheus' text format: the value of each
// sample by its series, its name followed by its labels as the page
// spells them (`name{a="x",b="y"}`, or the bare name), with the labels
// sorted by name. Comments, blank lines and timestamps are skipped; a line
// that is not a sample is an error.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		series, rest, err := parseSeries(text)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: %w", line, err)
		}
		f := strings.Fields(rest)
		if len(f) < 1 || len(f) > 2 {
			return nil, fmt.Errorf("metrics line %d: want a value and at most a timestamp after %s", line, series)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: value %q of %s", line, f[0], series)
		}
		out[series] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return out, nil
}

// parseSeries splits a sample line into its series, in parseMetrics' form,
// and what follows it.
func parseSeries(line string) (series, rest string, err error) {
	i := strings.IndexAny(line, "{ \t")
	if i < 0 {
		return "", "", errors.New("a name without a value")
	}
	name := line[:i]
	if !validMetricName(name) {
		return "", "", fmt.Errorf("bad metric name %q", name)
	}
	if line[i] != '{' {
		return name, line[i:], nil
	}
	type label struct{ name, value string }
	var labels []label
	s := line[i+1:]
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			s = s[1:]
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return "", "", fmt.Errorf("%s: a label without a value", name)
		}
		ln := strings.TrimSpace(s[:eq])
		if !validMetricName(ln) || strings.Contains(ln, ":") {
			return "", "", fmt.Errorf("%s: bad label name %q", name, ln)
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		if !strings.HasPrefix(s, `"`) {
			return "", "", fmt.Errorf("%s: label %s has no quoted value", name, ln)
		}
		var v strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
				switch s[j] {
				case 'n':
					v.WriteByte('\n')
				default:
					v.WriteByte(s[j])
				}
				continue
			}
			v.WriteByte(s[j])
		}
		if j == len(s) {
			return "", "", fmt.Errorf("%s: label %s's value is not closed", name, ln)
		}
		labels = append(labels, label{ln, v.String()})
		s = strings.TrimLeft(s[j+1:], " \t")
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if !strings.HasPrefix(s, "}") {
			return "", "", fmt.Errorf("%s: want , or } after label %s", name, ln)
		}
	}
	sort.Slice(labels, func(a, b int) bool { return labels[a].name < labels[b].name })
	var b strings.Builder
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for k, l := range labels {
			if k > 0 {
				b.WriteByte(',')
			}
			b.WriteString(l.name + `="` + labelEscaper.Replace(l.value) + `"`)
		}
		b.WriteByte('}')
	}
	return b.String(), s, nil
}

// labelEscaper escapes a label value as the text format does.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// validMetricName reports whether s is a metric name: [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// procCPU returns the user + system CPU time of process pid so far, from
// /proc/PID/stat. Linux only.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(data)
}

// selfCPU is procCPU of the bench itself.
func selfCPU() (time.Duration, error) { return procCPU(os.Getpid()) }

// parseProcStat returns utime + stime of a /proc/PID/stat line.
func parseProcStat(data []byte) (time.Duration, error) {
	s := string(data)
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	var ticks uint64
	for _, v := range f[11:13] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: CPU time %q", v)
		}
		if ticks+n < ticks || ticks+n > math.MaxInt64/uint64(clockTick) {
			return 0, fmt.Errorf("/proc stat: CPU time %q out of range", v)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// procMemory returns VmRSS and VmHWM of process pid, in bytes, from
// /proc/PID/status. Linux only.
func procMemory(pid int) (rss, hwm int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseProcStatus(data)
}

// parseProcStatus returns VmRSS and VmHWM of a /proc/PID/status file, in
// bytes.
func parseProcStatus(data []byte) (rss, hwm int64, err error) {
	var found int
	for _, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || key != "VmRSS" && key != "VmHWM" {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status: %s: %q, want a number of kB", key, strings.TrimSpace(val))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > math.MaxInt64>>10 {
			return 0, 0, fmt.Errorf("/proc status: %s: %q", key, f[0])
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
		found++
	}
	if rss == 0 || hwm == 0 || found != 2 {
		return 0, 0, errors.New("/proc status: no VmRSS and VmHWM")
	}
	return rss, hwm, nil
}

// fillDoneMain is `vela-bench filldone`: it records every regular file
// under ROOT in the state file as a call of the source, already uploaded,
// with store.FillDone.
func fillDoneMain(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("vela-bench filldone", flag.ContinueOnError)
	flags.SetOutput(stderr)
	source := flags.String("source", sourceName, "the source's `name`")
	atFlag := flags.String("at", "", "when the uploads were done, RFC 3339 (default: now)")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	at := time.Now()
	if *atFlag != "" {
		t, err := time.Parse(time.RFC3339Nano, *atFlag)
		if err != nil {
			fmt.Fprintf(stderr, "vela-bench filldone: -at: %v\n", err)
			return errUsage
		}
		at = t
	}
	if flags.NArg() != 2 {
		fmt.Fprintln(stderr, "usage: vela-bench filldone [-source NAME] [-at TIME] STATEFILE ROOT")
		return errUsage
	}
	path, root := flags.Arg(0), flags.Arg(1)
	began := time.Now()
	var walkErr error
	files := func(yield func(store.DoneFile) bool) {
		walkErr = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			m, err := json.Marshal(map[string]string{"date_of_call": meta.FormatDate(fi.ModTime())})
			if err != nil {
				return err
			}
			f := store.DoneFile{
				Found: store.Found{Source: *source, Path: filepath.ToSlash(rel), Size: fi.Size(), ModTime: fi.ModTime(), Kind: store.Call},
				Meta:  m,
			}
			if !yield(f) {
				return filepath.SkipAll
			}
			return nil
		})
	}
	n, err := store.FillDone(path, files, at)
	if err == nil && walkErr != nil {
		err = fmt.Errorf("walk %s: %w", root, walkErr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recorded %d files under %s as uploaded in %s, in %v\n", n, root, path, time.Since(began).Round(time.Millisecond))
	return nil
}
