package watcher

import (
	"sync/atomic"
	"time"
)

// Stats are figures of a [Local] watcher's work, for monitoring. The
// counters only grow: they add up over every Run since [New]. Unreadable is
// a gauge of now.
type Stats struct {
	// Scans is the number of full scans completed (the one at start, the
	// periodic ones, those asked by Rescan and those forced by lost
	// events). A scan cut short by the end of Run is not counted.
	Scans uint64
	// LastScanDuration is how long the latest full scan took, from start
	// to end: its rests (a scan works 20 ms, then rests as long) and waits
	// for the receiver to take a full batch (5,000 files) included; 0
	// before the first.
	LastScanDuration time.Duration
	// LastScanFiles is the number of files the latest full scan saw that
	// the filters let through, whether or not they were offered; 0 before
	// the first.
	LastScanFiles int
	// ScanTime is the time spent in all the full scans counted by Scans.
	ScanTime time.Duration
	// Events is the number of fsnotify events received, whatever they
	// named.
	Events uint64
	// Overflows is the number of fsnotify queue overflows: each one lost
	// events and forced a full scan.
	Overflows uint64
	// WatchErrors is the number of other fsnotify errors: each one forced a
	// full scan too.
	WatchErrors uint64
	// Found is the number of files handed over on Run's channel.
	Found uint64
	// Known is the number of files that Options.Known reported as handed
	// over already when the watcher first saw them: remembered, not sent.
	Known uint64
	// Skipped is the number of entries not offered because they are not
	// regular files (symbolic links, FIFOs, sockets, devices). An entry is
	// counted when first seen, as it is logged, not on every scan; it is
	// counted again if it comes back after a full scan did not see it.
	Skipped uint64
	// Unreadable is the number of folders, Root included, that the watcher
	// cannot read now (see [Local.Problem]); 0 while no Run is active.
	Unreadable int
	// PollingSwitches is the number of times a Run fell back from events to
	// polling (watch limit, watcher unavailable or stopped). A source
	// configured with Options.Poll polls without switching.
	PollingSwitches uint64
}

// counters hold what Stats reports. Only the goroutine running Run writes
// them; any goroutine may read them, without locks.
type counters struct {
	// scans is replaced, never changed, after each full scan, so that its
	// figures are always read together. nil before the first.
	scans           atomic.Pointer[scanFigures]
	events          atomic.Uint64
	overflows       atomic.Uint64
	watchErrors     atomic.Uint64
	found           atomic.Uint64
	known           atomic.Uint64
	skipped         atomic.Uint64
	unreadable      atomic.Int64
	pollingSwitches atomic.Uint64
}

// scanFigures are the figures of full scans, read and written as a whole.
type scanFigures struct {
	n     uint64
	last  time.Duration
	files int
	total time.Duration
}

// scanned adds a full scan that took took and saw files files.
func (c *counters) scanned(took time.Duration, files int) {
	f := scanFigures{last: took, files: files}
	if p := c.scans.Load(); p != nil {
		f.n, f.total = p.n, p.total
	}
	f.n++
	f.total += took
	c.scans.Store(&f)
}

// Stats returns the watcher's figures so far. It never blocks and may be
// called from any goroutine, during or between Runs. The scan figures
// (Scans, LastScanDuration, LastScanFiles, ScanTime) belong to the same
// scan; the other fields are read one by one, so a Stats taken while the
// watcher works may be a few events apart between fields.
func (w *Local) Stats() Stats {
	c := &w.stats
	s := Stats{
		Events:          c.events.Load(),
		Overflows:       c.overflows.Load(),
		WatchErrors:     c.watchErrors.Load(),
		Found:           c.found.Load(),
		Known:           c.known.Load(),
		Skipped:         c.skipped.Load(),
		Unreadable:      int(c.unreadable.Load()),
		PollingSwitches: c.pollingSwitches.Load(),
	}
	if f := c.scans.Load(); f != nil {
		s.Scans, s.LastScanDuration, s.LastScanFiles, s.ScanTime = f.n, f.last, f.files, f.total
	}
	return s
}
