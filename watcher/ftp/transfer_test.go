package ftp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func randomData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// cutConn fails a data connection after limit bytes, as a dropped link.
type cutConn struct {
	net.Conn
	left  int64
	total *atomic.Int64
}

func (c *cutConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		_ = c.Conn.Close()
		return 0, errors.New("test: connection cut")
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	c.total.Add(int64(n))
	return n, err
}

func TestDownloadWhole(t *testing.T) {
	ts := startServer(t, t.TempDir())
	data := randomData(300_000)
	mt := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	ts.write(t, "in/call.wav", string(data), mt)
	s := newSource(t, ts, nil)
	dst := filepath.Join(t.TempDir(), "call.wav")
	got, err := s.Download(context.Background(), "in/call.wav", int64(len(data)), mt, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got != sum(data) {
		t.Errorf("sha256 %s, want %s", got, sum(data))
	}
	b, _ := os.ReadFile(dst)
	st, _ := os.Stat(dst)
	if !bytes.Equal(b, data) || !st.ModTime().Equal(mt) {
		t.Errorf("dst differs or mtime %v", st.ModTime())
	}
	if _, err := os.Stat(dst + ".part"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".part left: %v", err)
	}
	// Again: already complete, only hashed.
	if got, err := s.Download(context.Background(), "in/call.wav", int64(len(data)), mt, dst); err != nil || got != sum(data) {
		t.Errorf("again: %s, %v", got, err)
	}
	// A listed size the file does not have: short, never renamed into place.
	dst2 := filepath.Join(t.TempDir(), "short.wav")
	_, err = s.Download(context.Background(), "in/call.wav", int64(len(data))+10, mt, dst2)
	if !errors.Is(err, ErrShort) {
		t.Errorf("want ErrShort, got %v", err)
	}
	if _, err := os.Stat(dst2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("short file renamed into place: %v", err)
	}
	// Hostile paths are refused before any I/O.
	if _, err := s.Download(context.Background(), "../etc/passwd", 1, mt, dst2); err == nil {
		t.Error("../ accepted")
	}
	// A missing file is an error.
	if _, err := s.Download(context.Background(), "nope.wav", 1, mt, dst2); err == nil {
		t.Error("missing file downloaded")
	}
}

func TestDownloadResumesPart(t *testing.T) {
	ts := startServer(t, t.TempDir())
	data := randomData(200_000)
	mt := time.Now().Truncate(time.Second)
	ts.write(t, "call.wav", string(data), mt)
	s := newSource(t, ts, nil)
	var fetched atomic.Int64
	s.dialHook = func(addr string, c net.Conn) net.Conn {
		if addr == ts.addr {
			return c
		}
		return &cutConn{Conn: c, left: 1 << 40, total: &fetched}
	}
	dst := filepath.Join(t.TempDir(), "call.wav")
	const prefix = 150_000
	if err := os.WriteFile(dst+".part", data[:prefix], 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Download(context.Background(), "call.wav", int64(len(data)), mt, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got != sum(data) {
		t.Error("sha256 differs")
	}
	if b, _ := os.ReadFile(dst); !bytes.Equal(b, data) {
		t.Error("bytes differ")
	}
	if n := fetched.Load(); n != int64(len(data)-prefix) {
		t.Errorf("fetched %d bytes, want %d (REST from the .part's length)", n, len(data)-prefix)
	}
}

func TestDownloadCutFiveTimes(t *testing.T) {
	ts := startServer(t, t.TempDir())
	data := randomData(1 << 20)
	mt := time.Now().Truncate(time.Second)
	ts.write(t, "big.wav", string(data), mt)
	s := newSource(t, ts, func(o *Options) { o.MaxConns = 3 })
	var fetched atomic.Int64
	var mu sync.Mutex
	cuts := 0
	s.dialHook = func(addr string, c net.Conn) net.Conn {
		if addr == ts.addr {
			return c
		}
		mu.Lock()
		defer mu.Unlock()
		left := int64(1 << 40)
		if cuts < 5 {
			cuts++
			left = 150_000
		}
		return &cutConn{Conn: c, left: left, total: &fetched}
	}
	dst := filepath.Join(t.TempDir(), "big.wav")
	got, err := s.Download(context.Background(), "big.wav", int64(len(data)), mt, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got != sum(data) {
		t.Error("sha256 differs")
	}
	if b, _ := os.ReadFile(dst); !bytes.Equal(b, data) {
		t.Error("bytes differ")
	}
	if cuts != 5 {
		t.Errorf("%d cuts", cuts)
	}
	if n := fetched.Load(); float64(n) >= 1.5*float64(len(data)) {
		t.Errorf("fetched %d bytes for %d", n, len(data))
	}
	t.Logf("1 MiB cut 5 times: %d bytes fetched (%.2fx)", fetched.Load(), float64(fetched.Load())/float64(len(data)))
}

func TestDeleteAndMove(t *testing.T) {
	ts := startServer(t, t.TempDir())
	ctx := context.Background()
	ts.write(t, "calls/a.wav", "aaaa", time.Time{})
	ts.write(t, "calls/b.wav", "bb", time.Time{})
	ts.write(t, "calls/c.wav", "cc", time.Time{})
	ts.write(t, "done/b.wav", "old", time.Time{})
	s := newSource(t, ts, func(o *Options) { o.Dir = "/calls" })
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(ts.root, filepath.FromSlash(rel)))
		return err == nil
	}

	if err := s.Delete(ctx, "a.wav"); err != nil {
		t.Fatal(err)
	}
	if exists("calls/a.wav") {
		t.Error("a.wav still there")
	}
	if err := s.Delete(ctx, "a.wav"); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if err := s.Delete(ctx, "../done/b.wav"); err == nil {
		t.Error("delete outside Dir accepted")
	}

	// Into a missing folder, relative to Dir.
	dst, err := s.Move(ctx, "c.wav", "archive/2025")
	if err != nil || dst != "/calls/archive/2025/c.wav" || !exists("calls/archive/2025/c.wav") {
		t.Fatalf("move c.wav: %q, %v", dst, err)
	}
	// Retried after success: same answer.
	if dst2, err := s.Move(ctx, "c.wav", "archive/2025"); err != nil || dst2 != dst {
		t.Errorf("retry: %q, %v", dst2, err)
	}
	// A clash in an absolute folder: a free name.
	dst, err = s.Move(ctx, "b.wav", "/done")
	if err != nil || dst != "/done/b.1.wav" {
		t.Fatalf("move b.wav: %q, %v", dst, err)
	}
	if b, _ := os.ReadFile(filepath.Join(ts.root, "done", "b.wav")); string(b) != "old" {
		t.Error("existing file overwritten")
	}
	if b, _ := os.ReadFile(filepath.Join(ts.root, "done", "b.1.wav")); string(b) != "bb" {
		t.Error("moved file wrong")
	}
	if dst2, err := s.Move(ctx, "b.wav", "/done"); err != nil || dst2 != dst {
		t.Errorf("retry: %q, %v", dst2, err)
	}
	// Gone and nowhere to be found: an error.
	if _, err := s.Move(ctx, "zzz.wav", "/done"); err == nil {
		t.Error("move of a missing file succeeded")
	}
}

func TestNumbered(t *testing.T) {
	for _, c := range []struct {
		name string
		i    int
		want string
	}{{"x.wav", 0, "x.wav"}, {"x.wav", 1, "x.1.wav"}, {"x.tar.gz", 2, "x.tar.2.gz"}, {"noext", 3, "noext.3"}, {".wav", 1, ".wav.1"}} {
		if got := numbered(c.name, c.i); got != c.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", c.name, c.i, got, c.want)
		}
	}
}
