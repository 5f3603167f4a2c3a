package ftp

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/vela-agent/vela-agent/watcher"
)

// entry is what the polls remember of one remote file.
type entry struct {
	size   int64
	listed time.Time // the time the listing gave (minute-precise with LIST)
	mtime  time.Time // the exact time; zero until known
	first  time.Time // when this size and listed time were first seen
	polls  int       // polls in a row that saw this size and listed time
	gen    uint32    // the poll that last saw the file
	sent   bool      // this version was offered
}

// poll is the state of one poll.
type poll struct {
	s       *Source
	c       *jftp.ServerConn
	gen     uint32
	now     time.Time
	precise bool // listing times are exact (MLSD)
	mdtm    bool // MDTM can give exact times
	batch   []watcher.File
	failed  map[string]string
	refused map[string]string
	seen    int
	dirs    []string // folders still to list
}

// Run polls until ctx ends and sends the settled files to found, in batches
// of at most 5,000. The receiver owns each batch. A file is sent once for
// each size and mtime it settles with, and not again after a reconnect or a
// new Run unless [Source.Forget] is called for it. A failed poll (server
// unreachable, login refused, ...) is shown by Problem and retried with a
// backoff that starts at one second and doubles up to PollInterval.
//
// Run returns nil once ctx is done, after closing its connection. It
// returns an error only when called while another Run is active.
func (s *Source) Run(ctx context.Context, found chan<- []watcher.File) error {
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("ftp %s: already running", s.opts.Name)
	}
	defer s.running.Store(false)
	defer s.lister.closeAll()

	t := time.NewTimer(0)
	defer t.Stop()
	var gen uint32
	failures := 0
	lastProblem := ""
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		gen++
		started := time.Now()
		p := &poll{s: s, gen: gen, now: s.now(), failed: map[string]string{}, refused: map[string]string{}}
		err := s.lister.with(ctx, p.run)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			s.stats.failures.Add(1)
			failures++
			prob := s.describe(err)
			s.setProblem(prob)
			wait := min(minBackoff<<min(failures-1, 20), s.opts.PollInterval, maxBackoff)
			if prob != lastProblem {
				s.log.Warn("poll failed; retrying", "problem", prob, "retry_in", wait)
				lastProblem = prob
			} else {
				s.log.Debug("poll failed; retrying", "problem", prob, "retry_in", wait)
			}
			t.Reset(wait)
			continue
		}
		if lastProblem != "" {
			s.log.Info("server available again", "url", s.URL())
			lastProblem = ""
		}
		failures = 0
		took := time.Since(started)
		s.stats.polls.Add(1)
		s.stats.lastPoll.Store(int64(took))
		s.stats.pollTime.Add(int64(took))
		s.stats.lastFiles.Store(int64(p.seen))
		s.stats.unreadable.Store(int64(len(p.failed)))
		p.sweep()
		s.log.Debug("polled", "files", p.seen, "took", took)
		if err := p.send(ctx, found); err != nil {
			return nil
		}
		t.Reset(s.opts.PollInterval)
	}
}

// run lists the tree on c and records what it saw.
func (p *poll) run(c *jftp.ServerConn) error {
	s := p.s
	p.c = c
	p.precise = c.IsTimePreciseInList()
	p.mdtm = c.IsGetTimeSupported()
	s.mu.Lock()
	s.noPrecis = !p.precise && !p.mdtm
	s.mu.Unlock()
	for _, rel := range s.takeForgets() {
		delete(s.mem, rel)
	}
	p.dirs = []string{"."}
	for len(p.dirs) > 0 {
		dir := p.dirs[len(p.dirs)-1]
		p.dirs = p.dirs[:len(p.dirs)-1]
		abs := s.opts.Dir
		if dir != "." {
			abs = s.remote(dir)
		}
		entries, err := c.List(abs)
		if err != nil {
			var tp *textproto.Error
			if dir == "." || !errors.As(err, &tp) {
				return fmt.Errorf("cannot list remote folder %s: %w", abs, err)
			}
			p.failed[dir] = fmt.Sprintf("%d %s", tp.Code, strings.TrimSpace(tp.Msg))
			continue
		}
		for _, e := range entries {
			if err := p.entry(dir, abs, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry looks at one listed entry of the folder dir (abs on the server).
func (p *poll) entry(dir, abs string, e *jftp.Entry) error {
	s := p.s
	name := e.Name
	if name == "." || name == ".." {
		return nil
	}
	if e.Type == jftp.EntryTypeFolder && strings.Contains(name, "/") {
		// MLSD's cdir and pdir entries may carry the folder's own path.
		if c := path.Clean(name); c == abs || c == path.Dir(abs) {
			return nil
		}
	}
	rel := name
	if dir != "." {
		rel = dir + "/" + name
	}
	if why := badName(name); why != "" {
		p.refuse(dir, name, why)
		return nil
	}
	switch e.Type {
	case jftp.EntryTypeLink:
		p.skipLink(rel)
	case jftp.EntryTypeFolder:
		if s.opts.Recursive && s.filter.Dir(rel) {
			p.pushDir(rel)
		}
	case jftp.EntryTypeFile:
		if !s.filter.File(rel) {
			return nil
		}
		p.seen++
		return p.observe(rel, e)
	}
	return nil
}

// observe records a sighting of the file rel and offers it once settled.
func (p *poll) observe(rel string, le *jftp.Entry) error {
	s := p.s
	size := int64(le.Size)
	listed := le.Time
	e, ok := s.mem[rel]
	if !ok || e.size != size || !e.listed.Equal(listed) {
		e = &entry{size: size, listed: listed, first: p.now}
		s.mem[rel] = e
	}
	e.polls++
	e.gen = p.gen
	if e.sent || e.polls < 2 || p.now.Sub(e.first) < s.opts.Settle {
		return nil
	}
	if e.mtime.IsZero() {
		t, err := p.exactTime(rel, listed)
		if err != nil {
			return err
		}
		e.mtime = t
	}
	e.sent = true
	s.mu.Lock()
	s.sizes[rel] = size
	s.mu.Unlock()
	p.batch = append(p.batch, watcher.File{Source: s.opts.Name, Path: rel, Size: size, ModTime: e.mtime})
	return nil
}

// exactTime returns the file's modification time to the second: the
// listing's with MLSD, else MDTM's, else the listing's minute.
func (p *poll) exactTime(rel string, listed time.Time) (time.Time, error) {
	if p.precise {
		return listed.UTC(), nil // RFC 3659: MLSD times are UTC
	}
	t := listed
	if p.mdtm {
		mt, err := p.c.GetTime(p.s.remote(rel))
		var tp *textproto.Error
		switch {
		case err == nil:
			t = mt
		case errors.As(err, &tp):
			// Refused for this file: fall back to the listing's minute.
			p.s.log.Debug("MDTM refused; using the listing's time", "path", rel, "err", err)
		default:
			return time.Time{}, fmt.Errorf("MDTM %s: %w", rel, err)
		}
	}
	return inZone(t, p.s.opts.ServerTZ), nil
}

// inZone reads the wall clock of t (parsed as UTC) in tz.
func inZone(t time.Time, tz *time.Location) time.Time {
	if tz == nil {
		return t.UTC()
	}
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	return time.Date(y, mo, d, h, mi, sec, t.Nanosecond(), tz).UTC()
}

func (p *poll) refuse(dir, name, why string) {
	rel := strconv.Quote(name)
	if dir != "." {
		rel = strconv.Quote(dir + "/" + name)
	}
	p.refused[rel] = why
}

func (p *poll) skipLink(rel string) {
	p.refused["\x00link:"+rel] = "" // remembered for sweep, not shown
}

// pushDir queues a folder for listing.
func (p *poll) pushDir(rel string) { p.dirs = append(p.dirs, rel) }

// sweep forgets the files this poll did not see, except below folders it
// could not list, and publishes the folders and names it refused.
func (p *poll) sweep() {
	s := p.s
	for rel, e := range s.mem {
		if e.gen != p.gen && !belowFailed(p.failed, rel) {
			delete(s.mem, rel)
		}
	}
	shown := make(map[string]string, len(p.refused))
	s.mu.Lock()
	old := s.refused
	for k, why := range p.refused {
		_, known := old[k]
		_, knownLink := s.links[k]
		if strings.HasPrefix(k, "\x00link:") {
			if !knownLink {
				s.stats.skipped.Add(1)
				s.log.Debug("not offered", "path", k[len("\x00link:"):], "why", "symlink: not followed")
			}
			continue
		}
		if !known {
			s.stats.skipped.Add(1)
			s.log.Warn("remote name refused", "path", k, "why", why)
		}
		shown[k] = why
	}
	s.links = make(map[string]struct{})
	for k := range p.refused {
		if strings.HasPrefix(k, "\x00link:") {
			s.links[k] = struct{}{}
		}
	}
	s.refused = shown
	s.failed = p.failed
	for rel := range s.sizes {
		if _, ok := s.mem[rel]; !ok {
			delete(s.sizes, rel)
		}
	}
	s.problem = ""
	s.mu.Unlock()
}

func belowFailed(failed map[string]string, rel string) bool {
	if len(failed) == 0 {
		return false
	}
	for d := path.Dir(rel); d != "."; d = path.Dir(d) {
		if _, ok := failed[d]; ok {
			return true
		}
	}
	return false
}

// send hands the batch to found, at most maxBatch files at a time.
func (p *poll) send(ctx context.Context, found chan<- []watcher.File) error {
	for len(p.batch) > 0 {
		n := min(len(p.batch), maxBatch)
		b := p.batch[:n:n]
		select {
		case found <- b:
			p.s.stats.found.Add(uint64(n))
			p.batch = p.batch[n:]
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
