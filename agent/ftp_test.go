package agent_test

import (
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"

	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// startFTP serves root on an embedded FTP server on 127.0.0.1 for the
// test, with user rec and the password it returns.
func startFTP(t *testing.T, root string) (addr, password string) {
	t.Helper()
	log.SetOutput(io.Discard) // the file driver logs misses
	drv, err := file.NewDriver(root)
	must(t, err)
	password = "ftp-s3cret"
	srv, err := server.NewServer(&server.Options{
		Driver:   drv,
		Auth:     &server.SimpleAuth{Name: "rec", Password: password},
		Perm:     server.NewSimplePerm("rec", "rec"),
		Hostname: "127.0.0.1",
		Logger:   &server.DiscardLogger{},
	})
	must(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	// Closing the listener ends Serve; the server's Shutdown would race
	// with Serve's start.
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), password
}

// Files on an FTP server are polled, staged, uploaded once each with the
// server's time as date_of_call, and moved on the server once their
// upload is recorded.
func TestFTPSourceEndToEnd(t *testing.T) {
	root := t.TempDir()
	addr, password := startFTP(t, root)
	pwFile := filepath.Join(t.TempDir(), "pbx.pass")
	must(t, os.WriteFile(pwFile, []byte(password+"\n"), 0o600))
	h := newHarness(t, harnessOptions{})
	b, err := os.ReadFile(h.cfgFile)
	must(t, err)
	src := fmt.Sprintf("  - name: pbx\n    type: ftp\n    url: ftp://rec@%s/calls\n    password_file: %s\n    settle: 300ms\n    poll_interval: 200ms\n    timeout: 5s\n    after_upload: move:/done\n", addr, pwFile)
	must(t, os.WriteFile(h.cfgFile, []byte(strings.Replace(string(b), "upload:\n", src+"upload:\n", 1)), 0o600))

	recorded := time.Date(2025, 1, 15, 10, 4, 5, 0, time.UTC)
	const n = 30
	for i := 0; i < n; i++ {
		rel := fmt.Sprintf("calls/d%d/ftp_%02d.wav", i%3, i)
		data := audiotest.Stamp([]byte(strings.Repeat(fmt.Sprintf("ftp %d ", i), 500+i)))
		p := filepath.Join(root, filepath.FromSlash(rel))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, 0o644))
		must(t, os.Chtimes(p, recorded, recorded))
		h.mu.Lock()
		h.files[rel] = data
		h.mu.Unlock()
	}
	h.start()
	h.waitDone(n)
	h.verify()
	want := meta.FormatDate(recorded)
	for _, p := range h.srv.Presigns() {
		if got := p.Metadata["date_of_call"]; got != want {
			t.Errorf("%s: date_of_call %v, want the server's time %q", p.FileName, got, want)
		}
	}
	for i := 0; i < n; i++ {
		rel := fmt.Sprintf("d%d/ftp_%02d.wav", i%3, i)
		if _, err := os.Stat(filepath.Join(root, "calls", rel)); !os.IsNotExist(err) {
			t.Errorf("%s still in /calls on the server (%v)", rel, err)
		}
		if _, err := os.Stat(filepath.Join(root, "done", rel)); err != nil {
			t.Errorf("%s not moved to /done: %v", rel, err)
		}
	}
	spool, _ := filepath.Glob(filepath.Join(h.state, "spool", "pbx", "*"))
	if len(spool) != 0 {
		t.Errorf("spool copies left: %v", spool)
	}
}

// A manifest and a bulk ZIP on an FTP server: the manifest is staged and
// kept for the calls of its folder, the ZIP staged and expanded, and every
// call gets its row.
func TestFTPManifestAndZip(t *testing.T) {
	root := t.TempDir()
	addr, password := startFTP(t, root)
	pwFile := filepath.Join(t.TempDir(), "pbx.pass")
	must(t, os.WriteFile(pwFile, []byte(password+"\n"), 0o600))
	h := newHarness(t, harnessOptions{upload: "metadata:\n  manifest_wait: 20s\n"})
	b, err := os.ReadFile(h.cfgFile)
	must(t, err)
	src := fmt.Sprintf("  - name: pbx\n    type: ftp\n    url: ftp://rec@%s/calls\n    password_file: %s\n    settle: 300ms\n    poll_interval: 200ms\n    timeout: 5s\n", addr, pwFile)
	must(t, os.WriteFile(h.cfgFile, []byte(strings.Replace(string(b), "upload:\n", src+"upload:\n", 1)), 0o600))

	dir := filepath.Join(root, "calls", "day1")
	must(t, os.MkdirAll(dir, 0o755))
	csv := "filename,agent_name,team\n"
	for i := range 5 {
		name := fmt.Sprintf("f%d.wav", i)
		must(t, os.WriteFile(filepath.Join(dir, name), audiotest.WAV(3000+i, byte(i)), 0o644))
		csv += fmt.Sprintf("%s,Agent %d,FTP Team\n", name, i)
	}
	must(t, os.WriteFile(filepath.Join(dir, "metadata.csv"), []byte(csv), 0o644))
	makeZip(t, filepath.Join(root, "calls", "batch.zip"),
		zipFile{name: "metadata.csv", data: []byte("filename,agent_name\nz1.wav,Zipped\n")},
		zipFile{name: "z1.wav", data: audiotest.WAV(5000, 9)})

	h.start()
	h.waitFor("the calls, the manifest and the ZIP done", 60*time.Second, func() bool { return h.count("done") == 5+1+2 })
	got := map[string]any{}
	for _, p := range h.srv.Presigns() {
		got[p.FileName] = p.Metadata["agent_name"]
	}
	for i := range 5 {
		if name := fmt.Sprintf("f%d.wav", i); got[name] != fmt.Sprintf("Agent %d", i) {
			t.Errorf("%s: agent_name %v, want its manifest row's", name, got[name])
		}
	}
	if got["z1.wav"] != "Zipped" {
		t.Errorf("z1.wav: agent_name %v, want the ZIP's row", got["z1.wav"])
	}
}
