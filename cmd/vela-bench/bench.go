package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vela-agent/vela-agent/cmd/internal/loopback"
)

// bench runs the scenarios in a working folder that close removes.
type bench struct {
	ctx    context.Context
	o      *options
	meter  meter
	dir    string // the working folder
	tmpDir string // TMPDIR of every child process, inside dir
	logw   io.Writer
}

func newBench(ctx context.Context, o *options, logw io.Writer) (*bench, error) {
	for _, name := range []string{"vela-agent", "vela-devserver", "vela-bench"} {
		if _, err := os.Stat(exe(o.bin, name)); err != nil {
			return nil, fmt.Errorf("%w (run `make build` first, or point -bin at the binaries)", err)
		}
	}
	dir, err := os.MkdirTemp(o.tmp, "vela-bench-")
	if err != nil {
		return nil, err
	}
	m := findMeter()
	if o.rusage {
		m = meter{}
	}
	b := &bench{ctx: ctx, o: o, meter: m, dir: dir, tmpDir: filepath.Join(dir, "tmp"), logw: logw}
	if err := os.Mkdir(b.tmpDir, 0o755); err != nil {
		b.close()
		return nil, err
	}
	b.say("working folder %s; measuring processes with %s", dir, b.meter)
	return b, nil
}

// exe returns the path of the program name in folder bin.
func exe(bin, name string) string {
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(bin, name)
}

func (b *bench) close() {
	if b.o.keep {
		b.say("working folder %s kept", b.dir)
		return
	}
	if err := os.RemoveAll(b.dir); err != nil {
		b.say("remove the working folder: %v", err)
	}
}

// say reports progress on the log writer (stderr), never in the report.
func (b *bench) say(format string, args ...any) {
	fmt.Fprintf(b.logw, "%s vela-bench: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// mkdir makes a folder inside the working folder and returns its path.
func (b *bench) mkdir(elem ...string) (string, error) {
	p := filepath.Join(append([]string{b.dir}, elem...)...)
	return p, os.MkdirAll(p, 0o755)
}

// run runs one scenario.
func (b *bench) run(name string) *section {
	sec := &section{name: name}
	var err error
	switch name {
	case "throughput":
		err = b.throughput(sec)
	case "big":
		err = b.big(sec)
	case "discover":
		err = b.discoverScenario(sec)
	case "describe":
		err = b.describeScenario(sec)
	case "startup":
		err = b.startup(sec)
	case "ftp":
		err = b.ftpScenario(sec)
	case "zip":
		err = b.zipScenario(sec)
	case "archive":
		err = b.archiveScenario(sec)
	default:
		err = fmt.Errorf("unknown scenario %q", name)
	}
	sec.err = err
	return sec
}

// devserver is a running vela-devserver.
type devserver struct {
	api       string // host:port of the Vela API
	tokenFile string // a valid refresh token, written by the devserver
	p         *proc
}

// orgID is the organisation every devserver serves.
const orgID = "org-test"

// startDevserver starts vela-devserver with its files in dir. Its objects
// are kept in memory unless extra asks for -dir.
func (b *bench) startDevserver(dir string, extra ...string) (*devserver, error) {
	ports, err := loopback.FreeAddrs(2)
	if err != nil {
		return nil, err
	}
	d := &devserver{api: ports[0], tokenFile: filepath.Join(dir, "refresh_token")}
	args := append([]string{exe(b.o.bin, "vela-devserver"),
		"-listen", ports[0], "-s3-listen", ports[1], "-org", orgID,
		"-refresh-token-file", d.tokenFile, "-log-level", "warn",
	}, extra...)
	if d.p, err = b.start("vela-devserver", filepath.Join(dir, "devserver.log"), false, args...); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(d.tokenFile); err == nil && loopback.Listening(d.api) {
			return d, nil
		}
		if !d.p.running() || time.Now().After(deadline) || b.ctx.Err() != nil {
			d.stop()
			return nil, fmt.Errorf("vela-devserver did not start; its output:\n%s", tail(d.p.log.Name(), 15))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops the devserver; nothing of it is measured.
func (d *devserver) stop() { _, _ = d.p.stop(10 * time.Second) }

// url returns the API's base URL.
func (d *devserver) url() string { return "http://" + d.api }

// object is one object the devserver stored.
type object struct {
	Key  string
	Size int64
}

// checkStored checks that the devserver stored n objects of total bytes.
func (d *devserver) checkStored(n int, total int64) error {
	var objs []object
	if err := loopback.GetJSON("http://"+d.api+"/_emulator/objects", &objs); err != nil {
		return fmt.Errorf("list the devserver's objects: %w", err)
	}
	var sum int64
	for _, o := range objs {
		sum += o.Size
	}
	if len(objs) != n || sum != total {
		return fmt.Errorf("the devserver holds %d objects of %d bytes, want %d of %d", len(objs), sum, n, total)
	}
	return nil
}

// checkPaused checks that the devserver refuses presigns, as it does when
// started with -allocation 0: no minutes left.
func (d *devserver) checkPaused(ctx context.Context) error {
	token, err := os.ReadFile(d.tokenFile)
	if err != nil {
		return err
	}
	c := newBareClient(d.url(), orgID, 1)
	if err := c.signIn(ctx, string(token)); err != nil {
		return err
	}
	if _, _, err := c.presign(ctx, "refused.wav", nil); err == nil {
		return errors.New("the devserver started with no allocation still presigns")
	}
	return nil
}

// agentConfig is what differs between the agent configurations.
type agentConfig struct {
	dev      *devserver
	stateDir string
	source   string        // the source's folder
	settle   time.Duration // the source's settle
	status   string        // status.listen; "" = off
	// keys, if set, are the source's keys below its name, instead of a
	// local folder's path, settle and rescan_interval (an FTP source).
	keys string
	// concurrency is upload.concurrency; 0 = -concurrency.
	concurrency int
}

// sourceName is the name of the one source; store.Fill fills jobs of it.
const sourceName = "calls"

// writeAgentConfig writes a configuration like the one vela-demo writes.
func (b *bench) writeAgentConfig(path string, c agentConfig) error {
	status := c.status
	if status == "" {
		status = "off"
	}
	keys := c.keys
	if c.concurrency == 0 {
		c.concurrency = b.o.concurrency
	}
	if keys == "" {
		keys = fmt.Sprintf("    path: %q\n    settle: %s\n    rescan_interval: 5m\n", c.source, c.settle)
	}
	conf := fmt.Sprintf(`# written by vela-bench
api:
  base_url: %q
  org_id: %q
  refresh_token_file: %q
state_dir: %q
sources:
  - name: %s
%supload:
  concurrency: %d
  max_file_size: 5GB
status:
  listen: %q
log:
  level: warn
`, c.dev.url(), orgID, c.dev.tokenFile, c.stateDir, sourceName, keys, c.concurrency, status)
	return os.WriteFile(path, []byte(conf), 0o600)
}

// agentStatus is what the bench reads of the agent's /status.
type agentStatus struct {
	jobs   int      // the sum of the counts by state
	paused []string // the names of the closed pause gates
}

// readStatus reads the agent's status page.
func readStatus(addr string) (agentStatus, error) {
	var st struct {
		Counts map[string]int
		Paused []struct{ Name string }
	}
	if err := loopback.GetJSON("http://"+addr+"/status", &st); err != nil {
		return agentStatus{}, err
	}
	if st.Counts == nil {
		return agentStatus{}, errors.New("status has no counts")
	}
	var out agentStatus
	for _, n := range st.Counts {
		out.jobs += n
	}
	for _, g := range st.Paused {
		out.paused = append(out.paused, g.Name)
	}
	return out, nil
}

// pollStatus polls the status page every interval until it answers with
// counts summing to at least want, and returns when that was. It fails
// when the process exits, timeout passes or ctx is done.
func (b *bench) pollStatus(p *proc, addr string, want int, interval, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	last := -1
	for {
		st, err := readStatus(addr)
		if err == nil && st.jobs >= want {
			return time.Now(), nil
		}
		if err == nil {
			last = st.jobs
		}
		switch {
		case b.ctx.Err() != nil:
			return time.Time{}, b.ctx.Err()
		case !p.running():
			return time.Time{}, fmt.Errorf("%s exited; its output ends:\n%s", p.name, tail(p.log.Name(), 15))
		case time.Now().After(deadline):
			return time.Time{}, fmt.Errorf("%s: after %v its status counts %d jobs, want %d (last error: %v)", p.name, timeout, last, want, err)
		}
		time.Sleep(interval)
	}
}
