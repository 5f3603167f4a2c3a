package watcher

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Tunables; variables so that tests can change them.
var (
	// maxBatch caps the files in one send on the out channel.
	maxBatch = 5000
	// eventDelay is how long events are gathered before the paths they name
	// are checked, so that a burst of writes costs one Lstat.
	eventDelay = 200 * time.Millisecond
	// maxDirty caps the paths waiting for a check; beyond it the watcher
	// does a full scan instead.
	maxDirty = 10000
	// maxListed caps the unreadable folders Problem names.
	maxListed = 3
	// scanSlice and scanRest pace full scans: after scanSlice of work, a
	// scan rests scanRest, while events and settle checks are served, so
	// that the scan of a big tree never holds a core for long.
	scanSlice = 20 * time.Millisecond
	scanRest  = 20 * time.Millisecond
)

// check is a file to look at again once it may have settled.
type check struct {
	e    *settling
	seen time.Duration // e.seen when queued; a different value means the item is stale
}

// fifo is the queue of settle checks. Items are appended in the order files
// are observed, so the head is the earliest one due.
type fifo struct {
	items []check
	head  int
}

func (q *fifo) push(c check) { q.items = append(q.items, c) }

func (q *fifo) peek() (check, bool) {
	if q.head == len(q.items) {
		return check{}, false
	}
	return q.items[q.head], true
}

func (q *fifo) pop() {
	q.items[q.head] = check{}
	q.head++
	switch {
	case q.head == len(q.items) && cap(q.items) > 1024:
		q.items, q.head = nil, 0 // let a big first scan's queue go
	case q.head == len(q.items):
		q.items, q.head = q.items[:0], 0
	case q.head > 1024 && 2*q.head > len(q.items):
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
}

// run is the state of one call to Run. It is owned by the goroutine running
// Run: nothing else reads or writes it.
//
// Invariants: every settling entry has an item in pending carrying its seen
// (when Settle > 0); a file is either settling or recorded as offered in
// its folder's dir, or unknown (an older version may stay recorded until
// its folder is read again); watched holds exactly the folders with a live
// fsnotify watch added by this run (fsw != nil), or is empty.
type run struct {
	w         *Local
	out       chan<- []File
	root      string
	settle    time.Duration
	slack     time.Duration // added to settle timer deadlines so one tick settles many files
	pollEvery time.Duration
	start     time.Time

	keys    keys
	dirs    map[string]*dir // by relative path; see memory.go
	pending fifo
	gen     uint32 // the latest full scan, done or under way
	// scan is the full scan under way, resting between slices of work
	// (restT), or nil; scanStarted is when it began, and scanAgain says
	// that another was asked for meanwhile.
	scan        *walk
	scanStarted time.Time
	scanAgain   bool
	scanList    lister // reads the folders of full scans
	eventList   lister // reads the folders events name
	sc          scratch
	// forgot holds the paths passed to Forget, while Options.Known is set,
	// until they are observed again or a full scan later: they are offered
	// again, whatever Known says. -> the full scan under way when forgotten.
	forgot map[string]uint32

	failed map[string]string // relative folders the current scan could not read -> why
	batch  []File
	warned map[string]struct{} // keys of problems already logged at warn level
	// skipped remembers the entries that are not offered because they are
	// not regular files (links, FIFOs, sockets, devices), so that each is
	// logged once when first seen rather than on every scan: a hash of
	// path and reason (a collision costs one debug line) -> the scan that
	// last saw it. A full scan forgets those it did not see.
	skipped map[uint64]uint32
	seed    maphash.Seed
	// failedChanged says failed changed for a folder below the root since
	// Problem's list was last updated.
	failedChanged bool

	fsw      *fsnotify.Watcher // nil when polling
	events   <-chan fsnotify.Event
	errs     <-chan error
	limit    int                 // fs.inotify.max_user_watches, if known
	budget   int                 // folders we may watch; -1 = no limit
	watched  map[string]uint32   // watched folder (absolute) -> gen of the scan that last saw it
	dirty    map[string]struct{} // absolute paths named by events or Forget, to check
	goneDirs map[string]struct{} // watched folders removed or renamed since the last check

	scanT, settleT, dirtyT, restT *time.Timer
	settleArmed                   bool
	settleAt                      time.Duration
}

// Run watches until ctx is done and sends the settled files to out, in
// batches: one per slice of a full scan (see scanSlice), settle tick or
// event check, split at 5,000 files.
// The receiver owns each batch. A file is sent once per Run for each size
// and modification time it settles with; a file that vanishes is forgotten
// and offered again if it comes back. Every send also waits on ctx.
//
// Run returns nil once ctx is done, after stopping everything it started. It
// returns an error only when called while another Run of w is active.
func (w *Local) Run(ctx context.Context, out chan<- []File) error {
	if !w.running.CompareAndSwap(false, true) {
		return fmt.Errorf("watcher %s: already running", w.opts.Name)
	}
	defer w.running.Store(false)
	select { // requests made before this run are moot: it starts afresh
	case <-w.rescan:
	default:
	}
	w.takeForgets()

	r := w.newRun(out)
	defer func() {
		r.scanT.Stop()
		r.settleT.Stop()
		r.dirtyT.Stop()
		r.restT.Stop()
		if r.scan != nil {
			r.scan.stop()
		}
		r.closeEvents()
		w.setUnreadable("")
		w.stats.unreadable.Store(0)
	}()
	if w.opts.Poll {
		w.setMode(ModePolling, "configured (poll)")
	} else {
		r.startEvents()
	}

	err := r.loop(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// newRun returns the state of a Run that sends to out; its first full scan
// is due at once.
func (w *Local) newRun(out chan<- []File) *run {
	r := &run{
		w:         w,
		out:       out,
		root:      w.opts.Root,
		settle:    w.opts.Settle,
		slack:     min(w.opts.Settle/10, time.Second),
		pollEvery: w.pollInterval(),
		start:     w.now(),
		keys:      newKeys(),
		dirs:      make(map[string]*dir),
		scanList:  w.newLister(),
		eventList: w.newLister(),
		forgot:    make(map[string]uint32),
		failed:    make(map[string]string),
		warned:    make(map[string]struct{}),
		skipped:   make(map[uint64]uint32),
		seed:      maphash.MakeSeed(),
		budget:    -1,
		watched:   make(map[string]uint32),
		dirty:     make(map[string]struct{}),
		goneDirs:  make(map[string]struct{}),
		scanT:     time.NewTimer(0), // the first full scan runs at once
		settleT:   time.NewTimer(time.Hour),
		dirtyT:    time.NewTimer(time.Hour),
		restT:     time.NewTimer(time.Hour),
	}
	r.settleT.Stop()
	r.dirtyT.Stop()
	r.restT.Stop()
	return r
}

// loop is the only place the run's state changes. Its helpers return an
// error only when ctx is done.
func (r *run) loop(ctx context.Context) error {
	for {
		// While a full scan is under way, requests for one wait for its
		// end, and its rests end on restT.
		scanC, rescanC, restC := r.scanT.C, r.w.rescan, (<-chan time.Time)(nil)
		if r.scan != nil {
			scanC, rescanC, restC = nil, nil, r.restT.C
		}
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-scanC:
			err = r.fullScan(ctx)
		case <-rescanC:
			err = r.fullScan(ctx)
		case <-restC:
			err = r.continueScan(ctx)
		case ev, ok := <-r.events:
			if ok {
				r.w.stats.events.Add(1)
				r.onEvent(ev)
			} else {
				r.toPolling("file watcher stopped", "file watcher stopped; polling instead")
			}
		case e, ok := <-r.errs:
			if ok {
				err = r.onWatchError(ctx, e)
			} else {
				r.toPolling("file watcher stopped", "file watcher stopped; polling instead")
			}
		case <-r.dirtyT.C:
			err = r.checkDirty(ctx)
		case <-r.settleT.C:
			r.settleArmed = false
			err = r.settleDue(ctx)
		case <-r.w.wake:
			r.forget(r.w.takeForgets())
		}
		if err == nil {
			err = r.send(ctx)
		}
		if err != nil {
			return err
		}
		if r.scan == nil { // a scan under way starts from an empty list
			if r.failedChanged {
				r.failedChanged = false
				r.w.setUnreadable(unreadable(r.failed))
			}
			r.w.stats.unreadable.Store(int64(len(r.failed)))
		}
		r.armSettle()
	}
}

// elapsed is the run's clock: time since Run started.
func (r *run) elapsed() time.Duration { return r.w.now().Sub(r.start) }

// abs turns a relative slash-separated path into an absolute OS path.
func (r *run) abs(rel string) string { return filepath.Join(r.root, filepath.FromSlash(rel)) }

// rel turns an absolute OS path into a relative slash-separated one; false
// if it is not inside Root.
func (r *run) rel(abs string) (string, bool) {
	rel, err := filepath.Rel(r.root, abs)
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// warn logs a problem at warn level the first time key is reported, and at
// debug level after that until clearWarn(key): one line per problem, not one
// per retry.
func (r *run) warn(key, msg string, args ...any) {
	if _, ok := r.warned[key]; ok {
		r.w.log.Debug(msg, args...)
		return
	}
	r.warned[key] = struct{}{}
	r.w.log.Warn(msg, args...)
}

// clearWarn reports whether the problem key had been warned about, and
// forgets it.
func (r *run) clearWarn(key string) bool {
	if _, ok := r.warned[key]; !ok {
		return false
	}
	delete(r.warned, key)
	return true
}

// startEvents creates the fsnotify watcher, or switches to polling if that
// fails. Folders are added to it by the scans.
func (r *run) startEvents() {
	limit, known := maxWatches()
	r.limit, r.budget = limit, watchBudget(limit, known)
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		if isInstanceLimit(err) {
			r.toPolling("too many inotify instances",
				"cannot create a file watcher: too many inotify instances; polling instead (raise fs.inotify.max_user_instances)",
				"err", err)
			return
		}
		r.toPolling("file watcher unavailable: "+err.Error(), "cannot create a file watcher; polling instead", "err", err)
		return
	}
	r.fsw, r.events, r.errs = fsw, fsw.Events, fsw.Errors
	r.w.setMode(ModeEvents, fmt.Sprintf("fsnotify events and a full scan every %v", r.w.opts.RescanInterval))
}

// closeEvents stops the fsnotify watcher, if any, and forgets its watches.
func (r *run) closeEvents() {
	if r.fsw == nil {
		return
	}
	if err := r.fsw.Close(); err != nil {
		r.w.log.Debug("close file watcher", "err", err)
	}
	r.fsw, r.events, r.errs = nil, nil, nil
	clear(r.watched)
	clear(r.goneDirs)
}

// toPolling switches this run to polling for good, logging msg once.
func (r *run) toPolling(reason, msg string, args ...any) {
	r.closeEvents()
	r.w.setMode(ModePolling, reason)
	r.w.stats.pollingSwitches.Add(1)
	r.w.log.Warn(msg, append(args, "poll_every", r.pollEvery)...)
	r.scanT.Reset(r.pollEvery)
}

// scanEvery is the time from one full scan to the next.
func (r *run) scanEvery() time.Duration {
	if r.fsw == nil {
		return r.pollEvery
	}
	if _, down := r.failed["."]; down {
		return r.pollEvery // no events come from a missing root
	}
	return r.w.opts.RescanInterval
}

// requestScan asks for a full scan soon: now, or once the one under way
// has ended.
func (r *run) requestScan() {
	if r.scan != nil {
		r.scanAgain = true
		return
	}
	r.scanT.Reset(0)
}

// onWatchError handles an error from fsnotify: events may have been lost, so
// the watcher is renewed (its watches may now name the wrong folders) and
// the tree scanned.
func (r *run) onWatchError(ctx context.Context, err error) error {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		r.w.stats.overflows.Add(1)
		r.warn("overflow", "file events overflowed; rescanning (raise fs.inotify.max_queued_events if this repeats)")
	} else {
		r.w.stats.watchErrors.Add(1)
		r.warn("watcherr", "file watcher error; rescanning", "err", err)
	}
	r.closeEvents()
	r.startEvents()
	return r.fullScan(ctx)
}

// onEvent marks the path an event names for a check. The event's type is
// only used to notice watched folders that went away.
func (r *run) onEvent(ev fsnotify.Event) {
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if _, ok := r.watched[ev.Name]; ok {
			r.goneDirs[ev.Name] = struct{}{}
		}
	}
	if ev.Name != r.root && Ignored(filepath.Base(ev.Name)) {
		return
	}
	r.markDirty(ev.Name)
}

func (r *run) markDirty(abs string) {
	if len(r.dirty) >= maxDirty {
		clear(r.dirty)
		r.requestScan()
		return
	}
	if len(r.dirty) == 0 {
		r.dirtyT.Reset(eventDelay)
	}
	r.dirty[abs] = struct{}{}
}

// forget drops paths from memory and checks them soon.
func (r *run) forget(paths []string) {
	for _, rel := range paths {
		if !filepath.IsLocal(filepath.FromSlash(rel)) {
			continue
		}
		r.dropFile(path.Dir(rel), path.Base(rel))
		if r.w.opts.Known != nil {
			r.forgot[path.Clean(rel)] = r.gen
		}
		r.markDirty(r.abs(rel))
	}
}

// dropGoneWatches removes the watches of folders that were removed or
// renamed, and of everything below them, so that a folder now at one of
// those paths gets a fresh watch.
func (r *run) dropGoneWatches() {
	if len(r.goneDirs) == 0 {
		return
	}
	for dir := range r.watched {
		for d := dir; ; {
			if _, ok := r.goneDirs[d]; ok {
				r.unwatch(dir)
				break
			}
			parent := filepath.Dir(d)
			if parent == d || d == r.root {
				break
			}
			d = parent
		}
	}
	clear(r.goneDirs)
}

func (r *run) unwatch(dir string) {
	delete(r.watched, dir)
	// The watch is usually gone already (the folder was deleted).
	_ = r.fsw.Remove(dir)
}

// checkDirty looks at the paths named by events and Forget.
func (r *run) checkDirty(ctx context.Context) error {
	r.dropGoneWatches()
	for abs := range r.dirty {
		delete(r.dirty, abs)
		if err := r.checkPath(ctx, abs); err != nil {
			return err
		}
	}
	return nil
}

// checkPath looks at one path: a new folder is watched and scanned, a file
// observed, anything gone forgotten.
func (r *run) checkPath(ctx context.Context, abs string) error {
	rel, ok := r.rel(abs)
	if !ok {
		return nil
	}
	if rel == "." {
		r.requestScan() // Root itself changed (deleted, renamed, remounted)
		return nil
	}
	parent, name := path.Dir(rel), path.Base(rel)
	if !r.w.opts.Recursive && parent != "." {
		return nil
	}
	info, err := os.Lstat(abs)
	if err != nil {
		r.dropFile(parent, name)
		return nil
	}
	switch {
	case info.IsDir():
		_, watched := r.watched[abs]
		_, failed := r.failed[rel] // a change of mode may have made it readable
		if watched && !failed || !r.w.opts.Recursive || !r.w.rules.wantDir(rel, name) {
			return nil
		}
		return r.readTree(ctx, abs, rel)
	case info.Mode().IsRegular():
		if r.w.rules.wantFile(rel, name) {
			r.observe(r.dir(parent), name, info.Size(), info.ModTime().UnixNano(), false)
		}
		return r.sendFull(ctx)
	default:
		r.dropFile(parent, name)
		r.skip(rel, abs, name, info.Mode())
		return nil
	}
}

// fullScan starts a full scan of the tree, or starts it again if one is
// under way, and does its first slice of work.
func (r *run) fullScan(ctx context.Context) error {
	if r.scan != nil {
		r.scan.stop()
	}
	r.dropGoneWatches()
	r.gen++
	if len(r.failed) > 0 {
		clear(r.failed)
		r.failedChanged = true
	}
	r.scan = &walk{list: r.scanList, todo: []walkDir{{abs: r.root, rel: "."}}}
	r.scanStarted = time.Now()
	return r.continueScan(ctx)
}

// continueScan does the next slice of the full scan under way, then rests
// or, at its end, forgets the files it did not see.
func (r *run) continueScan(ctx context.Context) error {
	wk := r.scan
	done, err := r.step(ctx, wk, true)
	if err != nil {
		return err
	}
	if !done {
		r.restT.Reset(scanRest)
		return nil
	}
	r.scan = nil
	r.restT.Stop()
	if r.scanAgain {
		r.scanAgain = false
		r.scanT.Reset(0)
	} else {
		r.scanT.Reset(r.scanEvery())
	}
	took := time.Since(r.scanStarted)
	r.w.stats.scanned(took, wk.files)
	if _, down := r.failed["."]; down {
		// Keep the memory of sent files: the share may just be offline.
		// The watches are dead; a returning Root is watched afresh.
		for dir := range r.watched {
			r.unwatch(dir)
		}
		return nil
	}
	r.sweep()
	if err := r.send(ctx); err != nil {
		return err
	}
	r.w.log.Debug("scanned", "files", wk.files, "folders", len(r.dirs), "took", took)
	return nil
}

// sweep forgets the folders, watches and skipped entries the last full
// scan did not reach, except below folders it could not read. (The files a
// folder's read did not list are forgotten at the end of the read.)
func (r *run) sweep() {
	for rel, d := range r.dirs {
		if d.gen != r.gen && !r.belowFailed(rel) {
			r.dropDir(d)
		}
	}
	for dir, gen := range r.watched {
		if gen != r.gen {
			r.unwatch(dir)
		}
	}
	for k, gen := range r.skipped {
		if gen != r.gen {
			delete(r.skipped, k)
		}
	}
	for rel, gen := range r.forgot {
		if gen != r.gen {
			delete(r.forgot, rel)
		}
	}
}

// belowFailed reports whether the folder rel, or one above it, could not be
// read by the current scan.
func (r *run) belowFailed(rel string) bool {
	if len(r.failed) == 0 {
		return false
	}
	for d := rel; ; d = path.Dir(d) {
		if _, ok := r.failed[d]; ok {
			return true
		}
		if d == "." {
			return false
		}
	}
}

// readFailed records and reports a folder that could not be read.
func (r *run) readFailed(abs, rel string, err error) {
	if rel != "." && errors.Is(err, fs.ErrNotExist) {
		return // removed while scanning: its files are rightly forgotten
	}
	why := err.Error()
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		why = pe.Err.Error()
	}
	r.failed[rel] = why
	if rel == "." {
		r.w.setProblem(fmt.Sprintf("folder unavailable, retried every %v: %v", r.pollEvery, err))
		r.warn("dir:.", "root folder unavailable; retrying", "root", abs, "retry_every", r.pollEvery, "err", err)
		return
	}
	r.failedChanged = true
	r.warn("dir:"+rel, "cannot read folder; skipping it", "folder", abs, "err", err)
}

// unreadable sums up the folders below the root in failed for Problem, ""
// when there are none.
func unreadable(failed map[string]string) string {
	rels := make([]string, 0, len(failed))
	for rel := range failed {
		if rel != "." {
			rels = append(rels, rel)
		}
	}
	if len(rels) == 0 {
		return ""
	}
	slices.Sort(rels)
	var b strings.Builder
	if len(rels) == 1 {
		b.WriteString("1 folder unreadable: ")
	} else {
		fmt.Fprintf(&b, "%d folders unreadable: ", len(rels))
	}
	for i, rel := range rels[:min(len(rels), maxListed)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", rel, failed[rel])
	}
	if len(rels) > maxListed {
		fmt.Fprintf(&b, ", and %d more", len(rels)-maxListed)
	}
	return b.String()
}

// skip logs, at debug level and once while it stays, that the entry at rel
// is not offered because it is not a regular file or folder, unless its
// name is one never offered anyway.
func (r *run) skip(rel, abs, name string, mode fs.FileMode) {
	if !r.w.rules.wantDir(rel, name) { // ignored or excluded: nothing to say
		return
	}
	why := skipReason(mode)
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(rel)
	h.WriteByte(0)
	h.WriteString(why)
	k := h.Sum64()
	if _, seen := r.skipped[k]; !seen {
		r.w.stats.skipped.Add(1)
		r.w.log.Debug("not offered", "path", abs, "why", why)
	}
	r.skipped[k] = r.gen
}

// skipReason says why an entry of this type is not offered.
func skipReason(mode fs.FileMode) string {
	switch t := mode.Type(); {
	case t&fs.ModeSymlink != 0:
		return "symlink: not followed"
	case t&fs.ModeNamedPipe != 0:
		return "not a regular file: fifo"
	case t&fs.ModeSocket != 0:
		return "not a regular file: socket"
	case t&fs.ModeCharDevice != 0:
		return "not a regular file: character device"
	case t&fs.ModeDevice != 0:
		return "not a regular file: device"
	default:
		return "not a regular file"
	}
}

// watch adds an fsnotify watch on a folder, unless polling. Reaching the
// watch limit switches the run to polling.
func (r *run) watch(abs, rel string) {
	if r.fsw == nil {
		return
	}
	if _, ok := r.watched[abs]; ok {
		r.watched[abs] = r.gen
		return
	}
	if r.budget >= 0 && len(r.watched) >= r.budget {
		r.toPolling(fmt.Sprintf("inotify watch limit too low: fs.inotify.max_user_watches=%d, tree has more than %d folders", r.limit, r.budget),
			"too many folders for the inotify watch limit; polling instead ("+raiseWatchesHint+")",
			"max_user_watches", r.limit, "folders_over", r.budget)
		return
	}
	err := r.fsw.Add(abs)
	switch {
	case err == nil:
		r.watched[abs] = r.gen
	case isWatchLimit(err):
		r.toPolling(fmt.Sprintf("inotify watch limit reached after %d folders", len(r.watched)),
			"inotify watch limit reached; polling instead ("+raiseWatchesHint+")",
			"folder", abs, "folders_watched", len(r.watched), "err", err)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		// Reading the folder reports it.
	default:
		r.warn("watch:"+rel, "cannot watch folder; rescans still find its files", "folder", abs, "err", err)
	}
}

// dir returns the memory of the folder rel, made empty if there is none.
func (r *run) dir(rel string) *dir {
	d := r.dirs[rel]
	if d == nil {
		d = &dir{rel: rel, gen: r.gen}
		r.dirs[rel] = d
	}
	return d
}

// dropDir forgets a folder and every file of it.
func (r *run) dropDir(d *dir) {
	delete(r.dirs, d.rel)
	for _, e := range d.settling {
		e.gone = true
	}
}

// dropFile forgets the file name of the folder parent: it vanished, is no
// longer a regular file, or was passed to Forget.
func (r *run) dropFile(parent, name string) {
	d := r.dirs[parent]
	if d == nil {
		return
	}
	d.files.dropKey(r.keys.key(name))
	if e := d.settling[name]; e != nil {
		r.dropSettling(e)
	}
}

func (r *run) dropSettling(e *settling) {
	e.gone = true
	delete(e.dir.settling, e.name)
	if len(e.dir.settling) == 0 {
		e.dir.settling = nil
	}
}

// observe records that the file name of the folder d has this size and
// modification time now, as listed by a read of d or else as found by an
// event or a settle check, and offers it if it has settled. It reports
// whether it offered the file. name may point into a lister's buffer: it
// is copied before it is kept.
func (r *run) observe(d *dir, name string, size, mtime int64, listed bool) bool {
	h := maphash.String(r.keys.name, name)
	k, fp := keyOf(h), r.keys.fp(h, size, mtime)
	if i := d.files.find(k, fp); i >= 0 { // offered in this version already
		if listed {
			d.files.mark(i)
		}
		if len(d.settling) > 0 {
			if e := d.settling[name]; e != nil { // it changed, and changed back
				r.dropSettling(e)
			}
		}
		return false
	}
	now := r.elapsed()
	e := d.settling[name]
	switch {
	case e == nil:
		if r.known(d, name, size, mtime) {
			d.files.add(k, fp)
			r.w.stats.known.Add(1)
			return false
		}
		if !listed { // a new version found by an event: the old one goes now
			d.files.dropKey(k)
		}
		e = &settling{dir: d, name: strings.Clone(name), size: size, mtime: mtime, seen: now, read: d.reads}
		if d.settling == nil {
			d.settling = make(map[string]*settling)
		}
		d.settling[e.name] = e
		if r.settle > 0 {
			r.pending.push(check{e: e, seen: now})
		}
	case e.size != size || e.mtime != mtime:
		e.size, e.mtime, e.seen = size, mtime, now
		if r.settle > 0 {
			r.pending.push(check{e: e, seen: now})
		}
	}
	if listed {
		e.read = d.reads
	}
	if now-e.seen < r.settle {
		return false
	}
	r.dropSettling(e)
	d.files.add(k, fp)
	r.offer(d.join(e.name), size, mtime)
	return true
}

// known reports whether Options.Known takes the file name of d, in this
// version, as handed over already; a path passed to Forget is not asked
// about once.
func (r *run) known(d *dir, name string, size, mtime int64) bool {
	if r.w.opts.Known == nil {
		return false
	}
	rel := d.join(name)
	if len(r.forgot) > 0 {
		if _, ok := r.forgot[rel]; ok {
			delete(r.forgot, rel)
			return false
		}
	}
	return r.w.opts.Known(rel, size, time.Unix(0, mtime))
}

// settleDue rechecks the files whose settle time has passed.
func (r *run) settleDue(ctx context.Context) error {
	now := r.elapsed()
	for {
		c, ok := r.pending.peek()
		if !ok || c.seen+r.settle > now {
			return nil
		}
		r.pending.pop()
		e := c.e
		if e.gone || e.seen != c.seen {
			continue // stale: forgotten, offered or changed since
		}
		info, err := os.Lstat(r.abs(e.dir.join(e.name)))
		if err != nil || !info.Mode().IsRegular() {
			r.dropSettling(e)
			continue
		}
		if r.observe(e.dir, e.name, info.Size(), info.ModTime().UnixNano(), false) {
			if err := r.sendFull(ctx); err != nil {
				return err
			}
		}
	}
}

// armSettle sets the settle timer for the earliest pending check.
func (r *run) armSettle() {
	c, ok := r.pending.peek()
	if !ok {
		return
	}
	at := c.seen + r.settle + r.slack
	if r.settleArmed && r.settleAt <= at {
		return
	}
	r.settleT.Reset(at - r.elapsed())
	r.settleArmed, r.settleAt = true, at
}

func (r *run) offer(rel string, size, mtime int64) {
	r.batch = append(r.batch, File{
		Source:  r.w.opts.Name,
		Path:    rel,
		Abs:     r.abs(rel),
		Size:    size,
		ModTime: time.Unix(0, mtime),
	})
}

// sendFull sends the batch if it is full.
func (r *run) sendFull(ctx context.Context) error {
	if len(r.batch) < maxBatch {
		return nil
	}
	return r.send(ctx)
}

// send hands the batch, if any, to the receiver.
func (r *run) send(ctx context.Context) error {
	if len(r.batch) == 0 {
		return nil
	}
	select {
	case r.out <- r.batch:
		r.w.stats.found.Add(uint64(len(r.batch)))
		r.batch = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
