package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/store"
)

// hostile is a file name that would run a script if the page did not
// escape it.
const hostile = `<script>alert(1)</script>`

// checkPage checks what an admin must see on the status page: the count
// of each state in counts, and each of texts (compared unescaped). It also
// checks that no markup came from the names: the page has no script, so
// "<script" appears only escaped.
func checkPage(t *testing.T, page string, counts map[string]int, texts ...string) {
	t.Helper()
	for state, n := range counts {
		re := regexp.MustCompile(`id="count-` + state + `"><b>(\d+)</b>`)
		m := re.FindStringSubmatch(page)
		if m == nil {
			t.Errorf("no count for %s on the page", state)
		} else if m[1] != fmt.Sprint(n) {
			t.Errorf("count %s = %s, want %d", state, m[1], n)
		}
	}
	text := html.UnescapeString(page)
	for _, s := range texts {
		if !strings.Contains(text, s) {
			t.Errorf("the page does not show %q", s)
		}
	}
	if strings.Contains(strings.ToLower(page), "<script") {
		t.Errorf("the page holds a <script> element: a name was not escaped")
	}
}

// escapedName is how a name holding hostile shows in the page's source.
var escapedName = "&lt;script&gt;alert(1)&lt;/script&gt;"

func TestStatusPage(t *testing.T) {
	now := time.Date(2025, 3, 14, 10, 30, 0, 0, time.Local)
	pause := "presign call_001.wav: 400 Allocation exceeded; organisation org-1 has used its monthly call minutes or is not activated; call uploads resume when it has minutes again"
	parkedWhy := "file is 5000 bytes, over upload.max_file_size (1000 bytes)"
	st := &agent.Status{
		Version:    "1.2.3",
		Started:    now.Add(-time.Hour),
		StateFile:  "/var/lib/vela-agent/state.db",
		ConfigFile: "/etc/vela-agent/vela-agent.yaml",
		Counts:     map[string]int{"queued": 2, "ready": 1, "done": 7, "parked": 1},
		Paused:     []store.Gate{{Name: agent.GateCalls, Reason: pause, Since: now.Add(-3 * time.Minute)}},
		Sources: []agent.SourceStatus{
			{Name: "calls", Path: "/srv/rec/" + hostile, Mode: "events", Scans: 4, LastScanFiles: 12, LastScanMillis: 35},
			{Name: "ftp", Path: "ftp://pbx.example/rec", Mode: "polling", Reason: "an FTP server is polled", Problem: "cannot log in: 530 Login incorrect"},
		},
		Active: []agent.Transfer{{Job: 9, File: "team/call_009.wav", Size: 2_000_000, Sent: 1_000_000, Since: now.Add(-5 * time.Second)}},
		Recent: []agent.Event{{Time: now.Add(-time.Minute), Job: 4, File: "x/" + hostile + ".wav", Error: "paused: " + pause}},
		Parked: []agent.JobSummary{{ID: 3, Source: "calls", Path: "big " + hostile + ".wav", State: "parked", Reason: parkedWhy, Updated: now.Add(-2 * time.Minute)}},
	}
	st.Problems = []string{agent.GateProblem(st.Paused[0]), "source ftp: cannot log in: 530 Login incorrect"}

	var b bytes.Buffer
	must(t, agent.RenderPage(&b, st, now))
	page := b.String()
	checkPage(t, page, map[string]int{"queued": 2, "ready": 1, "done": 7, "parked": 1, "skipped": 0},
		"Paused: "+pause+" — ask Vela for more minutes",
		parkedWhy,
		"big "+hostile+".wav",
		"cannot log in: 530 Login incorrect",
		"50%", "1.0 MB of 2.0 MB",
		"4 done; the latest took 35ms and saw 12 file(s)",
		"/etc/vela-agent/vela-agent.yaml", "/var/lib/vela-agent/state.db", "1.2.3",
		"3 file(s) waiting. 1 more problem(s) below. 1 file(s) parked: see below.",
	)
	if got := strings.Count(page, escapedName); got != 3 { // the parked job, the recent failure, the source's path
		t.Errorf("the hostile name appears escaped %d times, want 3", got)
	}
	if !strings.Contains(page, `<meta http-equiv="refresh" content="5">`) {
		t.Errorf("the page does not refresh itself")
	}
	if !strings.Contains(page, `class="headline paused"`) {
		t.Errorf("the headline is not marked paused")
	}

	t.Run("problems without a pause", func(t *testing.T) {
		st := &agent.Status{Counts: map[string]int{}, Problems: []string{"source calls: folder " + hostile + " cannot be read"}}
		var b bytes.Buffer
		must(t, agent.RenderPage(&b, st, now))
		checkPage(t, b.String(), nil, "Needs attention: source calls: folder "+hostile+" cannot be read")
		if !strings.Contains(b.String(), `class="headline attention"`) {
			t.Errorf("the headline is not marked for attention")
		}
	})
	t.Run("all well", func(t *testing.T) {
		st := &agent.Status{Counts: map[string]int{"done": 3}}
		var b bytes.Buffer
		must(t, agent.RenderPage(&b, st, now))
		checkPage(t, b.String(), map[string]int{"done": 3, "queued": 0}, "Uploading", "Up to date: nothing waiting", "Nothing in flight.")
		if !strings.Contains(b.String(), `class="headline ok"`) {
			t.Errorf("the headline is not marked ok")
		}
	})
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// chromium returns the path of Debian's chromium, skipping the test when
// it is missing (failing it under CI, which installs it).
func chromium(t *testing.T) string {
	t.Helper()
	const bin = "/usr/bin/chromium"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not installed (%v): .ci/run installs it", err)
		}
		t.Skip("chromium not installed: apt-get install -y chromium")
	}
	return bin
}

// runChromium runs headless chromium with args and a fresh profile and
// returns its standard output.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	profile, err := os.MkdirTemp("", "vela-chromium-")
	must(t, err)
	defer os.RemoveAll(profile)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// A real agent with a parked job and a paused gate, its status page loaded
// in a real browser.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium(t)
	h := newHarness(t, harnessOptions{upload: "  max_file_size: 1KB\n"})
	addr := freeAddr(t)
	cfg, err := os.ReadFile(h.cfgFile)
	must(t, err)
	cfg = bytes.Replace(cfg, []byte(`listen: ""`), []byte("listen: "+addr), 1)
	must(t, os.WriteFile(h.cfgFile, cfg, 0o600))
	h.start()
	url := "http://" + addr + "/"

	// A file over max_file_size is parked; then, with the allocation used
	// up, a small one pauses call uploads.
	bigName := "big " + hostile[:len(hostile)-len("</script>")] + ".wav" // no "/" in a file name
	h.write(bigName, 5000)
	h.waitFor("a parked job", 30*time.Second, func() bool { return h.count("parked") == 1 })
	h.srv.SetAllocation(0)
	h.write("call_001.wav", 500)
	h.waitFor("the calls gate closed", 30*time.Second, func() bool {
		st, err := h.agent.Status()
		return err == nil && len(st.Paused) > 0
	})

	resp, err := http.Get(url)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %s\n%s", resp.Status, resp.Header.Get("Content-Type"), body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if resp, err := http.Get("http://" + addr + "/nothing-here"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /nothing-here: %s, want 404", resp.Status)
		}
	}

	st, err := h.agent.Status()
	must(t, err)
	counts := map[string]int{}
	for _, s := range []string{"parked", "done", "skipped"} {
		counts[s] = st.Counts[s]
	}
	active := 0
	for _, s := range store.States {
		if s.Active() {
			active += st.Counts[s.String()]
		}
	}
	if counts["parked"] != 1 || active != 1 {
		t.Fatalf("status counts %v, want 1 parked and 1 waiting", st.Counts)
	}
	parkedWhy := "file is 5000 bytes, over upload.max_file_size (1000 bytes)"
	if st.Parked[0].Reason != parkedWhy {
		t.Fatalf("parked reason %q, want %q", st.Parked[0].Reason, parkedWhy)
	}
	pause := st.Paused[0].Reason
	if !strings.Contains(pause, "Allocation exceeded") {
		t.Fatalf("pause reason %q, want Allocation exceeded", pause)
	}

	dom := string(runChromium(t, bin, "--dump-dom", url))
	checkPage(t, dom, counts,
		"Paused: "+oneLine(pause),
		"Allocation exceeded",
		parkedWhy,
		bigName,
		h.cfgFile, st.StateFile, agent.Version,
	)
	if !strings.Contains(dom, "&lt;script&gt;alert(1)") {
		t.Errorf("the parked file's name is not shown escaped")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", dom)
	}

	dir := os.Getenv("VELA_TEST_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	shot := filepath.Join(dir, "vela-agent-status-page.png")
	os.Remove(shot)
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1200,900", "--hide-scrollbars", url)
	fi, err := os.Stat(shot)
	switch {
	case errors.Is(err, os.ErrNotExist):
		t.Fatalf("chromium wrote no screenshot at %s", shot)
	case err != nil:
		t.Fatal(err)
	case fi.Size() < 1000:
		t.Errorf("screenshot %s is only %d bytes", shot, fi.Size())
	}
	t.Logf("screenshot of the status page: %s", shot)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
