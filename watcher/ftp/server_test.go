package ftp

import (
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"

	"github.com/vela-agent/vela-agent/watcher"
)

const (
	testUser = "rec"
	testPass = "s3cret-pass"
)

// testServer is an embedded FTP server serving root on 127.0.0.1.
type testServer struct {
	t    *testing.T
	root string
	addr string
	srv  *server.Server
	ln   *trackListener
	done chan struct{}
}

// trackListener remembers the connections it accepted, so that stop can
// cut them: the server's own Shutdown keeps them, and races with Serve.
type trackListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackListener) closeAll() {
	_ = l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

func startServer(t *testing.T, root string) *testServer {
	t.Helper()
	ts := &testServer{t: t, root: root}
	ts.start("127.0.0.1:0")
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start(addr string) {
	ts.t.Helper()
	drv, err := file.NewDriver(ts.root)
	if err != nil {
		ts.t.Fatal(err)
	}
	srv, err := server.NewServer(&server.Options{
		Driver:   drv,
		Auth:     &server.SimpleAuth{Name: testUser, Password: testPass},
		Perm:     server.NewSimplePerm("rec", "rec"),
		Hostname: "127.0.0.1",
		Logger:   &server.DiscardLogger{},
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	var ln net.Listener
	for i := 0; ; i++ { // a restarted server takes its old port back
		ln, err = net.Listen("tcp", addr)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	ts.srv = srv
	ts.ln = &trackListener{Listener: ln}
	ts.done = make(chan struct{})
	go func() {
		defer close(ts.done)
		_ = srv.Serve(ts.ln)
	}()
}

func (ts *testServer) stop() {
	if ts.srv == nil {
		return
	}
	ts.ln.closeAll()
	<-ts.done
	ts.srv = nil
}

func (ts *testServer) write(t *testing.T, rel, data string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(ts.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMain(m *testing.M) {
	log.SetOutput(io.Discard) // the embedded server's file driver logs misses
	os.Exit(m.Run())
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newSource(t *testing.T, ts *testServer, edit func(*Options)) *Source {
	t.Helper()
	o := Options{
		Name:         "pbx",
		Addr:         ts.addr,
		User:         testUser,
		Password:     testPass,
		Dir:          "/",
		Recursive:    true,
		Settle:       50 * time.Millisecond,
		PollInterval: 30 * time.Millisecond,
		Timeout:      2 * time.Second,
		Logger:       testLogger(t),
	}
	if edit != nil {
		edit(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.xfer.closeAll)
	return s
}

// runSource runs s until the test ends and returns the channel it reports on.
func runSource(t *testing.T, s *Source) <-chan []watcher.File {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	found := make(chan []watcher.File, 100)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, found) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return found
}

// collect gathers reported files until n are in or the wait ends.
func collect(t *testing.T, found <-chan []watcher.File, n int, wait time.Duration) []watcher.File {
	t.Helper()
	var got []watcher.File
	deadline := time.After(wait)
	for len(got) < n {
		select {
		case b := <-found:
			got = append(got, b...)
		case <-deadline:
			return sorted(got)
		}
	}
	return sorted(got)
}

func sorted(fs []watcher.File) []watcher.File {
	sort.Slice(fs, func(i, j int) bool { return fs[i].Path < fs[j].Path })
	return fs
}

func paths(fs []watcher.File) string {
	var ps []string
	for _, f := range fs {
		ps = append(ps, f.Path)
	}
	return strings.Join(ps, ",")
}

// waitFor polls cond until it holds or two seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
