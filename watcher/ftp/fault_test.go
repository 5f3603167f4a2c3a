package ftp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestServerDownThenBack(t *testing.T) {
	old := minBackoff
	minBackoff = 20 * time.Millisecond
	t.Cleanup(func() { minBackoff = old })
	ts := startServer(t, t.TempDir())
	ts.write(t, "a.wav", "a", time.Time{})
	addr := ts.addr
	ts.stop()
	s := newSource(t, ts, func(o *Options) { o.PollInterval = 200 * time.Millisecond })
	found := runSource(t, s)
	waitFor(t, "problem", func() bool { return strings.Contains(s.Problem(), "unreachable") })
	if !strings.Contains(s.Problem(), addr) {
		t.Errorf("problem %q does not name %s", s.Problem(), addr)
	}
	waitFor(t, "retries", func() bool { return s.stats.failures.Load() >= 3 })
	ts.start(addr)
	if got := collect(t, found, 1, 3*time.Second); paths(got) != "a.wav" {
		t.Fatalf("after recovery: %q", paths(got))
	}
	if p := s.Problem(); p != "" {
		t.Errorf("problem after recovery: %q", p)
	}
	// Restarted between polls: the kept connection is dropped, re-dialled,
	// and the file, unchanged, is not offered again.
	ts.stop()
	ts.start(addr)
	n := s.Stats().Scans
	waitFor(t, "polls after restart", func() bool { return s.Stats().Scans >= n+2 })
	if more := collect(t, found, 1, 50*time.Millisecond); len(more) > 0 {
		t.Fatalf("offered again after reconnect: %v", more)
	}
}

func TestLoginRefused(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ts.write(t, "a.wav", "a", time.Time{})
	s := newSource(t, ts, func(o *Options) { o.Password = "wrong-password" })
	found := runSource(t, s)
	waitFor(t, "problem", func() bool { return strings.Contains(s.Problem(), "login refused") })
	p := s.Problem()
	if !strings.Contains(p, `"rec"`) || !strings.Contains(p, "530") || strings.Contains(p, "wrong-password") {
		t.Errorf("problem %q", p)
	}
	if got := collect(t, found, 1, 100*time.Millisecond); len(got) > 0 {
		t.Errorf("found %v", got)
	}
	res := s.Check(context.Background())
	if len(res) != 3 || !res[0].OK || !res[1].OK || res[2].Step != "login" || res[2].OK {
		t.Errorf("check: %+v", res)
	}
}

func TestCheck(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ts.write(t, "calls/a.wav", "a", time.Time{})
	s := newSource(t, ts, func(o *Options) { o.Dir = "/calls" })
	res := s.Check(context.Background())
	want := []string{"dns", "tcp", "login", "list"}
	if len(res) != len(want) {
		t.Fatalf("check: %+v", res)
	}
	for i, r := range res {
		if r.Step != want[i] || !r.OK {
			t.Errorf("step %d: %+v", i, r)
		}
	}
	if !strings.Contains(res[3].Detail, "1 entries") {
		t.Errorf("list detail %q", res[3].Detail)
	}
	missing := newSource(t, ts, func(o *Options) { o.Dir = "/nope" })
	res = missing.Check(context.Background())
	if last := res[len(res)-1]; last.Step != "list" || last.OK || !strings.Contains(last.Detail, "/nope") {
		t.Errorf("check of a missing folder: %+v", res)
	}
	// Nothing listens.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	down := newSource(t, ts, func(o *Options) { o.Addr = addr })
	res = down.Check(context.Background())
	if last := res[len(res)-1]; last.Step != "tcp" || last.OK || !strings.Contains(last.Detail, "unreachable") {
		t.Errorf("check of a down server: %+v", res)
	}
}

// tlsServer accepts TLS connections with a self-signed certificate, enough
// for the handshake of implicit FTPS to fail on an untrusting client.
func TestTLSCertificateNotTrusted(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pbx.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	ts := &testServer{addr: ln.Addr().String()}
	s := newSource(t, ts, func(o *Options) { o.TLS = &tls.Config{}; o.ImplicitTLS = true })
	res := s.Check(context.Background())
	last := res[len(res)-1]
	if last.Step != "tls" || last.OK || !strings.Contains(last.Detail, "unknown authority") || !strings.Contains(last.Detail, "pbx.test") {
		t.Errorf("check: %+v", res)
	}
	runSource(t, s)
	waitFor(t, "problem", func() bool { return strings.Contains(s.Problem(), "certificate not trusted") })
	t.Log(s.Problem())
}

func TestHungServerTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts, never greets
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ts := &testServer{addr: ln.Addr().String()}
	s := newSource(t, ts, func(o *Options) { o.Timeout = 200 * time.Millisecond })
	start := time.Now()
	_, err = s.Download(context.Background(), "a.wav", 1, time.Now(), t.TempDir()+"/a.wav")
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("download from a hung server: %v after %v", err, time.Since(start))
	}
	if d := s.describe(err); !strings.Contains(d, "unreachable") {
		t.Errorf("describe: %q", d)
	}
}

func TestPollTenThousand(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ts := startServer(t, t.TempDir())
	for i := range 10_000 {
		ts.write(t, "big/"+strconv.Itoa(i)+".wav", "x", time.Time{})
	}
	s := newSource(t, ts, func(o *Options) { o.Settle = time.Millisecond; o.PollInterval = 10 * time.Millisecond })
	got := collect(t, runSource(t, s), 10_000, 20*time.Second)
	if len(got) != 10_000 {
		t.Fatalf("found %d of 10000", len(got))
	}
	t.Logf("10,000 files listed in %v", s.Stats().LastScanDuration)
}
