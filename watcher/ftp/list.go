package ftp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/textproto"
	"strings"

	jftp "github.com/jlaffaye/ftp"
)

// listing is what the listing of one folder gave.
type listing struct {
	items   []item
	precise bool // the times are exact and UTC (MLSD)
	// broken says why the listing is not whole (lines not understood, the
	// last line cut); "" when it is. Its items are still good.
	broken string
}

// list lists the remote folder abs on c: with MLSD where the connection
// has it, else with LIST. In auto mode, MLSD refused before any data is
// sent (500, 501, 502 or 504, or any 5xx for the root folder) makes c list
// with LIST for the rest of its life: c is closed and dialled again with
// MLSD off, and abs is listed again with LIST. A later connection tries
// MLSD again.
func (s *Source) list(ctx context.Context, c *conn, abs string) (*listing, error) {
	if c.c.IsTimePreciseInList() {
		l, tap, err := c.mlsd(abs)
		why := refusal(err, tap, abs == s.opts.Dir)
		if why == "" || s.opts.List != ListAuto {
			return l, err
		}
		s.noteFallback(why)
		c.close()
		if err := s.dialInto(ctx, c, true); err != nil {
			return nil, fmt.Errorf("dial again to use LIST after MLSD was refused (%s): %w", why, err)
		}
		c.fallback = why
	}
	return c.list(abs)
}

// refusal says how the server refused an MLSD, or "" if it did not: a 5xx
// reply to the command itself, with no data sent.
func refusal(err error, tap *mlsdTap, root bool) string {
	var tp *textproto.Error
	if err == nil || !errors.As(err, &tp) || !tap.dialled || tap.bytes > 0 || tp.Code/100 != 5 {
		return ""
	}
	switch tp.Code {
	case 500, 501, 502, 504: // not understood or not implemented
	default:
		if !root {
			return "" // 550 and such below the root: that folder's problem
		}
	}
	return fmt.Sprintf("%d %s", tp.Code, strings.TrimSpace(tp.Msg))
}

// noteFallback logs a fallback from MLSD to LIST: a warning the first time
// and whenever the server's reply changes, as each new connection tries
// MLSD again.
func (s *Source) noteFallback(why string) {
	s.mu.Lock()
	first := s.fallbackLogged != why
	s.fallbackLogged = why
	s.mu.Unlock()
	if first {
		s.log.Warn("the server offers MLSD but refused it; listing with LIST on this connection", "reply", why)
	} else {
		s.log.Debug("MLSD refused again; listing with LIST", "reply", why)
	}
}

// mlsd lists abs with MLSD, reading the lines itself through a tap on the
// data connection: github.com/jlaffaye/ftp drops the lines it cannot parse
// and takes every type it does not know (symbolic links among them) for a
// file.
func (c *conn) mlsd(abs string) (*listing, *mlsdTap, error) {
	t := &mlsdTap{}
	c.tap.Store(t)
	_, err := c.c.List(abs)
	c.tap.Store(nil)
	l := &listing{items: t.items, precise: true}
	var broken []string
	if t.cut() {
		broken = append(broken, "the listing stops in the middle of a line (data connection closed early?)")
	}
	if t.bad > 0 {
		broken = append(broken, fmt.Sprintf("%d MLSD line(s) not understood, the first %s", t.bad, t.sample))
	}
	l.broken = strings.Join(broken, "; ")
	return l, t, err
}

// list lists abs with LIST, parsed by github.com/jlaffaye/ftp: its ls
// parser makes "l" lines links, and drops what it cannot parse (the
// "total" line, FIFOs, sockets, devices).
func (c *conn) list(abs string) (*listing, error) {
	entries, err := c.c.List(abs)
	if err != nil {
		return nil, err
	}
	l := &listing{items: make([]item, 0, len(entries))}
	huge := 0
	for _, e := range entries {
		it := item{name: e.Name, time: e.Time}
		switch e.Type {
		case jftp.EntryTypeFile:
			if e.Size > math.MaxInt64 {
				huge++
				continue
			}
			it.kind, it.size = kindFile, int64(e.Size)
		case jftp.EntryTypeFolder:
			it.kind = kindFolder
		case jftp.EntryTypeLink:
			it.kind, it.what = kindLink, "symbolic link"
		default:
			it.kind, it.what = kindOther, fmt.Sprintf("entry type %d", int(e.Type))
		}
		l.items = append(l.items, it)
	}
	if huge > 0 {
		l.broken = fmt.Sprintf("%d LIST line(s) with a size past 2^63", huge)
	}
	return l, nil
}
