// Package watcher finds settled files in local folders: fsnotify events as
// hints, periodic full scans as the truth.
//
// A [Local] watches one folder tree. Events only say where to look; whether a
// file is offered is decided from os.Lstat results alone (size and
// modification time), so a lost, merged or misread event costs latency, never
// a file: the full scan at start and every RescanInterval reconciles
// everything. Where events cannot be had (Options.Poll, fsnotify unavailable,
// the inotify watch limit too low for the tree) the watcher polls with full
// scans instead.
//
// What is never offered: symbolic links (to files or folders, so nothing
// outside Root is ever reached; Root itself may be a link), anything that is
// not a regular file, and files and folders named by [IgnoredPrefixes] and
// [IgnoredSuffixes] (temporary, partial and hidden ones). Links, FIFOs,
// sockets and devices are logged at debug level, once each when first seen,
// with the reason ("symlink: not followed", "not a regular file: fifo").
// Folders that cannot be read are logged once at warn level and listed by
// [Local.Problem] until they can. [Local.Stats] counts the watcher's work
// (scans, events, files handed over) for monitoring.
//
// Memory and work stay small on trees that only grow (recordings kept where
// they were written): a file already offered is remembered in 9 to 14
// bytes, and only a file still settling has its name kept. A rescan of
// unchanged files costs one stat and one lookup each and, on Linux, no
// allocation (folders are read with getdents64 into a reused buffer); a
// full scan rests as long as it works, every 20 ms, so that a big tree's
// scan never holds a core. Options.Known spares a restart from offering
// again, and settling again, every file of a tree already handed over.
package watcher

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Modes reported by [Local.Mode].
const (
	ModeEvents  = "events"  // fsnotify events plus periodic full scans
	ModePolling = "polling" // full scans only
)

// DefaultRescanInterval is the full scan period used when
// Options.RescanInterval is zero. It is also the default of a source's
// rescan_interval in the configuration, which takes it from here.
const DefaultRescanInterval = 5 * time.Minute

// minPollInterval is the shortest period between the full scans of a polling
// source, whatever Settle is (unless RescanInterval is shorter still).
const minPollInterval = time.Second

// IgnoredPrefixes and IgnoredSuffixes name the files and folders the watcher
// never offers or enters: hidden ones ("."), Office lock files ("~$") and the
// partial files of downloaders and copy tools. Names are compared
// case-insensitively, so entries must be lower case. Change them only while
// no Run is active.
var (
	IgnoredPrefixes = []string{".", "~$"}
	IgnoredSuffixes = []string{".tmp", ".part", ".partial", ".crdownload", ".filepart"}
)

// File is a settled file: its size and modification time were seen
// unchanged across observations at least Options.Settle apart.
type File struct {
	Source  string    // Options.Name
	Path    string    // relative to Root, slash-separated
	Abs     string    // absolute OS path
	Size    int64     // bytes
	ModTime time.Time // modification time
}

// Options configure a [Local] watcher.
type Options struct {
	// Name identifies the source in every File and log line.
	Name string
	// Root is the absolute path of the folder to watch. It need not exist
	// yet: a missing or unreadable Root is retried on every scan, which runs
	// at the polling period meanwhile.
	Root string
	// Recursive also watches the subfolders of Root, at any depth.
	Recursive bool
	// Include lists patterns of files to offer; empty means every file.
	// Patterns have path.Match syntax on every OS, without its backslash
	// escapes (see [CheckPattern]), and match case-insensitively: against
	// the file's base name, or, when the pattern contains "/", against its
	// slash-separated path relative to Root.
	Include []string
	// Exclude lists patterns, as Include, of files not to offer; Exclude
	// wins over Include. A folder whose name (or relative path) matches an
	// Exclude pattern is not entered at all.
	Exclude []string
	// Settle is how long a file must stay unchanged: it is offered once its
	// size and modification time were seen identical in two observations at
	// least Settle apart. Zero offers a file the first time it is seen.
	Settle time.Duration
	// RescanInterval is the period of full scans; the first one runs at
	// start. Zero means DefaultRescanInterval.
	RescanInterval time.Duration
	// Poll disables fsnotify. Files are then found by full scans every
	// Settle, but at most once a second and at least every RescanInterval:
	// a settling file is rechecked on its own, so scanning more often than
	// Settle would only find new files sooner while costing a walk of the
	// whole tree each time. Use it for network shares, which often deliver
	// no events.
	Poll bool
	// Logger receives the warnings; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock used to time Settle; nil means time.Now.
	Now func() time.Time
	// Known, when set, reports whether the file at rel (as in File.Path)
	// was handed over already in this size and modification time, by an
	// earlier Run or process: the agent asks its queue. A file the watcher
	// has no memory of (every file, at the first scan of a Run) that Known
	// reports is remembered as offered at once, without settling and
	// without being sent, so that a restart on a big tree neither offers
	// it again nor tracks it while it settles. Known is not asked about a
	// path passed to Forget, which is offered again. It is called by Run's
	// goroutine, once for each file new to the watcher, and should answer
	// in microseconds.
	Known func(rel string, size int64, mtime time.Time) bool
}

// Local watches one local folder tree. Create it with [New]; its methods may
// be called from any goroutine.
type Local struct {
	opts    Options
	rules   rules
	log     *slog.Logger
	now     func() time.Time
	running atomic.Bool

	// newLister makes the listers of folders; failDir, when set, is a
	// test's hook that makes the folders it refuses unreadable. Set only
	// before Run.
	newLister func() lister
	failDir   func(abs string) error

	rescan chan struct{} // capacity 1: a pending full-scan request
	wake   chan struct{} // capacity 1: forgets is not empty

	stats counters // what Stats reports; written only by Run's goroutine

	mu         sync.Mutex // guards the fields below
	mode       string
	reason     string
	problem    string   // why the root cannot be read now; "" when it can
	unreadable string   // the folders below the root that cannot be read now, summed up; "" when none
	forgets    []string // paths passed to Forget, not yet taken by Run
}

// New checks o and returns a watcher for it. It does not check that Root
// exists: Run retries a missing Root on every scan.
func New(o Options) (*Local, error) {
	if o.Name == "" {
		return nil, errors.New("watcher: name is empty")
	}
	if !filepath.IsAbs(o.Root) {
		return nil, fmt.Errorf("watcher %s: root %q is not an absolute path", o.Name, o.Root)
	}
	o.Root = filepath.Clean(o.Root)
	if o.Settle < 0 {
		return nil, fmt.Errorf("watcher %s: settle %v is negative", o.Name, o.Settle)
	}
	if o.RescanInterval < 0 {
		return nil, fmt.Errorf("watcher %s: rescan interval %v is negative", o.Name, o.RescanInterval)
	}
	if o.RescanInterval == 0 {
		o.RescanInterval = DefaultRescanInterval
	}
	include, err := compile(o.Include)
	if err != nil {
		return nil, fmt.Errorf("watcher %s: include: %w", o.Name, err)
	}
	exclude, err := compile(o.Exclude)
	if err != nil {
		return nil, fmt.Errorf("watcher %s: exclude: %w", o.Name, err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	w := &Local{
		opts:      o,
		rules:     newRules(include, exclude),
		log:       logger.With("source", o.Name),
		now:       now,
		newLister: newLister,
		rescan:    make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		mode:      ModeEvents,
		reason:    "not running",
	}
	if o.Poll {
		w.mode, w.reason = ModePolling, "configured (poll)"
	}
	return w, nil
}

// Rescan asks the running watcher for a full scan now. It never blocks;
// requests made while one is pending are merged into it.
func (w *Local) Rescan() {
	select {
	case w.rescan <- struct{}{}:
	default:
	}
}

// Forget drops path (as in File.Path) from the memory of what was already
// sent, so the file is offered again, once settled, if it still exists,
// whatever Options.Known says of it. It never blocks. Each Run starts with
// an empty memory, so a Forget made while no Run is active has nothing to
// do.
func (w *Local) Forget(path string) {
	w.mu.Lock()
	w.forgets = append(w.forgets, path)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// takeForgets returns the paths passed to Forget since the last call.
func (w *Local) takeForgets() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.forgets
	w.forgets = nil
	return p
}

// Mode reports how files are found, ModeEvents or ModePolling, and why. A
// Run that had to fall back to polling polls until it ends; the next Run
// tries events again.
func (w *Local) Mode() (mode, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mode, w.reason
}

// Problem says what an admin must fix for the watcher to see every file,
// or "" when nothing: why the root folder cannot be read now (missing,
// unreadable), or else which folders below it could not be read by the
// latest scan, such as "2 folders unreadable: a/b (permission denied), c
// (permission denied)". A folder leaves the list once it is read again.
func (w *Local) Problem() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.problem != "" {
		return w.problem
	}
	return w.unreadable
}

func (w *Local) setProblem(p string) {
	w.mu.Lock()
	w.problem = p
	w.mu.Unlock()
}

func (w *Local) setUnreadable(p string) {
	w.mu.Lock()
	w.unreadable = p
	w.mu.Unlock()
}

func (w *Local) setMode(mode, reason string) {
	w.mu.Lock()
	w.mode, w.reason = mode, reason
	w.mu.Unlock()
}

// pollInterval is the period of full scans when polling (see Options.Poll).
func (w *Local) pollInterval() time.Duration {
	return min(w.opts.RescanInterval, max(w.opts.Settle, minPollInterval))
}

// Ignored reports whether a file or folder name is one of the temporary,
// partial or hidden names that are never offered or entered.
func Ignored(name string) bool { return ignoredLower(strings.ToLower(name)) }

// ignoredLower is Ignored of a lower-case name.
func ignoredLower(name string) bool {
	for _, p := range IgnoredPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, s := range IgnoredSuffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// pattern is one Include or Exclude pattern, lower-cased.
type pattern struct {
	glob   string
	onPath bool // match the relative path rather than the base name
}

// rules decide which files are offered and which folders are entered.
type rules struct {
	include, exclude []pattern
	onPath           bool // a pattern matches the relative path
}

func newRules(include, exclude []pattern) rules {
	r := rules{include: include, exclude: exclude}
	for _, p := range slices.Concat(include, exclude) {
		r.onPath = r.onPath || p.onPath
	}
	return r
}

// ErrBackslash is the error of [CheckPattern] for a pattern with a
// backslash.
var ErrBackslash = errors.New(`backslash in a pattern: write "/" between folders, on Windows too, and [*], [?] or [[] to match *, ? or [ itself`)

// CheckPattern reports whether p is a valid Include or Exclude pattern. The
// dialect is the same on every OS: path.Match syntax (*, ?, [a-z], [^a-z])
// on slash-separated paths, without backslash escapes, so that a pattern
// means the same on Windows, where "\" separates folders, as elsewhere. A
// pattern with a backslash is refused with [ErrBackslash].
func CheckPattern(p string) error {
	if strings.Contains(p, `\`) {
		return ErrBackslash
	}
	if _, err := path.Match(p, ""); err != nil {
		return err
	}
	return nil
}

func compile(globs []string) ([]pattern, error) {
	ps := make([]pattern, 0, len(globs))
	for _, g := range globs {
		if err := CheckPattern(g); err != nil {
			return nil, fmt.Errorf("pattern %q: %w", g, err)
		}
		g = strings.ToLower(g)
		ps = append(ps, pattern{glob: g, onPath: strings.Contains(g, "/")})
	}
	return ps, nil
}

// wantFile reports whether the file at rel (slash-separated, relative to
// Root) with base name name is to be offered.
func (r *rules) wantFile(rel, name string) bool {
	lrel := ""
	if r.onPath {
		lrel = strings.ToLower(rel)
	}
	return r.wantLower(lrel, strings.ToLower(name))
}

// wantListed is wantFile for the file name of the folder dirRel, without
// allocating for an ASCII name: it lowers names into sc.
func (r *rules) wantListed(sc *scratch, dirRel, name string) bool {
	lname := lower(&sc.name, name)
	lrel := ""
	if r.onPath && !ignoredLower(lname) {
		sc.rel = sc.rel[:0]
		if dirRel != "." {
			sc.rel = append(appendLower(sc.rel, dirRel), '/')
		}
		sc.rel = append(sc.rel, lname...)
		lrel = bytesString(sc.rel)
	}
	return r.wantLower(lrel, lname)
}

// wantLower is wantFile of a lower-case path and name; lrel is only used,
// and need only be set, when rules.onPath.
func (r *rules) wantLower(lrel, lname string) bool {
	if ignoredLower(lname) || matchAny(r.exclude, lrel, lname) {
		return false
	}
	return len(r.include) == 0 || matchAny(r.include, lrel, lname)
}

// wantDir reports whether the folder at rel is to be entered.
func (r *rules) wantDir(rel, name string) bool {
	lname := strings.ToLower(name)
	lrel := ""
	if r.onPath {
		lrel = strings.ToLower(rel)
	}
	return !ignoredLower(lname) && !matchAny(r.exclude, lrel, lname)
}

// matchAny reports whether a pattern of ps matches the lower-case name, or
// path for a pattern on paths.
func matchAny(ps []pattern, lrel, lname string) bool {
	for _, p := range ps {
		s := lname
		if p.onPath {
			s = lrel
		}
		if ok, _ := path.Match(p.glob, s); ok {
			return true
		}
	}
	return false
}

// Filter applies Include and Exclude patterns, with the same semantics as
// [Options] and the same ignored names, to slash-separated paths relative
// to a root. It lets sources other than local folders (FTP) filter alike.
type Filter struct{ r rules }

// NewFilter compiles include and exclude patterns; see [CheckPattern].
func NewFilter(include, exclude []string) (*Filter, error) {
	in, err := compile(include)
	if err != nil {
		return nil, fmt.Errorf("include: %w", err)
	}
	ex, err := compile(exclude)
	if err != nil {
		return nil, fmt.Errorf("exclude: %w", err)
	}
	return &Filter{r: newRules(in, ex)}, nil
}

// File reports whether the file at rel is to be offered.
func (f *Filter) File(rel string) bool { return f.r.wantFile(rel, path.Base(rel)) }

// Dir reports whether the folder at rel is to be entered.
func (f *Filter) Dir(rel string) bool { return f.r.wantDir(rel, path.Base(rel)) }
