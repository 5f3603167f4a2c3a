package ftp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jftp "github.com/jlaffaye/ftp"
)

// deadlineConn gives every Read and Write a deadline of timeout from its
// start, so no operation can hang past it.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// tapConn shows what a data connection reads to an MLSD tap.
type tapConn struct {
	net.Conn
	tap *mlsdTap
}

func (c *tapConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.tap.write(p[:n])
	return n, err
}

// conn is one logged-in connection. Only the goroutine using it (the
// holder of its pool's token) touches c, fallback and the tap's contents.
type conn struct {
	c *jftp.ServerConn
	// fallback says why this connection lists with LIST although the
	// server's FEAT offers MLSD; "" when it does not.
	fallback string
	// tap, while set, is given the data connections dialled, so that
	// an MLSD listing is read through it.
	tap atomic.Pointer[mlsdTap]

	mu   sync.Mutex // guards raws
	raws []net.Conn // the control connection, then the latest data connection
}

// track records a raw connection so that abort can close it.
func (c *conn) track(r net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.raws) < 2 {
		c.raws = append(c.raws, r)
		return
	}
	c.raws[1] = r
}

// abort closes the raw connections under c, failing whatever is in flight.
func (c *conn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.raws {
		_ = r.Close()
	}
}

// close ends the session politely, within the deadlines of its reads.
func (c *conn) close() {
	if c.c != nil {
		_ = c.c.Quit()
	}
	c.abort()
}

// watch closes c's connections if ctx ends before the returned stop is
// called: a cancelled caller never waits for the server.
func (c *conn) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, c.abort)
}

// dial connects and logs in. Errors say what failed, never the password.
func (s *Source) dial(ctx context.Context) (*conn, error) {
	cn := &conn{}
	if err := s.dialInto(ctx, cn, false); err != nil {
		return nil, err
	}
	return cn, nil
}

// dialInto connects and logs in on cn, which must be new or closed, with
// MLSD off when noMLSD.
func (s *Source) dialInto(ctx context.Context, cn *conn, noMLSD bool) error {
	o := &s.opts
	cn.mu.Lock()
	cn.raws = nil
	cn.mu.Unlock()
	cn.c, cn.fallback = nil, ""
	first := true
	dialFunc := func(network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: o.Timeout}
		raw, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if s.dialHook != nil {
			raw = s.dialHook(addr, raw)
		}
		cn.track(raw)
		var c net.Conn = &deadlineConn{Conn: raw, timeout: o.Timeout}
		control := first
		first = false
		if s.tls != nil && (!control || o.ImplicitTLS) {
			tc := tls.Client(c, s.tls)
			if control {
				if err := tc.HandshakeContext(ctx); err != nil {
					_ = raw.Close()
					return nil, &tlsError{err}
				}
			}
			c = tc
		}
		if t := cn.tap.Load(); t != nil && !control {
			t.dialled = true
			c = &tapConn{Conn: c, tap: t}
		}
		return c, nil
	}
	opts := []jftp.DialOption{
		jftp.DialWithContext(ctx),
		jftp.DialWithTimeout(o.Timeout),
		jftp.DialWithShutTimeout(o.Timeout),
		jftp.DialWithDialFunc(dialFunc),
		jftp.DialWithDisabledMLSD(o.List == ListLIST || noMLSD),
	}
	if s.tls != nil {
		if o.ImplicitTLS {
			opts = append(opts, jftp.DialWithTLS(s.tls))
		} else {
			opts = append(opts, jftp.DialWithExplicitTLS(s.tls))
		}
	}
	stop := cn.watch(ctx)
	defer stop()
	c, err := jftp.Dial(o.Addr, opts...)
	if err != nil {
		cn.abort()
		return &stepError{step: stepConnect, err: err}
	}
	cn.c = c
	if err := c.Login(o.User, o.Password); err != nil {
		cn.close()
		cn.c = nil
		if isTLS(err) {
			return &stepError{step: stepConnect, err: &tlsError{err}}
		}
		return &stepError{step: stepLogin, err: err}
	}
	if o.List == ListMLSD && !c.IsTimePreciseInList() {
		cn.close()
		cn.c = nil
		return &stepError{step: stepList, err: errNoMLSD}
	}
	s.stats.redials.Add(1)
	return nil
}

var errNoMLSD = errors.New("the server does not offer MLSD (list: mlsd); use list: auto or list: list")

// Steps of a connection, for errors and Check.
const (
	stepConnect = "connect"
	stepLogin   = "login"
	stepList    = "list"
)

// stepError is an error of dial: the step that failed and why.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// tlsError marks an error of the TLS handshake.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "TLS: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

func isTLS(err error) bool {
	var te *tlsError
	var ve *tls.CertificateVerificationError
	var ae tls.AlertError
	var re tls.RecordHeaderError
	return errors.As(err, &te) || errors.As(err, &ve) || errors.As(err, &ae) || errors.As(err, &re)
}

// describe turns a dial or operation error into what an admin must fix.
func (s *Source) describe(err error) string {
	host, _, _ := net.SplitHostPort(s.opts.Addr)
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var se *stepError
	var tp *textproto.Error
	switch {
	case errors.Is(err, errNoMLSD):
		return err.Error()
	case isTLS(err):
		return "TLS with " + s.opts.Addr + " failed: " + certProblem(err)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve %s: %v", host, dnsErr.Err)
	case errors.As(err, &se) && se.step == stepLogin && errors.As(err, &tp) && tp.Code/100 == 5:
		return fmt.Sprintf("login refused for user %q: %d %s", s.opts.User, tp.Code, strings.TrimSpace(tp.Msg))
	case errors.As(err, &se) && se.step == stepLogin:
		return fmt.Sprintf("login as %q failed: %v", s.opts.User, se.err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Sprintf("server unreachable at %s: %v", s.opts.Addr, opErr.Err)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Sprintf("server unreachable at %s: no answer within %v", s.opts.Addr, s.opts.Timeout)
	case errors.As(err, &se) && se.step == stepConnect:
		return fmt.Sprintf("server unreachable at %s: %v", s.opts.Addr, se.err)
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// certProblem spells out why a certificate was not accepted.
func certProblem(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	subject := ""
	if errors.As(err, &ve) && len(ve.UnverifiedCertificates) > 0 {
		c := ve.UnverifiedCertificates[0]
		subject = fmt.Sprintf(" (certificate subject %q, issuer %q)", c.Subject.String(), c.Issuer.String())
	}
	switch {
	case errors.As(err, &ua):
		return "certificate not trusted: signed by an unknown authority" + subject + "; give the CA that signed it in ca_file"
	case errors.As(err, &he):
		return fmt.Sprintf("certificate not valid for this name: %v%s; set server_name to a name in the certificate", he.Error(), subject)
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			return "certificate expired or not yet valid: " + ci.Detail + subject
		default:
			return "certificate invalid: " + ci.Error() + subject
		}
	}
	return err.Error()
}

// isConnErr reports whether err means the connection is unusable (as
// opposed to a reply such as 550 on a working one).
func isConnErr(err error) bool {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return tp.Code == 421 // service closing the control connection
	}
	return err != nil
}

// pool keeps up to size logged-in connections for reuse.
type pool struct {
	s    *Source
	sem  chan struct{} // one token per connection in use
	mu   sync.Mutex    // guards idle
	idle []*conn
}

func newPool(s *Source, size int) *pool {
	return &pool{s: s, sem: make(chan struct{}, size)}
}

// get returns a connection, kept or newly dialled; give it back with put.
func (p *pool) get(ctx context.Context) (*conn, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		p.mu.Lock()
		var c *conn
		if n := len(p.idle); n > 0 {
			c, p.idle = p.idle[n-1], p.idle[:n-1]
		}
		p.mu.Unlock()
		if c == nil {
			break
		}
		stop := c.watch(ctx)
		err := c.c.NoOp()
		stop()
		if err == nil {
			return c, nil
		}
		c.close() // dropped while idle
	}
	c, err := p.s.dial(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return c, nil
}

// put gives c back; a connection that failed (err is a connection error),
// or whose dialling again failed, is closed instead of kept.
func (p *pool) put(c *conn, err error) {
	if c.c == nil || err != nil && isConnErr(err) {
		c.close()
	} else {
		p.mu.Lock()
		p.idle = append(p.idle, c)
		p.mu.Unlock()
	}
	<-p.sem
}

// closeAll closes the idle connections.
func (p *pool) closeAll() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// with runs fn on a pooled connection, with ctx's end aborting it.
func (p *pool) with(ctx context.Context, fn func(c *jftp.ServerConn) error) error {
	return p.withConn(ctx, func(c *conn) error { return fn(c.c) })
}

// withConn is with for a fn that may also dial c again (see
// [Source.list]).
func (p *pool) withConn(ctx context.Context, fn func(c *conn) error) error {
	c, err := p.get(ctx)
	if err != nil {
		return err
	}
	stop := c.watch(ctx)
	err = fn(c)
	stop()
	p.put(c, err)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
