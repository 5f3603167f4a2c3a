package ftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// CheckResult is one step of [Source.Check].
type CheckResult struct {
	Step   string // "dns", "tcp", "tls", "login", "list"
	OK     bool
	Detail string // what was found, or what is wrong, in plain words
}

// Check tries each step of reaching the source in turn, on a connection of
// its own, and stops at the first that fails: DNS, TCP, TLS (when
// configured, with the certificate problem spelled out), login, and the
// listing of Dir.
func (s *Source) Check(ctx context.Context) []CheckResult {
	var res []CheckResult
	add := func(step string, err error, ok string) bool {
		if err != nil {
			res = append(res, CheckResult{Step: step, Detail: s.describe(err)})
			return false
		}
		res = append(res, CheckResult{Step: step, OK: true, Detail: ok})
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	host, port, _ := net.SplitHostPort(s.opts.Addr)
	addrs := []string{host}
	var err error
	if net.ParseIP(host) == nil {
		addrs, err = net.DefaultResolver.LookupHost(ctx, host)
	}
	if !add("dns", err, host+" is "+strings.Join(addrs, ", ")) {
		return res
	}
	d := net.Dialer{Timeout: s.opts.Timeout}
	raw, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err == nil {
		raw.Close()
	}
	if !add("tcp", err, "connected to "+s.opts.Addr) {
		return res
	}
	c, err := s.dial(ctx)
	var se *stepError
	if s.tls != nil {
		tlsErr := err
		if err != nil && !isTLS(err) {
			tlsErr = nil
		}
		mode := "explicit (AUTH TLS)"
		if s.opts.ImplicitTLS {
			mode = "implicit"
		}
		if !add("tls", tlsErr, mode+", certificate verified for "+s.tls.ServerName) {
			return res
		}
	}
	if err != nil && errors.As(err, &se) && se.step == stepConnect {
		add("login", err, "")
		return res
	}
	if err != nil && errors.As(err, &se) && se.step == stepList {
		add("login", nil, "logged in as "+s.opts.User)
		add("list", err, "")
		return res
	}
	if !add("login", err, "logged in as "+s.opts.User) {
		return res
	}
	defer c.close()
	stop := c.watch(ctx)
	defer stop()
	l, err := s.list(ctx, c, s.opts.Dir)
	n := 0
	if err != nil {
		err = fmt.Errorf("cannot list remote folder %s: %w", s.opts.Dir, err)
		if c.c == nil { // dialling again, to list with LIST, failed
			add("list", err, "")
			return res
		}
	} else {
		for _, it := range l.items {
			if it.kind != kindSelf && it.name != "." && it.name != ".." {
				n++
			}
		}
		if l.broken != "" {
			err = fmt.Errorf("%s lists %d entries, but not whole: %s", s.opts.Dir, n, l.broken)
		}
	}
	var how string
	switch {
	case c.c.IsTimePreciseInList():
		how = "MLSD"
	case c.c.IsGetTimeSupported():
		how = "LIST, with MDTM for exact times"
	default:
		how = "LIST; no MDTM, so times are minute-precise"
	}
	if c.fallback != "" {
		how += "; the server refused MLSD: " + c.fallback
	}
	add("list", err, fmt.Sprintf("%s lists %d entries (%s)", s.opts.Dir, n, how))
	return res
}
