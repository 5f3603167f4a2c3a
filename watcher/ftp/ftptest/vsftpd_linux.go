//go:build linux

package ftptest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the vsftpd that StartVsftpd runs.
var Binary = "/usr/sbin/vsftpd"

// StartVsftpd starts vsftpd as o describes and stops it when the test
// ends. It skips the test with the reason when vsftpd is not installed or
// the test does not run as root, and fails it instead under CI (CI=true).
func StartVsftpd(t testing.TB, o Options) *Server {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		skipOrFail(t, "vsftpd not installed: apt-get install -y vsftpd")
	}
	if os.Geteuid() != 0 {
		skipOrFail(t, "vsftpd tests need root (to add the FTP user and let vsftpd switch to it)")
	}
	if err := setupUser(); err != nil {
		t.Fatalf("ftptest: %v", err)
	}
	u, err := user.Lookup(User)
	if err != nil {
		t.Fatalf("ftptest: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	pki, err := testCA()
	if err != nil {
		t.Fatalf("ftptest: generate certificates: %v", err)
	}

	s := &Server{
		Mode:       o.Mode,
		User:       User,
		Password:   Password,
		Root:       o.Root,
		CAPEM:      pki.caPEM,
		ServerName: serverName,
		uid:        uid,
		gid:        gid,
	}
	if s.Root == "" {
		s.Root = t.TempDir()
	}
	if s.Root, err = filepath.Abs(s.Root); err != nil {
		t.Fatalf("ftptest: %v", err)
	}
	if err := os.MkdirAll(s.Root, 0o755); err != nil {
		t.Fatalf("ftptest: %v", err)
	}
	if err := os.Chown(s.Root, uid, gid); err != nil {
		t.Fatalf("ftptest: %v", err)
	}
	if err := makeTraversable(s.Root); err != nil {
		t.Fatalf("ftptest: %v", err)
	}
	if err := os.MkdirAll(secureChrootDir, 0o755); err != nil {
		t.Fatalf("ftptest: %v", err)
	}

	dir := t.TempDir() // root only: configuration, key, log
	s.CAFile = filepath.Join(dir, "ca.pem")
	files := map[string][]byte{
		s.CAFile:                         pki.caPEM,
		filepath.Join(dir, "server.pem"): pki.certPEM,
		filepath.Join(dir, "server.key"): pki.keyPEM,
	}
	for name, data := range files {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatalf("ftptest: %v", err)
		}
	}
	cfg := config{
		mode:       o.Mode,
		root:       s.Root,
		certFile:   filepath.Join(dir, "server.pem"),
		keyFile:    filepath.Join(dir, "server.key"),
		logFile:    filepath.Join(dir, "vsftpd.log"),
		noSSLReuse: o.NoSSLReuse,
	}

	// A port found free may be taken again before vsftpd binds it: then
	// vsftpd exits at once (status 2, saying nothing) and other ports are
	// tried. A configuration vsftpd refuses fails every attempt alike.
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if cfg.port, err = freePort(); err != nil {
			t.Fatalf("ftptest: %v", err)
		}
		if cfg.pasvMin, err = freePortRange(PassivePorts); err != nil {
			t.Fatalf("ftptest: %v", err)
		}
		cfg.pasvMax = cfg.pasvMin + PassivePorts - 1
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.port))
		cfg.banner = fmt.Sprintf("vsftpd ftptest %s %016x", s.Mode, rand.Uint64())
		p, err := startProcess(filepath.Join(dir, "vsftpd.conf"), cfg, s)
		if err == nil {
			s.proc = p
			break
		}
		lastErr = err
		var exited errExited
		if !errors.As(err, &exited) {
			break
		}
	}
	if s.proc == nil {
		t.Fatalf("ftptest: start vsftpd: %v", lastErr)
	}
	t.Cleanup(func() {
		s.proc.stop()
		if t.Failed() {
			out, _ := os.ReadFile(cfg.logFile)
			t.Logf("vsftpd on %s (%s) output:\n%s%s", s.Addr, s.Mode, s.proc.output.String(), out)
		}
	})
	s.cfg = cfg
	s.confFile = filepath.Join(dir, "vsftpd.conf")
	return s
}

// Restart stops vsftpd, which drops every session, and starts it again on
// the same ports with the same configuration.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.proc.stop()
	p, err := startProcess(s.confFile, s.cfg, s)
	if err != nil {
		t.Fatalf("ftptest: restart vsftpd: %v", err)
	}
	s.proc = p
}

// DropSessions cuts every open connection, control and data, the way a
// network failure would, and leaves the server accepting new ones.
func (s *Server) DropSessions(t testing.TB) {
	t.Helper()
	s.proc.dropSessions()
}

// process is one running vsftpd and the sessions it forked.
type process struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd.Wait returned, after waitErr is set
	waitErr error
	output  *lockedBuffer // vsftpd's stdout and stderr
	once    sync.Once
}

// stop kills vsftpd's sessions and then the listener, and waits for it.
func (p *process) stop() {
	p.once.Do(func() {
		p.dropSessions()
		p.cmd.Process.Kill()
		<-p.exited
	})
}

// dropSessions kills every process the listener forked. Each session is a
// process session (setsid) of its own, so only ancestry finds them. The
// innermost processes are killed first and each parent left to reap its
// child and exit, as vsftpd's do, up to the listener: killing a parent
// first would hand its children to init, which in a container may never
// reap them.
func (p *process) dropSessions() {
	pid := p.cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		procs := descendants(pid)
		if len(procs) == 0 {
			return
		}
		late := time.Now().After(deadline)
		for _, pr := range procs {
			if late || (pr.leaf && !pr.zombie) {
				syscall.Kill(pr.pid, syscall.SIGKILL)
			}
		}
		if late {
			return
		}
		select {
		case <-p.exited:
			return
		case <-tick.C:
		}
	}
}

// proc is a process found below the listener.
type proc struct {
	pid          int
	leaf, zombie bool // without children; exited but not reaped
}

// descendants returns the processes below pid, from /proc.
func descendants(pid int) []proc {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	zombie := map[int]bool{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], n)
			zombie[n] = fields[0] == "Z"
		}
	}
	var out []proc
	queue := children[pid]
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		out = append(out, proc{pid: c, leaf: len(children[c]) == 0, zombie: zombie[c]})
		queue = append(queue, children[c]...)
	}
	return out
}

// errExited is vsftpd ending before it answered.
type errExited struct {
	err error  // from Wait
	out string // what vsftpd wrote
}

func (e errExited) Error() string {
	return fmt.Sprintf("vsftpd exited (%v) before answering: %q", e.err, e.out)
}

// startProcess writes the configuration and runs vsftpd until it sends its
// 220 banner on s.Addr.
func startProcess(confFile string, cfg config, s *Server) (*process, error) {
	if err := os.WriteFile(confFile, []byte(cfg.render()), 0o600); err != nil {
		return nil, err
	}
	p := &process{
		cmd:    exec.Command(Binary, confFile),
		exited: make(chan struct{}),
		output: &lockedBuffer{},
	}
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()

	deadline := time.Now().Add(StartTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := probe(s, cfg.banner)
		if err == nil {
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, errExited{p.waitErr, strings.TrimSpace(p.output.String())}
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("no 220 banner on %s after %v: %v; output: %s", s.Addr, StartTimeout, err, p.output.String())
		}
	}
}

// probe connects to the server and reads its banner.
func probe(s *Server, banner string) error {
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if s.Mode == Implicit {
		tc := tls.Client(conn, s.TLSConfig())
		if err := tc.Handshake(); err != nil {
			return err
		}
		conn = tc
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if want := "220 " + banner; strings.TrimSpace(line) != want {
		return fmt.Errorf("banner %q, want %q", strings.TrimSpace(line), want)
	}
	return nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freePortRange returns the first of n consecutive ports on 127.0.0.1
// that were all free a moment ago. Ranges are drawn at random below the
// kernel's ephemeral range (32768 and up on Linux), where ports given out
// for outgoing connections and ":0" listeners do not land.
func freePortRange(n int) (int, error) {
	const lo, hi = 20000, 32000
	for try := 0; try < 100; try++ {
		base := lo + rand.IntN(hi-lo-n)
		var lns []net.Listener
		ok := true
		for port := base; port < base+n; port++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports on 127.0.0.1 between %d and %d", n, lo, hi)
}

// makeTraversable lets every user pass through the folders above dir that
// lie inside os.TempDir() (t.TempDir() makes them 0700), so vsftpd, which
// enters the served folder as User, can reach it. Folders elsewhere are
// left alone and must already be traversable.
func makeTraversable(dir string) error {
	tmp, err := filepath.Abs(os.TempDir())
	if err != nil {
		return err
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		inTmp := d == tmp || strings.HasPrefix(d, tmp+string(filepath.Separator))
		if fi.Mode().Perm()&0o001 == 0 {
			if !inTmp {
				return fmt.Errorf("serve %s: %s is not traversable by other users; choose a root under %s or chmod o+x %s", dir, d, tmp, d)
			}
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return err
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

var (
	userOnce sync.Once
	userErr  error
)

// setupUser makes sure the FTP user and its PAM service exist and the
// user's password is Password, once per test process. Other test
// processes (one per package under go test ./...) may do the same at the
// same time, so the work is done under an exclusive lock on a file.
func setupUser() error {
	userOnce.Do(func() { userErr = doSetupUser() })
	return userErr
}

// pamConfig checks the password against /etc/shadow; "nodelay" keeps a
// refused login from waiting two seconds.
const pamConfig = `# Written by the vela-agent tests (watcher/ftp/ftptest) for their vsftpd.
auth	required	pam_unix.so nodelay
account	required	pam_unix.so
session	required	pam_permit.so
`

// userHome is the FTP user's home. vsftpd enters it before local_root, so
// it must exist; the session then lives in local_root.
const userHome = "/"

func doSetupUser() error {
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "vela-ftptest.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("lock user setup: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock user setup: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	if u, err := user.Lookup(User); err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return fmt.Errorf("look up user %s: %w", User, err)
		}
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", userHome, "--shell", "/usr/sbin/nologin",
			"--comment", "vela-agent FTP tests", User).CombinedOutput()
		if err != nil {
			return fmt.Errorf("add user %s: %v: %s", User, err, bytes.TrimSpace(out))
		}
	} else if u.HomeDir != userHome {
		out, err := exec.Command("usermod", "--home", userHome, User).CombinedOutput()
		if err != nil {
			return fmt.Errorf("set home of user %s: %v: %s", User, err, bytes.TrimSpace(out))
		}
	}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(User + ":" + Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("set password of %s: %v: %s", User, err, bytes.TrimSpace(out))
	}
	pamFile := filepath.Join("/etc/pam.d", pamService)
	if old, err := os.ReadFile(pamFile); err != nil || string(old) != pamConfig {
		tmp := pamFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(pamConfig), 0o644); err != nil {
			return fmt.Errorf("write PAM service: %w", err)
		}
		if err := os.Rename(tmp, pamFile); err != nil {
			return fmt.Errorf("write PAM service: %w", err)
		}
	}
	return nil
}

// lockedBuffer is a bytes.Buffer safe for vsftpd's output goroutines and
// the test reading it.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
