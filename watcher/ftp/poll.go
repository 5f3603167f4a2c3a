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

	"github.com/vela-agent/vela-agent/watcher"
)

// entry is what the polls remember of one remote file.
type entry struct {
	size    int64
	listed  time.Time // the time the listing gave (minute-precise with LIST)
	precise bool      // listed came from MLSD
	mtime   time.Time // the exact time; zero until known
	first   time.Time // when this size and listed time were first seen
	polls   int       // polls in a row that saw this size and listed time
	gen     uint32    // the poll that last saw the file
	sent    bool      // this version was offered
}

// poll is the state of one poll.
type poll struct {
	s          *Source
	ctx        context.Context
	c          *conn
	gen        uint32
	now        time.Time
	batch      []watcher.File
	failed     map[string]string // folders not listable -> why
	incomplete map[string]string // folders listed in part -> why
	refused    map[string]string // hostile names, quoted -> why
	skipped    map[string]string // links and other non-files -> why
	seen       int
	dirs       []string // folders still to list
}

func (s *Source) newPoll(ctx context.Context, gen uint32) *poll {
	return &poll{
		s: s, ctx: ctx, gen: gen, now: s.now(),
		failed: map[string]string{}, incomplete: map[string]string{},
		refused: map[string]string{}, skipped: map[string]string{},
	}
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
		p := s.newPoll(ctx, gen)
		err := s.lister.withConn(ctx, p.run)
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
		s.stats.unreadable.Store(int64(len(p.failed) + len(p.incomplete)))
		p.sweep()
		s.log.Debug("polled", "files", p.seen, "took", took)
		if err := p.send(ctx, found); err != nil {
			return nil
		}
		t.Reset(s.opts.PollInterval)
	}
}

// run lists the tree on c and records what it saw.
func (p *poll) run(c *conn) error {
	s := p.s
	p.c = c
	for _, rel := range s.takeForgets() {
		delete(s.mem, rel)
	}
	p.dirs = []string{"."}
	for len(p.dirs) > 0 {
		dir := p.dirs[len(p.dirs)-1]
		p.dirs = p.dirs[:len(p.dirs)-1]
		abs := s.remote(dir)
		l, err := s.list(p.ctx, c, abs)
		if err != nil {
			var tp *textproto.Error
			if dir == "." || !errors.As(err, &tp) || c.c == nil { // c.c: dialling again failed
				return fmt.Errorf("cannot list remote folder %s: %w", abs, err)
			}
			p.failed[dir] = fmt.Sprintf("%d %s", tp.Code, strings.TrimSpace(tp.Msg))
			continue
		}
		if l.broken != "" {
			p.incomplete[dir] = l.broken
		}
		for _, it := range l.items {
			if err := p.entry(dir, it, l.precise); err != nil {
				return err
			}
		}
	}
	s.mu.Lock()
	s.noPrecis = !c.c.IsTimePreciseInList() && !c.c.IsGetTimeSupported()
	s.fallback = c.fallback
	s.mu.Unlock()
	return nil
}

// entry looks at one listed entry of the folder dir; precise says whether
// its time is exact (MLSD).
func (p *poll) entry(dir string, it item, precise bool) error {
	s := p.s
	name := it.name
	if it.kind == kindSelf || name == "." || name == ".." {
		return nil
	}
	rel := name
	if dir != "." {
		rel = dir + "/" + name
	}
	if why := badName(name); why != "" {
		p.refuse(dir, name, why)
		return nil
	}
	switch it.kind {
	case kindLink:
		p.skipped[rel] = it.what + ": not followed"
	case kindOther:
		p.skipped[rel] = it.what + ": not a regular file"
	case kindFolder:
		if s.opts.Recursive && s.filter.Dir(rel) {
			p.pushDir(rel)
		}
	case kindFile:
		if !s.filter.File(rel) {
			return nil
		}
		p.seen++
		return p.observe(rel, it, precise)
	}
	return nil
}

// observe records a sighting of the file rel and offers it once settled.
func (p *poll) observe(rel string, it item, precise bool) error {
	s := p.s
	size, listed := it.size, it.time
	e, ok := s.mem[rel]
	if ok && e.size == size && e.precise != precise && sameTime(e.listed, e.precise, listed, s.opts.ServerTZ) {
		// The same version, listed the other way (MLSD refused on one
		// connection, not on the next): not a change.
		e.listed, e.precise = listed, precise
	}
	if !ok || e.size != size || !e.listed.Equal(listed) {
		e = &entry{size: size, listed: listed, precise: precise, first: p.now}
		s.mem[rel] = e
	}
	e.polls++
	e.gen = p.gen
	if e.sent || e.polls < 2 || p.now.Sub(e.first) < s.opts.Settle {
		return nil
	}
	if e.mtime.IsZero() {
		t, err := p.exactTime(rel, listed, precise)
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

// sameTime reports whether two listed times of a file, one from MLSD and
// one from LIST (aPrecise says which a is), agree: LIST gives the minute,
// or for older files only the day, of the server's wall clock in tz.
func sameTime(a time.Time, aPrecise bool, b time.Time, tz *time.Location) bool {
	exact, coarse := a, b
	if !aPrecise {
		exact, coarse = b, a
	}
	coarse = inZone(coarse, tz)
	if exact.Truncate(time.Minute).Equal(coarse) {
		return true
	}
	loc := time.UTC
	if tz != nil {
		loc = tz
	}
	c, x := coarse.In(loc), exact.In(loc)
	return c.Hour() == 0 && c.Minute() == 0 && c.Second() == 0 &&
		c.Year() == x.Year() && c.YearDay() == x.YearDay()
}

// exactTime returns the file's modification time to the second: the
// listing's with MLSD, else MDTM's, else the listing's minute.
func (p *poll) exactTime(rel string, listed time.Time, precise bool) (time.Time, error) {
	if precise {
		return listed.UTC(), nil // RFC 3659: MLSD times are UTC
	}
	t := listed
	if p.c.c.IsGetTimeSupported() {
		mt, err := p.c.c.GetTime(p.s.remote(rel))
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

// pushDir queues a folder for listing.
func (p *poll) pushDir(rel string) { p.dirs = append(p.dirs, rel) }

// sweep forgets the files this poll did not see, except in and below
// folders it could not list whole, and publishes the folders, names and
// entries it refused or skipped.
func (p *poll) sweep() {
	s := p.s
	kept := func(rel string) bool { return below(p.failed, rel) || below(p.incomplete, rel) }
	for rel, e := range s.mem {
		if e.gen != p.gen && !kept(rel) {
			delete(s.mem, rel)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, why := range p.refused {
		if _, known := s.refused[k]; !known {
			s.stats.skipped.Add(1)
			s.log.Warn("remote name refused", "path", k, "why", why)
		}
	}
	s.refused = p.refused
	for rel, why := range p.skipped {
		if _, known := s.skipped[rel]; !known {
			s.stats.skipped.Add(1)
			s.log.Debug("not offered", "path", rel, "why", why)
		}
	}
	for rel, why := range s.skipped { // not seen, as its folder was not listed whole
		if _, ok := p.skipped[rel]; !ok && kept(rel) {
			p.skipped[rel] = why
		}
	}
	s.skipped = p.skipped
	incomplete := make(map[string]string, len(p.incomplete))
	for dir, why := range p.incomplete {
		abs := s.remote(dir)
		if old, ok := s.incomplete[abs]; !ok || old != why {
			s.log.Warn("folder listed incompletely; its files not seen are kept", "folder", abs, "why", why)
		}
		incomplete[abs] = why
	}
	for abs := range s.incomplete {
		if _, ok := incomplete[abs]; !ok {
			s.log.Info("folder listed whole again", "folder", abs)
		}
	}
	s.incomplete = incomplete
	s.failed = p.failed
	for rel := range s.sizes {
		if _, ok := s.mem[rel]; !ok {
			delete(s.sizes, rel)
		}
	}
	s.problem = ""
}

// below reports whether rel is in or below one of the folders of dirs
// ("." is the root).
func below(dirs map[string]string, rel string) bool {
	if len(dirs) == 0 {
		return false
	}
	for d := path.Dir(rel); ; d = path.Dir(d) {
		if _, ok := dirs[d]; ok {
			return true
		}
		if d == "." || d == "/" {
			return false
		}
	}
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
