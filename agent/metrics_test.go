package agent_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/store"
)

// statusURL finds the status page's address in the agent's log line
// "status page" url=http://127.0.0.1:PORT/status.
var statusURL = regexp.MustCompile(`msg="status page" url=(http://[^\s/]+)/`)

// logTap passes the log to the test and sends the status page's base URL
// on found when the agent logs it.
type logTap struct {
	t     *testing.T
	found chan string
}

func (w logTap) Write(p []byte) (int, error) {
	if m := statusURL.FindSubmatch(p); m != nil {
		select {
		case w.found <- string(m[1]):
		default:
		}
	}
	return testWriter{w.t}.Write(p)
}

// startWithStatus runs the harness's agent with its status page on a free
// loopback port and returns the page's base URL.
func (h *harness) startWithStatus() string {
	h.t.Helper()
	raw, err := os.ReadFile(h.cfgFile)
	must(h.t, err)
	cfgText := strings.Replace(string(raw), `listen: ""`, `listen: "127.0.0.1:0"`, 1)
	must(h.t, os.WriteFile(h.cfgFile, []byte(cfgText), 0o600))
	cfg, err := config.Load(h.cfgFile)
	must(h.t, err)
	tap := logTap{h.t, make(chan string, 1)}
	log := slog.New(slog.NewTextHandler(tap, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := agent.Open(cfg, log, false)
	must(h.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h.agent, h.cancel, h.done = a, cancel, make(chan error, 1)
	go func() { h.done <- a.Run(ctx) }()
	h.t.Cleanup(h.stop)
	select {
	case u := <-tap.found:
		return u
	case err := <-h.done:
		h.t.Fatalf("agent stopped before its status page listened: %v", err)
	case <-time.After(10 * time.Second):
		h.t.Fatal("the agent did not log its status page's address")
	}
	return ""
}

// scrape GETs /metrics and returns its text and its parsed families.
func scrape(t *testing.T, base string) ([]byte, map[string]*dto.MetricFamily) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s: %s", resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return body, fams
}

// value is the value of the series of family name with the given labels
// (name, value pairs); ok is false if there is none.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// After an end-to-end run with uploads, two parked files (one unreadable,
// one over upload.max_file_size) and a transient upload failure, /metrics of the running agent reports the
// store's counts, the uploads and the retries, and passes the linters.
func TestMetricsAfterRun(t *testing.T) {
	old := *agent.OpenFile
	t.Cleanup(func() { *agent.OpenFile = old })
	*agent.OpenFile = func(root, rel string) (*os.File, error) {
		if path.Base(rel) == "locked.wav" {
			return nil, &fs.PathError{Op: "open", Path: filepath.Join(root, rel), Err: fs.ErrPermission}
		}
		return old(root, rel)
	}
	h := newHarness(t, harnessOptions{upload: "  max_file_size: 10000\n"})
	h.srv.Inject(velatest.Fault{Op: velatest.OpUpload, Status: http.StatusServiceUnavailable, Code: "SlowDown"})
	base := h.startWithStatus()

	const uploads = 5
	var bytesWritten int
	for i := range uploads {
		size := 2000 + i*100
		h.write("call_"+string(rune('a'+i))+".wav", size)
		bytesWritten += size
	}
	h.write("locked.wav", 3000)
	h.write("huge.wav", 20000)
	h.waitFor("5 done, 2 parked", 60*time.Second, func() bool {
		return h.count("done") == uploads && h.count("parked") == 2
	})

	text, fams := scrape(t, base)
	counts, err := h.agent.Store().Counts()
	must(t, err)
	for _, s := range store.States {
		got, ok := value(fams, "vela_agent_jobs", "state", s.String())
		if !ok || got != float64(counts[s]) {
			t.Errorf("vela_agent_jobs{state=%q} = %v (present %v), the store counts %d", s, got, ok, counts[s])
		}
	}

	want := []struct {
		name   string
		labels []string
		ok     func(float64) bool
		what   string
	}{
		{"vela_agent_uploaded_files_total", nil, eq(uploads), "the files uploaded"},
		{"vela_agent_uploaded_bytes_total", nil, eq(bytesWritten), "their bytes"},
		{"vela_agent_retries_total", []string{"cause", "upload"}, atLeast(1), "the 503 retried"},
		{"vela_agent_retries_total", []string{"cause", "file"}, atLeast(1), "the unreadable file retried"},
		{"vela_agent_retries_total", []string{"cause", "commit"}, eq(0), "no commit failures"},
		{"vela_agent_parked_total", []string{"reason", "unreadable"}, eq(1), "the unreadable file parked"},
		{"vela_agent_parked_total", []string{"reason", "too_large"}, eq(1), "the large file parked"},
		{"vela_agent_parked_total", []string{"reason", "other"}, eq(0), "no parking unclassified"},
		{"vela_agent_remote_holds_total", []string{"remote", "upload", "cause", "retry_after"}, eq(0), "no Retry-After"},
		{"vela_agent_remote_holding", []string{"remote", "api"}, eq(0), "the API not held"},
		{"vela_agent_paused", []string{"gate", "calls"}, eq(0), "calls not paused"},
		{"vela_agent_paused", []string{"gate", "all"}, eq(0), "nothing paused"},
		{"vela_agent_source_scans_total", []string{"source", "calls"}, atLeast(1), "a scan"},
		{"vela_agent_source_files_found_total", []string{"source", "calls"}, atLeast(uploads + 2), "every file found"},
		{"vela_agent_source_last_scan_seconds", []string{"source", "calls"}, atLeast(0), "a last scan time"},
		{"vela_agent_state_commits_total", nil, atLeast(uploads), "commits"},
		{"vela_agent_state_commit_seconds_total", nil, func(v float64) bool { return v > 0 }, "time in commits"},
		{"vela_agent_state_commit_failures_total", nil, eq(0), "no failed commits"},
		{"vela_agent_state_write_failing", nil, eq(0), "the state file writable"},
		{"vela_agent_workers", []string{"pool", "upload"}, eq(4), "upload.concurrency workers"},
		{"vela_agent_workers_wanted", []string{"pool", "upload"}, eq(4), "upload.concurrency wanted"},
		{"vela_agent_last_upload_timestamp_seconds", nil, func(v float64) bool {
			return time.Since(time.Unix(0, int64(v*1e9))).Abs() < time.Minute
		}, "a recent upload"},
		{"vela_agent_build_info", []string{"version", agent.Version}, eq(1), "the version"},
		{"vela_agent_presign_duration_seconds", []string{"outcome", "ok"}, eq(h.srv.Count(velatest.OpPresign)), "every presign timed"},
		{"vela_agent_upload_duration_seconds", []string{"outcome", "ok"}, eq(uploads), "every upload timed"},
		{"vela_agent_upload_duration_seconds", []string{"outcome", "error"}, eq(1), "the 503 timed"},
		{"go_goroutines", nil, atLeast(1), "the Go runtime's metrics"},
	}
	for _, w := range want {
		got, ok := value(fams, w.name, w.labels...)
		if !ok || !w.ok(got) {
			t.Errorf("%s%v = %v (present %v), want %s", w.name, w.labels, got, ok, w.what)
		}
	}
	for name, f := range fams {
		if strings.HasPrefix(name, "vela_agent_") && f.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}

	problems, err := testutil.CollectAndLint(h.agent.Metrics())
	must(t, err)
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	// A pedantic registry also checks that every metric collected was
	// described.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h.agent.Metrics())
	problems, err = testutil.GatherAndLint(reg)
	must(t, err)
	for _, p := range problems {
		t.Errorf("lint (pedantic registry): %s: %s", p.Metric, p.Text)
	}

	t.Run("promtool", func(t *testing.T) { promtool(t, text) })
}

func eq[N int | float64](n N) func(float64) bool {
	return func(v float64) bool { return v == float64(n) }
}

func atLeast[N int | float64](n N) func(float64) bool {
	return func(v float64) bool { return v >= float64(n) }
}

// promtool checks the scraped text with `promtool check metrics`: skipped
// when promtool is not installed (Debian package prometheus), except in CI.
func promtool(t *testing.T, text []byte) {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not installed (apt-get install prometheus); CI must run this check")
		}
		t.Skip("promtool not installed (Debian package prometheus): skipping promtool check metrics")
	}
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
