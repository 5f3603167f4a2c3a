// Package ftp polls an FTP or FTPS server for settled files and downloads,
// deletes and moves them.
//
// A [Source] lists its remote folder (MLSD, or LIST with MDTM for exact
// times) every PollInterval on a kept connection and reports each file
// whose size and modification time stayed the same across at least two
// polls and for at least Settle, exactly as the local watcher reports local
// files. It never touches the store: the agent decides what to do with what
// is found, and calls [Source.Download], [Source.Delete] and [Source.Move].
//
// Remote names are outside input. A name that is empty, ".", "..", holds a
// slash, a backslash, NUL or another control character, or is not valid
// UTF-8, is refused: logged once with the reason and listed by
// [Source.Problem]. Symbolic links are never followed, and only entries
// the server calls regular files are offered: MLSD's type=file (an unknown
// type, or none, is not a file) and LIST's "-" lines. Every FTP operation
// has a deadline (Options.Timeout) on each read and write of its
// connections, so a hung server costs at most that long.
//
// A server that lists badly costs no state: when a folder's listing fails,
// or comes back with MLSD lines that do not parse or cut off in the middle
// of a line, the files known in it that the listing did not show are kept,
// not forgotten as deleted, and the folder is shown by Problem and counted
// as Unreadable. With List "auto", a server that offers MLSD in FEAT but
// refuses it is listed with LIST on that connection.
package ftp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vela-agent/vela-agent/watcher"
)

// Defaults of the Options fields left zero.
const (
	DefaultSettle       = time.Minute
	DefaultPollInterval = time.Minute
	DefaultTimeout      = 60 * time.Second
	DefaultMaxConns     = 2
)

// Listing modes of Options.List.
const (
	ListAuto = "auto" // MLSD when FEAT offers it, else LIST (+ MDTM)
	ListMLSD = "mlsd" // MLSD only: a server without it is a problem
	ListLIST = "list" // LIST (+ MDTM), even when MLSD is offered
)

// Tunables; variables so that tests can change them.
var (
	// minBackoff and maxBackoff bound the wait between polls after a
	// failed one; the wait doubles from minBackoff, never past
	// PollInterval nor maxBackoff.
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
	// maxBatch caps the files in one send on Run's channel.
	maxBatch = 5000
	// maxListed caps the names and folders Problem spells out.
	maxListed = 3
	// maxStalls is how many attempts in a row a Download may make without
	// receiving a byte before it gives up.
	maxStalls = 3
)

// Options configure a [Source].
type Options struct {
	Name     string // source name, put in every File
	Addr     string // host:port
	User     string
	Password string // never logged, never in an error
	// Dir is the remote root folder ("/" or "/calls"); paths are relative
	// to it, slash-separated.
	Dir string
	// TLS nil means plain FTP; else explicit AUTH TLS, or implicit TLS when
	// ImplicitTLS. ServerName defaults to Addr's host.
	TLS         *tls.Config
	ImplicitTLS bool
	Recursive   bool
	// Include and Exclude have the local watcher's semantics (see
	// watcher.Options).
	Include, Exclude []string
	// Settle: a file is taken once its size and mtime stayed the same this
	// long and across at least two polls; default 1m.
	Settle time.Duration
	// PollInterval is the period of polls; default 1m. Polls never overlap.
	PollInterval time.Duration
	// Timeout is the deadline of every FTP operation (dial, login, each
	// read and write of LIST or RETR); default 60s.
	Timeout time.Duration
	// List is "auto" (MLSD when FEAT offers it), "mlsd" or "list".
	List string
	// ServerTZ is the zone of LIST and MDTM times on servers that report
	// local time; nil means UTC. MLSD times are UTC (RFC 3659) always.
	ServerTZ *time.Location
	// MaxConns caps the connections: one lists, the rest transfer;
	// default 2.
	MaxConns int
	Logger   *slog.Logger
}

// Source polls one remote folder. Create it with [New]; its methods may be
// called from any goroutine.
type Source struct {
	opts    Options
	filter  *watcher.Filter
	log     *slog.Logger
	tls     *tls.Config // opts.TLS with ServerName and a session cache; nil for plain FTP
	running atomic.Bool
	now     func() time.Time

	// dialHook, when a test sets it before use, wraps every raw
	// connection dialled (control first, then data) to inject faults.
	dialHook func(addr string, c net.Conn) net.Conn

	lister *pool // the listing connection
	xfer   *pool // the transfer connections

	stats counters

	// mem is what the polls remember of each remote file, by path. It
	// outlives a Run, so that a file seen again with the same size and mtime
	// after a reconnect or a new Run is not offered again. Only the
	// goroutine running Run uses it.
	mem map[string]*entry

	mu         sync.Mutex // guards the fields below
	forgets    []string
	problem    string            // connection-level problem now; "" when none
	refused    map[string]string // hostile remote names (as listed, quoted) -> why
	failed     map[string]string // folders the latest poll could not list -> why
	incomplete map[string]string // folders (remote paths) the latest poll listed in part -> why
	skipped    map[string]string // links and other non-files the latest poll skipped -> why
	sizes      map[string]int64  // path -> size when offered, for Move's idempotence
	noPrecis   bool              // the server gives only minute-precise times
	// fallback is why the listing connection uses LIST although FEAT
	// offers MLSD ("" when it does not); fallbackLogged is the reply last
	// logged as a warning.
	fallback, fallbackLogged string
}

// New checks o, fills in its defaults and returns a Source. It does not
// connect: Run and the other methods dial when they need to.
func New(o Options) (*Source, error) {
	if o.Name == "" {
		return nil, errors.New("ftp: name is empty")
	}
	if _, _, err := net.SplitHostPort(o.Addr); err != nil {
		return nil, fmt.Errorf("ftp %s: address %q: %w", o.Name, o.Addr, err)
	}
	if o.User == "" {
		o.User = "anonymous"
	}
	if o.Dir == "" {
		o.Dir = "/"
	}
	if !strings.HasPrefix(o.Dir, "/") {
		return nil, fmt.Errorf("ftp %s: dir %q is not absolute", o.Name, o.Dir)
	}
	o.Dir = path.Clean(o.Dir)
	if o.ImplicitTLS && o.TLS == nil {
		return nil, fmt.Errorf("ftp %s: implicit TLS without a TLS configuration", o.Name)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"settle", &o.Settle, DefaultSettle}, {"poll interval", &o.PollInterval, DefaultPollInterval}, {"timeout", &o.Timeout, DefaultTimeout}} {
		if *d.v < 0 {
			return nil, fmt.Errorf("ftp %s: %s %v is negative", o.Name, d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	switch o.List {
	case "":
		o.List = ListAuto
	case ListAuto, ListMLSD, ListLIST:
	default:
		return nil, fmt.Errorf("ftp %s: list %q: want auto, mlsd or list", o.Name, o.List)
	}
	if o.MaxConns < 0 {
		return nil, fmt.Errorf("ftp %s: max connections %d is negative", o.Name, o.MaxConns)
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	f, err := watcher.NewFilter(o.Include, o.Exclude)
	if err != nil {
		return nil, fmt.Errorf("ftp %s: %w", o.Name, err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Source{
		opts:       o,
		filter:     f,
		log:        logger.With("source", o.Name),
		now:        time.Now,
		mem:        make(map[string]*entry),
		refused:    make(map[string]string),
		failed:     make(map[string]string),
		incomplete: make(map[string]string),
		skipped:    make(map[string]string),
		sizes:      make(map[string]int64),
	}
	if o.TLS != nil {
		c := o.TLS.Clone()
		if c.ServerName == "" {
			c.ServerName, _, _ = net.SplitHostPort(o.Addr)
		}
		if c.ClientSessionCache == nil {
			// Data connections resume the control connection's session,
			// as servers with require_ssl_reuse demand.
			c.ClientSessionCache = tls.NewLRUClientSessionCache(8)
		}
		s.tls = c
	}
	s.lister = newPool(s, 1)
	s.xfer = newPool(s, max(o.MaxConns-1, 1))
	return s, nil
}

// URL is the source's address for people: scheme, user, host and folder,
// never the password.
func (s *Source) URL() string {
	scheme := "ftp"
	if s.tls != nil {
		scheme = "ftps"
		if !s.opts.ImplicitTLS {
			scheme = "ftp+tls"
		}
	}
	u := url.URL{Scheme: scheme, User: url.User(s.opts.User), Host: s.opts.Addr, Path: s.opts.Dir}
	return u.String()
}

// Mode reports how files are found: "ftp", and the polling it does.
func (s *Source) Mode() (mode, reason string) {
	reason = fmt.Sprintf("polling %s every %v", s.URL(), s.opts.PollInterval)
	s.mu.Lock()
	if s.fallback != "" {
		reason += " with LIST (the server refused MLSD: " + s.fallback + ")"
	}
	if s.noPrecis {
		reason += " (server times are minute-precise: no MLSD, no MDTM)"
	}
	s.mu.Unlock()
	return "ftp", reason
}

// Problem says what an admin must fix now, or "" when nothing: the server
// unreachable, the login refused, the TLS certificate not trusted (with the
// x509 problem spelled out), the folder not listable, or else the folders
// below it that could not be listed, the folders whose listing came back
// incomplete (MLSD lines not understood, a listing cut off) and the remote
// names refused.
func (s *Source) Problem() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.problem != "" {
		return s.problem
	}
	var parts []string
	if p := sumUp(s.failed, "folder unreadable", "folders unreadable"); p != "" {
		parts = append(parts, p)
	}
	if p := sumUp(s.incomplete, "folder listed incompletely", "folders listed incompletely"); p != "" {
		parts = append(parts, p)
	}
	if p := sumUp(s.refused, "remote name refused", "remote names refused"); p != "" {
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

func (s *Source) setProblem(p string) {
	s.mu.Lock()
	s.problem = p
	s.mu.Unlock()
}

// sumUp writes "2 folders unreadable: a (why), b (why)" for Problem.
func sumUp(m map[string]string, one, many string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	if len(keys) == 1 {
		fmt.Fprintf(&b, "1 %s: ", one)
	} else {
		fmt.Fprintf(&b, "%d %s: ", len(keys), many)
	}
	for i, k := range keys[:min(len(keys), maxListed)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", k, m[k])
	}
	if len(keys) > maxListed {
		fmt.Fprintf(&b, ", and %d more", len(keys)-maxListed)
	}
	return b.String()
}

// Forget drops path (as in File.Path) from the memory of what was already
// reported, so the file is offered again, once settled, on a later poll. It
// never blocks.
func (s *Source) Forget(path string) {
	s.mu.Lock()
	s.forgets = append(s.forgets, path)
	s.mu.Unlock()
}

func (s *Source) takeForgets() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.forgets
	s.forgets = nil
	return p
}

// counters hold what Stats reports; any goroutine may read them.
type counters struct {
	polls      atomic.Uint64
	lastPoll   atomic.Int64 // nanoseconds
	lastFiles  atomic.Int64
	pollTime   atomic.Int64 // nanoseconds
	found      atomic.Uint64
	skipped    atomic.Uint64
	unreadable atomic.Int64
	failures   atomic.Uint64
	redials    atomic.Uint64
}

// Stats returns the source's figures: completed polls as Scans, files
// handed over as Found, symbolic links, other entries that are not regular
// files and refused names as Skipped (each counted when first seen),
// folders not listable now or listed incompletely by the latest poll as
// Unreadable.
func (s *Source) Stats() watcher.Stats {
	c := &s.stats
	return watcher.Stats{
		Scans:            c.polls.Load(),
		LastScanDuration: time.Duration(c.lastPoll.Load()),
		LastScanFiles:    int(c.lastFiles.Load()),
		ScanTime:         time.Duration(c.pollTime.Load()),
		Found:            c.found.Load(),
		Skipped:          c.skipped.Load(),
		Unreadable:       int(c.unreadable.Load()),
	}
}

// badName says why a remote name (one path element, as listed) is refused,
// or "" when it is acceptable.
func badName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case name == "." || name == "..":
		return "dot name"
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case strings.Contains(name, "/"):
		return "slash in name"
	case strings.Contains(name, `\`):
		return "backslash in name"
	}
	for _, r := range name {
		if r == 0 {
			return "NUL in name"
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "control character in name"
		}
	}
	return ""
}

// checkRel reports whether rel is a clean slash-separated path below Dir
// made of acceptable names.
func checkRel(rel string) error {
	if rel == "" || strings.HasPrefix(rel, "/") {
		return fmt.Errorf("path %q: not relative", rel)
	}
	for el := range strings.SplitSeq(rel, "/") {
		if why := badName(el); why != "" {
			return fmt.Errorf("path %q: %s", rel, why)
		}
	}
	return nil
}

// remote returns the absolute remote path of rel.
func (s *Source) remote(rel string) string { return path.Join(s.opts.Dir, rel) }
