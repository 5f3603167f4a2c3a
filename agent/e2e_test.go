package agent_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// harness runs a real agent against the emulator on a temporary folder.
type harness struct {
	t       *testing.T
	srv     *velatest.Server
	in      string // the watched folder
	cfgFile string
	token   string // refresh token file
	state   string // state_dir

	mu    sync.Mutex
	files map[string][]byte // relative path -> content written

	agent  *agent.Agent
	cancel context.CancelFunc
	done   chan error

	logMu sync.Mutex
	logs  strings.Builder // what the agent logged, every start
}

// harnessLog passes the agent's log to the test and keeps it.
type harnessLog struct{ h *harness }

func (w harnessLog) Write(p []byte) (int, error) {
	w.h.logMu.Lock()
	w.h.logs.Write(p)
	w.h.logMu.Unlock()
	return testWriter{w.h.t}.Write(p)
}

// logged returns what the agent logged so far.
func (h *harness) logged() string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.logs.String()
}

var configTemplate = template.Must(template.New("cfg").Parse(`
api:
  base_url: {{.URL}}
  org_id: {{.Org}}
  refresh_token_file: {{.Token}}
  timeout: 1s
  allocation_recheck: 200ms
state_dir: {{.State}}
sources:
  - name: calls
    path: {{.In}}
    settle: 300ms
    rescan_interval: 1s
{{.Source}}upload:
  concurrency: 4
{{if not .Defaults}}  retry_min: 50ms
  retry_max: 500ms
{{end}}  stall_timeout: 3s
{{.Upload}}status:
  listen: ""
log:
  level: info
`))

type harnessOptions struct {
	srv    velatest.Options
	org    string // org_id in the config; default the emulator's
	upload string // more lines for the upload section, indented
	source string // more lines for the source, indented
	// defaults keeps the default retry settings instead of the tests'
	// short ones.
	defaults bool
}

func newHarness(t *testing.T, o harnessOptions) *harness {
	t.Helper()
	srv, err := velatest.Start(o.srv)
	if err != nil {
		t.Fatalf("start emulator: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	h := &harness{
		t:       t,
		srv:     srv,
		in:      filepath.Join(dir, "in"),
		cfgFile: filepath.Join(dir, "vela-agent.yaml"),
		token:   filepath.Join(dir, "refresh_token"),
		state:   filepath.Join(dir, "state"),
		files:   map[string][]byte{},
	}
	must(t, os.MkdirAll(h.in, 0o755))
	must(t, os.WriteFile(h.token, []byte(srv.RefreshToken()+"\n"), 0o600))
	org := o.org
	if org == "" {
		org = o.srv.OrgID
	}
	if org == "" {
		org = "org-test"
	}
	var b strings.Builder
	must(t, configTemplate.Execute(&b, map[string]any{
		"URL": srv.URL(), "Org": org, "Token": h.token,
		"State": h.state, "In": h.in, "Upload": o.upload, "Source": o.source,
		"Defaults": o.defaults,
	}))
	must(t, os.WriteFile(h.cfgFile, []byte(b.String()), 0o600))
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// start runs the agent until the test ends (or stop).
func (h *harness) start() {
	h.t.Helper()
	cfg, err := config.Load(h.cfgFile)
	must(h.t, err)
	log := slog.New(slog.NewTextHandler(harnessLog{h}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := agent.Open(cfg, log, false)
	must(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.agent, h.cancel, h.done = a, cancel, make(chan error, 1)
	go func() { h.done <- a.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.agent == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.agent.Close()
	h.agent = nil
}

// write creates a file of size random bytes at rel under the watched folder.
func (h *harness) write(rel string, size int) {
	h.t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	audiotest.Stamp(data)
	p := filepath.Join(h.in, filepath.FromSlash(rel))
	must(h.t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(h.t, os.WriteFile(p, data, 0o644))
	h.mu.Lock()
	h.files[rel] = data
	h.mu.Unlock()
}

// waitFor polls cond until it holds or the deadline passes.
func (h *harness) waitFor(what string, timeout time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			st, _ := h.agent.Status()
			h.t.Fatalf("timed out after %v waiting for %s; status: %+v", timeout, what, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) count(state string) int {
	st, err := h.agent.Status()
	if err != nil {
		h.t.Fatalf("status: %v", err)
	}
	return st.Counts[state]
}

// waitDone waits until n jobs are done.
func (h *harness) waitDone(n int) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("%d jobs done", n), 60*time.Second, func() bool { return h.count("done") >= n })
}

var datePattern = regexp.MustCompile(`^\d{2}/\d{2}/\d{4}, \d{2}:\d{2}:\d{2}$`)

// verify checks that every written file arrived once, byte-identical, with
// its date_of_call in Vela's format and zone.
func (h *harness) verify() {
	h.t.Helper()
	objects := map[string]velatest.Object{}
	for _, o := range h.srv.Objects() {
		objects[o.Key] = o
	}
	byName := map[string][]velatest.PresignRecord{}
	for _, p := range h.srv.Presigns() {
		byName[p.FileName] = append(byName[p.FileName], p)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for rel, data := range h.files {
		name := path.Base(rel)
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])
		uploads := 0
		for _, p := range byName[name] {
			o, ok := objects[p.Key]
			if !ok {
				continue
			}
			uploads += o.Uploads
			if o.SHA256 != want {
				h.t.Errorf("%s: stored object %s differs from the file (sha256 %s, want %s)", rel, o.Key, o.SHA256, want)
			}
		}
		if uploads != 1 {
			h.t.Errorf("%s: uploaded %d times, want 1", rel, uploads)
			continue
		}
		fi, err := os.Stat(filepath.Join(h.in, filepath.FromSlash(rel)))
		if err != nil {
			continue // moved or deleted after upload
		}
		got := byName[name][len(byName[name])-1].Metadata["date_of_call"]
		if s, _ := got.(string); !datePattern.MatchString(s) || s != meta.FormatDate(fi.ModTime()) {
			h.t.Errorf("%s: date_of_call %v, want %q", rel, got, meta.FormatDate(fi.ModTime()))
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestEndToEnd200Files(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.start()
	const n = 200
	for i := 0; i < n; i++ {
		h.write(fmt.Sprintf("team%d/day%d/call_%04d.wav", i%5, i%3, i), 1000+i*97)
	}
	h.waitDone(n)
	h.verify()
	if got := h.srv.Count(velatest.OpPresign); got != n {
		t.Errorf("presign endpoint called %d times, want %d", got, n)
	}
}

func decodeJSON(resp *http.Response, v any) error {
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// The whole pipeline against versitygw, an independent S3 implementation
// that checks presigned POST signatures, expiry and conditions itself.
func TestEndToEndVersitygw(t *testing.T) {
	ext := velatest.StartVersitygw(t)
	h := newHarness(t, harnessOptions{srv: velatest.Options{External: &ext}})
	h.start()
	const n = 20
	for i := 0; i < n; i++ {
		h.write(fmt.Sprintf("vgw/%d/call_%02d.wav", i%3, i), 100+i*7919)
	}
	h.waitDone(n)
	keys := map[string]string{}
	for _, p := range h.srv.Presigns() {
		keys[p.FileName] = p.Key
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for rel, want := range h.files {
		key, ok := keys[path.Base(rel)]
		if !ok {
			t.Errorf("%s: never presigned", rel)
			continue
		}
		got, found := velatest.ReadObject(t, ext, key)
		if !found || sha256.Sum256(got) != sha256.Sum256(want) {
			t.Errorf("%s: object %s found=%v, %d bytes, want %d identical bytes", rel, key, found, len(got), len(want))
		}
	}
	if got := h.srv.Count(velatest.OpPresign); got != n {
		t.Errorf("presigns = %d, want %d", got, n)
	}
}

func TestAfterUpload(t *testing.T) {
	t.Run("delete", func(t *testing.T) {
		h := newHarness(t, harnessOptions{source: "    after_upload: delete\n"})
		h.start()
		h.write("x/one.wav", 2000)
		h.write("two.wav", 2000)
		h.waitDone(2)
		h.verify()
		for _, rel := range []string{"x/one.wav", "two.wav"} {
			if _, err := os.Stat(filepath.Join(h.in, filepath.FromSlash(rel))); !os.IsNotExist(err) {
				t.Errorf("%s still there after upload (err %v)", rel, err)
			}
		}
	})
	t.Run("move", func(t *testing.T) {
		done := filepath.Join(t.TempDir(), "uploaded")
		h := newHarness(t, harnessOptions{source: "    after_upload: move:" + done + "\n"})
		h.start()
		h.write("x/one.wav", 2000)
		h.waitDone(1)
		h.verify()
		if _, err := os.Stat(filepath.Join(done, "x", "one.wav")); err != nil {
			t.Errorf("not moved: %v", err)
		}
		if _, err := os.Stat(filepath.Join(h.in, "x", "one.wav")); !os.IsNotExist(err) {
			t.Errorf("source file still there (err %v)", err)
		}
	})
}

// hasProblem reports whether one of problems holds substr.
func hasProblem(problems []string, substr string) bool {
	for _, p := range problems {
		if strings.Contains(p, substr) {
			return true
		}
	}
	return false
}
