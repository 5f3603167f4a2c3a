package agent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio"
	"github.com/vela-agent/vela-agent/store"
)

// An agent installed on a tree that already holds years of recordings
// would upload them all, each costing allocation, unless told not to
// (sources[].ignore_older, `vela-agent baseline`). So that nobody is
// surprised, a new install (a state file without a single job) starts its
// upload workers only once the files its local sources held at start are
// queued, and when they are more than newInstallFiles it says, before the
// first upload, how many files and about how many minutes of allocation
// that is, and how not to.

// newInstallFiles is how many queued files make a new install say so.
var newInstallFiles = 10_000

// firstScanWait bounds how long a new install holds its first uploads for
// the first scans, beyond the sources' settle time.
var firstScanWait = 2 * time.Minute

// firstRunSample is how many queued recordings are probed to estimate the
// minutes of them all.
const firstRunSample = 64

// firstRun counts what a new install queues while its first uploads wait.
type firstRun struct {
	mu      sync.Mutex
	files   int
	bytes   int64
	offered int           // calls offered, for the reservoir
	sample  []store.Found // a uniform sample of the calls queued
	rng     *rand.Rand
}

func newFirstRun() *firstRun { return &firstRun{rng: rand.New(rand.NewPCG(1, 2))} }

// note records a batch ingest queued: added of the found made jobs.
func (f *firstRun) note(found []store.Found, added int) {
	if f == nil || added == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files += added
	for _, fd := range found {
		f.bytes += fd.Size
		if fd.Kind != store.Call {
			continue
		}
		f.offered++
		if len(f.sample) < firstRunSample {
			f.sample = append(f.sample, fd)
		} else if k := f.rng.IntN(f.offered); k < firstRunSample {
			f.sample[k] = fd
		}
	}
}

// awaitFirstScans returns once every local source has scanned its tree
// and handed over (or found known) as many files as that first scan saw,
// and ingest has queued all that was handed over; or after the sources'
// settle time and firstScanWait; or when ctx ends. Files arriving all the
// while do not hold it longer.
func (a *Agent) awaitFirstScans(ctx context.Context) {
	start := a.now()
	var settle time.Duration
	for _, sc := range a.config().Sources {
		if !sc.IsFTP() {
			settle = max(settle, sc.Settle.D())
		}
	}
	deadline := start.Add(settle + firstScanWait)
	first := map[string]uint64{} // files the first scan of each local source saw
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := a.now()
		if now.After(deadline) {
			a.log.Warn("the first scans of the sources take long; uploads start before every file is queued", "waited", now.Sub(start).Round(time.Second))
			return
		}
		done, found := true, uint64(0)
		for _, r := range a.sources.configured() {
			if r.src == nil {
				continue // not started
			}
			st := r.src.Stats()
			found += st.Found // what ingest is to count, FTP sources' too
			if r.cfg.IsFTP() {
				continue
			}
			n, ok := first[r.cfg.Name]
			if !ok && st.Scans > 0 {
				n, ok = uint64(st.LastScanFiles), true
				first[r.cfg.Name] = n
			}
			done = done && ok && st.Found+st.Known >= n
		}
		if done && found == a.ingested.Load() {
			return
		}
	}
}

// reportFirstRun says, on a new install that queued more than
// newInstallFiles files, how much it is about to upload.
func (a *Agent) reportFirstRun(f *firstRun) {
	f.mu.Lock()
	files, bytes, sample := f.files, f.bytes, append([]store.Found(nil), f.sample...)
	f.mu.Unlock()
	if files <= newInstallFiles {
		return
	}
	minutes, probed := a.estimateMinutes(sample, bytes)
	args := []any{"files", files, "bytes", bytes}
	what := "unknown (no recording could be read to time it)"
	if probed > 0 {
		what = fmt.Sprintf("about %.0f, estimated from the durations of %d of them", minutes, probed)
		args = append(args, "minutes", int64(minutes+0.5), "timed", probed)
	}
	a.log.Warn(fmt.Sprintf("new install: %d files already in the watched folders are queued for upload (%.1f GB); minutes of call allocation: %s. "+
		"Uploads start now. To upload only new recordings instead, stop the agent and run `vela-agent baseline SOURCE`, or set the source's ignore_older",
		files, float64(bytes)/1e9, what), args...)
}

// estimateMinutes times the sampled recordings (those of local sources it
// can read) and scales their minutes per byte to the total bytes queued. It
// returns the estimate and how many were timed.
func (a *Agent) estimateMinutes(sample []store.Found, total int64) (float64, int) {
	var secs float64
	var bytes int64
	n := 0
	for _, fd := range sample {
		src, ok := a.sources.get(fd.Source)
		if !ok {
			continue
		}
		if _, stages := src.(Stager); stages {
			continue // on a server: not read before it is downloaded
		}
		j := &store.Job{Source: fd.Source, Path: fd.Path, Size: fd.Size, ModTime: fd.ModTime}
		file, err := src.Open(j)
		if err != nil {
			continue
		}
		info, err := audio.Probe(file, fd.Size)
		file.Close()
		if err != nil || info.Duration <= 0 {
			continue
		}
		secs += info.Duration.Seconds()
		bytes += fd.Size
		n++
	}
	if n == 0 || bytes == 0 {
		return 0, n
	}
	return secs / float64(bytes) * float64(total) / 60, n
}

// newInstall returns the counter of a new install's first queue, or nil if
// the state file has jobs (or the agent does not watch).
func (a *Agent) newInstall() *firstRun {
	if a.noWatch {
		return nil
	}
	counts, err := a.store.Counts()
	if err != nil {
		return nil
	}
	for _, n := range counts {
		if n > 0 {
			return nil
		}
	}
	return newFirstRun()
}
