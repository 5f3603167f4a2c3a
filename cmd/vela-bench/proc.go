package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// meter is how a child process's peak RSS and CPU time are measured: by
// running it under GNU time (`/usr/bin/time -v`), or, when that is missing,
// from the rusage the kernel reports when the process is reaped.
type meter struct {
	time string // path of GNU time; "" = rusage
}

// timePath is where GNU time is looked for.
var timePath = "/usr/bin/time"

func findMeter() meter {
	if runtime.GOOS == "windows" {
		return meter{}
	}
	if fi, err := os.Stat(timePath); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return meter{time: timePath}
	}
	return meter{}
}

func (m meter) String() string {
	switch {
	case m.time != "":
		return "`" + m.time + " -v` (\"Maximum resident set size\"; user + system time, which it reports in 10 ms steps)"
	case rusageKnown:
		return "the rusage of the reaped process (`ProcessState.SysUsage()`: Maxrss, user + system time), not " + timePath + ". " +
			"A child's Maxrss is at least the bench process's own RSS when it started the child (about 10 MB), which the child shares until it execs: small figures are upper bounds"
	}
	return "nothing: " + timePath + " is missing and this system reports no rusage, so RSS figures are unknown"
}

// usage is what one process used.
type usage struct {
	wall    time.Duration // from Start to exit, by the bench's clock
	elapsed time.Duration // GNU time's "Elapsed (wall clock) time"; 0 without it
	cpu     time.Duration // user + system
	maxRSS  int64         // peak resident set size in bytes; 0 if unknown
}

// proc is a child process with its output in a log file. A measured proc
// runs under GNU time when the meter has it; signals then go to the
// measured process, time's only child.
type proc struct {
	name    string
	cmd     *exec.Cmd
	log     *os.File
	timeOut string // file GNU time writes its report to; "" when not used
	started time.Time

	exited  chan struct{} // closed once cmd.Wait returned; then waitErr and ended are set
	waitErr error
	ended   time.Time
}

// start starts argv with its output in logPath. The child's TMPDIR is the
// bench's working folder, so that whatever it leaves behind is removed too.
func (b *bench) start(name, logPath string, measure bool, argv ...string) (*proc, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, log: log, exited: make(chan struct{})}
	if measure && b.meter.time != "" {
		p.timeOut = logPath + ".time"
		argv = append([]string{b.meter.time, "-v", "-o", p.timeOut}, argv...)
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.Env = append(os.Environ(), "TMPDIR="+b.tmpDir, "TMP="+b.tmpDir, "TEMP="+b.tmpDir)
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w (run `make build` first)", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.ended = time.Now()
		close(p.exited)
	}()
	return p, nil
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// target returns the measured process: GNU time's child when it runs under
// time, else the process itself. It is nil when the child cannot be found.
func (p *proc) target() *os.Process {
	if p.timeOut == "" {
		return p.cmd.Process
	}
	pid := childOf(p.cmd.Process.Pid)
	if pid <= 0 {
		return nil
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	return proc
}

// childOf returns the pid of a child of the process pid, or 0. GNU time has
// exactly one. Linux only: it reads /proc.
func childOf(pid int) int {
	for try := 0; try < 50; try++ {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err == nil {
			if f := strings.Fields(string(data)); len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		} else if n := scanForChild(pid); n > 0 {
			return n
		}
		time.Sleep(10 * time.Millisecond) // time may not have forked yet
	}
	return 0
}

// scanForChild finds a child of pid by reading every /proc/N/stat, for
// kernels without /proc/N/task/N/children.
func scanForChild(pid int) int {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, d := range dirs {
		n, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			return n
		}
	}
	return 0
}

// stop asks the measured process to stop (SIGTERM; a kill where signals do
// not exist) and waits for it, killing it after grace.
func (p *proc) stop(grace time.Duration) (usage, error) {
	if p.running() {
		if t := p.target(); t == nil || t.Signal(terminate) != nil {
			p.kill()
		}
	}
	return p.wait(context.Background(), grace)
}

// kill kills the measured process and, when it runs under GNU time, time.
func (p *proc) kill() {
	if t := p.target(); t != nil && p.timeOut != "" {
		t.Kill()
	}
	p.cmd.Process.Kill()
}

// wait waits for the process to exit by itself, for at most timeout, and
// returns what it used. It kills the process when the time is up or ctx
// is done. It fails if the process did not exit with status 0.
func (p *proc) wait(ctx context.Context, timeout time.Duration) (usage, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	var why error
	select {
	case <-p.exited:
	case <-t.C:
		why = fmt.Errorf("%s did not finish within %v", p.name, timeout)
	case <-ctx.Done():
		why = ctx.Err()
	}
	if why != nil {
		p.kill()
		<-p.exited
	}
	p.log.Close()
	u := usage{wall: p.ended.Sub(p.started)}
	if p.timeOut != "" {
		if err := readTimeReport(p.timeOut, &u); err != nil && why == nil {
			why = err
		}
	} else if p.cmd.ProcessState != nil {
		u.cpu = p.cmd.ProcessState.UserTime() + p.cmd.ProcessState.SystemTime()
		u.maxRSS = maxRSS(p.cmd.ProcessState)
	}
	if why == nil && p.waitErr != nil {
		why = fmt.Errorf("%s: %w", p.name, p.waitErr)
	}
	if why != nil {
		return u, fmt.Errorf("%w; its output ends:\n%s", why, tail(p.log.Name(), 15))
	}
	return u, nil
}

// readTimeReport reads what `time -v -o FILE` wrote into u.
func readTimeReport(path string, u *usage) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read the report of %s: %w", timePath, err)
	}
	defer f.Close()
	var found int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		if !ok {
			continue
		}
		// "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:01.23" holds
		// ": " twice; the value is after the last one.
		if i := strings.LastIndex(val, ": "); i >= 0 {
			key, val = key+": "+val[:i], val[i+2:]
		}
		switch {
		case key == "User time (seconds)", key == "System time (seconds)":
			s, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return fmt.Errorf("%s: %s: %q", path, key, val)
			}
			u.cpu += time.Duration(s * float64(time.Second))
			found++
		case key == "Maximum resident set size (kbytes)":
			kb, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return fmt.Errorf("%s: %s: %q", path, key, val)
			}
			u.maxRSS = kb << 10
			found++
		case strings.HasPrefix(key, "Elapsed (wall clock) time"):
			d, err := parseClock(val)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", path, key, err)
			}
			u.elapsed = d
			found++
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if found < 4 {
		return fmt.Errorf("%s: not the report of GNU time -v", path)
	}
	return nil
}

// parseClock parses GNU time's "h:mm:ss" or "m:ss.ss".
func parseClock(s string) (time.Duration, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("want h:mm:ss or m:ss, got %q", s)
	}
	sec, err := strconv.ParseFloat(parts[len(parts)-1], 64)
	if err != nil {
		return 0, fmt.Errorf("bad seconds in %q", s)
	}
	total := sec
	for i, unit := 0, 60.0; i < len(parts)-1; i, unit = i+1, unit*60 {
		n, err := strconv.Atoi(parts[len(parts)-2-i])
		if err != nil {
			return 0, fmt.Errorf("bad number in %q", s)
		}
		total += float64(n) * unit
	}
	return time.Duration(total * float64(time.Second)), nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
