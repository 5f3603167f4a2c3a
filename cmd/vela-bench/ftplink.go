package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ftpLink is an FTP proxy on 127.0.0.1 in front of one plain FTP server
// that carries each session's data at most rate bytes per second, as a
// network link of that speed would: the bottleneck of a transfer is then
// the link, not the loopback or the other end. It relays the control
// connection as it is, except the data addresses: those of PORT and EPRT
// and of the replies to PASV and EPSV become ports of its own, and it
// relays each data connection made there to the address it replaced, the
// server's bytes paced by the session's link.
//
// vsftpd's own local_max_rate is no such link on loopback: it sleeps after
// each 64 KiB it sends, for a pause computed from how long that one send
// took, held in an unsigned int that overflows above 4 GiB/s, and it never
// makes up for a sleep that ran late. Measured here with a cap of 50 MB/s
// on a busy machine, the same client got from 8 to 50 MB/s and curl up to
// 80 MB/s.
type ftpLink struct {
	addr     string  // where clients connect
	upstream string  // the server's control address
	rate     float64 // bytes per second of each session's link
	ln       net.Listener
	wg       sync.WaitGroup

	mu    sync.Mutex // guards conns
	conns map[io.Closer]struct{}
}

// linkLag is how late a paced transfer may fall behind its link, when the
// relay is scheduled late, and still catch up.
const linkLag = 10 * time.Millisecond

// startLink starts an ftpLink in front of upstream.
func startLink(upstream string, rate float64) (*ftpLink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &ftpLink{addr: ln.Addr().String(), upstream: upstream, rate: rate, ln: ln, conns: map[io.Closer]struct{}{}}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.session(c)
			}()
		}
	}()
	return l, nil
}

// close stops the link and cuts its connections.
func (l *ftpLink) close() {
	l.ln.Close()
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.conns = nil
	l.mu.Unlock()
	l.wg.Wait()
}

// track keeps c to be closed by close, or closes it and returns false
// when the link is closed; untrack closes it and forgets it.
func (l *ftpLink) track(c io.Closer) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns == nil {
		c.Close()
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *ftpLink) untrack(c io.Closer) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	c.Close()
}

// session relays one control connection.
func (l *ftpLink) session(client net.Conn) {
	if !l.track(client) {
		return
	}
	defer l.untrack(client)
	server, err := net.DialTimeout("tcp", l.upstream, 10*time.Second)
	if err != nil {
		fmt.Fprintf(client, "421 the bench's link cannot reach %s: %v\r\n", l.upstream, err)
		return
	}
	if !l.track(server) {
		return
	}
	defer l.untrack(server)
	host, _, _ := net.SplitHostPort(l.upstream)
	link := &pacer{rate: l.rate}
	l.wg.Add(1)
	go func() { // commands
		defer l.wg.Done()
		defer server.Close()
		r := bufio.NewReader(client)
		for {
			line, err := r.ReadString('\n')
			if verb, _, _ := strings.Cut(strings.ToUpper(line), " "); verb == "PORT" || verb == "EPRT" {
				line = l.active(line, link)
			}
			if _, werr := io.WriteString(server, line); werr != nil || err != nil {
				return
			}
		}
	}()
	r := bufio.NewReader(server)
	for { // replies
		line, err := r.ReadString('\n')
		if strings.HasPrefix(line, "227 ") || strings.HasPrefix(line, "229 ") {
			line = l.passive(line, host, link)
		}
		if _, werr := io.WriteString(client, line); werr != nil || err != nil {
			return
		}
	}
}

// passive opens a data port of the link for the server's passive reply
// line and returns the reply naming it instead; a reply it cannot read is
// returned as it is.
func (l *ftpLink) passive(line, host string, link *pacer) string {
	target, err := passiveAddr(line, host)
	if err != nil {
		return line
	}
	port, ok := l.listen(func(c net.Conn) {
		if u, err := net.DialTimeout("tcp", target, 10*time.Second); err == nil {
			l.pipe(u, c, link)
		}
	})
	if !ok {
		return line
	}
	if strings.HasPrefix(line, "227 ") {
		return fmt.Sprintf("227 Entering Passive Mode (127,0,0,1,%d,%d).\r\n", port>>8, port&0xff)
	}
	return fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)\r\n", port)
}

// active opens a data port of the link for the client's PORT or EPRT
// command line and returns the command naming it instead; a command it
// cannot read is returned as it is.
func (l *ftpLink) active(line string, link *pacer) string {
	target, err := activeAddr(line)
	if err != nil {
		return line
	}
	port, ok := l.listen(func(u net.Conn) {
		if c, err := net.DialTimeout("tcp", target, 10*time.Second); err == nil {
			l.pipe(u, c, link)
		}
	})
	if !ok {
		return line
	}
	if strings.HasPrefix(strings.ToUpper(line), "PORT") {
		return fmt.Sprintf("PORT 127,0,0,1,%d,%d\r\n", port>>8, port&0xff)
	}
	return fmt.Sprintf("EPRT |1|127.0.0.1|%d|\r\n", port)
}

// listen opens a data port of the link and hands the one connection made
// to it, within 30 seconds, to serve.
func (l *ftpLink) listen(serve func(net.Conn)) (port int, ok bool) {
	ln, err := dataListener()
	if err != nil || !l.track(ln) {
		return 0, false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		c, err := ln.Accept()
		l.untrack(ln)
		if err == nil && l.track(c) {
			defer l.untrack(c)
			serve(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, true
}

// pipe relays a data connection: the server's bytes to the client, paced
// by link, and the client's to the server as they come. It returns once
// the server's side ended, and closes both.
func (l *ftpLink) pipe(server, client net.Conn, link *pacer) {
	if !l.track(server) {
		return
	}
	defer l.untrack(server)
	defer client.Close()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_, _ = io.Copy(server, client) // uploads, not paced
		if tc, ok := server.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	link.begin()
	buf := make([]byte, 64<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			link.wait(n)
			if _, werr := client.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// dataListener listens on a random port of 127.0.0.1 below the kernel's
// ephemeral range. A listener on port 0 may get a port whose connection of
// a moment ago the link closed, in TIME_WAIT here; a client connecting to
// it again from the same port then has its SYN answered by that old
// connection and waits a second to send it again. Drawn from 12,000 ports,
// a port comes back within a minute only now and then, and from the same
// client port next to never.
func dataListener() (net.Listener, error) {
	var err error
	for range 20 {
		var ln net.Listener
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12000))))
		if err == nil {
			return ln, nil
		}
	}
	return nil, err
}

// activeAddr reads the data address of a PORT or EPRT command (IPv4 or
// IPv6).
func activeAddr(line string) (string, error) {
	verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
	if strings.EqualFold(verb, "EPRT") {
		if len(arg) < 2 {
			return "", errors.New("bad EPRT command")
		}
		f := strings.Split(arg, arg[:1])
		if len(f) != 5 || (f[1] != "1" && f[1] != "2") || net.ParseIP(f[2]) == nil {
			return "", errors.New("bad EPRT command")
		}
		if _, err := strconv.ParseUint(f[3], 10, 16); err != nil {
			return "", err
		}
		return net.JoinHostPort(f[2], f[3]), nil
	}
	return hostPort(arg)
}

// hostPort reads h1,h2,h3,h4,p1,p2.
func hostPort(s string) (string, error) {
	f := strings.Split(s, ",")
	if len(f) != 6 {
		return "", errors.New("not h1,h2,h3,h4,p1,p2")
	}
	var n [6]int
	for i, s := range f {
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 8)
		if err != nil {
			return "", err
		}
		n[i] = int(v)
	}
	return net.JoinHostPort(fmt.Sprintf("%d.%d.%d.%d", n[0], n[1], n[2], n[3]), strconv.Itoa(n[4]<<8|n[5])), nil
}

// passiveAddr reads the data address of a 227 or 229 reply; 229 gives a
// port on host.
func passiveAddr(line, host string) (string, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return "", errors.New("no address in passive reply")
	}
	inner := line[open+1 : end]
	if strings.HasPrefix(line, "229 ") {
		f := strings.Split(inner, "|")
		if len(f) != 5 {
			return "", errors.New("bad 229 reply")
		}
		if _, err := strconv.ParseUint(f[3], 10, 16); err != nil {
			return "", err
		}
		return net.JoinHostPort(host, f[3]), nil
	}
	return hostPort(inner)
}

// pacer is a link of rate bytes per second: wait returns once n more bytes
// have crossed it.
type pacer struct {
	rate float64
	mu   sync.Mutex // guards free
	free time.Time  // when the link has carried everything given to it
}

// begin starts a transfer: time the link stood idle is no credit.
func (p *pacer) begin() {
	p.mu.Lock()
	if now := time.Now(); p.free.Before(now) {
		p.free = now
	}
	p.mu.Unlock()
}

func (p *pacer) wait(n int) {
	p.mu.Lock()
	now := time.Now()
	if p.free.Before(now.Add(-linkLag)) {
		p.free = now.Add(-linkLag) // late by more than linkLag: that is lost
	}
	p.free = p.free.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	d := p.free.Sub(now)
	p.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
}
