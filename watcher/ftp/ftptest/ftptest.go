// Package ftptest starts a real vsftpd for tests: plain FTP, explicit and
// implicit FTPS.
//
// [StartVsftpd] runs Debian's /usr/sbin/vsftpd as a child of the test with a
// generated configuration: a free port on 127.0.0.1, a small passive port
// range on loopback, one local user ([User]) chrooted to the served folder
// with write access (upload, delete, rename, mkdir), and for FTPS a
// certificate for 127.0.0.1 and localhost signed by a CA generated for the
// test process ([Server.CAPEM]). vsftpd's default require_ssl_reuse=YES stays
// on unless [Options.NoSSLReuse] says otherwise, so a client only passes when
// its data connections resume the control connection's TLS session, as real
// servers demand; [Server.TLSConfig] is a client configuration that does.
//
// What a client sees is vsftpd 3.0.3's: no MLSD or MLST (FEAT offers EPRT,
// EPSV, MDTM, PASV, REST STREAM, SIZE, TVFS and, with TLS, AUTH TLS, PBSZ,
// PROT), so listings come from LIST, whose dates are minute-precise for files
// of the last six months and day-precise for older ones; MDTM gives the
// modification time to the second. Times are UTC (use_localtime=NO).
// [Server.DropSessions] and [Server.Restart] cut connections for fault
// tests.
//
// The fixture needs Linux and root: it adds the user once per machine
// (useradd, with its own PAM service /etc/pam.d/vela-ftptest so the user
// needs no login shell) and vsftpd switches to it after login. Where vsftpd
// or root is missing the test is skipped with the reason, except under CI
// (CI=true), where it fails; on other systems it is always skipped.
package ftptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mode is how a server speaks TLS.
type Mode int

const (
	// Plain is FTP without TLS.
	Plain Mode = iota
	// Explicit is FTPS with AUTH TLS on the control connection (usually
	// port 21); logins and data connections must use TLS.
	Explicit
	// Implicit is FTPS with TLS from the first byte (usually port 990).
	Implicit
)

// Modes lists every mode, for tests that run against each.
var Modes = []Mode{Plain, Explicit, Implicit}

func (m Mode) String() string {
	switch m {
	case Plain:
		return "plain"
	case Explicit:
		return "explicit"
	case Implicit:
		return "implicit"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// The local account vsftpd logs in. It is created once per machine and its
// password is set again by every test process that starts a server.
const (
	User     = "velaftp"
	Password = "vela-ftptest-password"
)

// PassivePorts is how many loopback ports each server may use for passive
// data connections; each open data connection holds one.
var PassivePorts = 16

// StartTimeout bounds how long StartVsftpd waits for the 220 banner.
var StartTimeout = 20 * time.Second

// Options says what server to start. The zero value is a plain FTP server
// on a fresh temporary folder.
type Options struct {
	Mode Mode
	// Root is the folder served as "/", chowned to [User]. Its parent
	// folders must be traversable by that user; those inside os.TempDir()
	// are made so. Default: a new t.TempDir().
	Root string
	// NoSSLReuse sets require_ssl_reuse=NO. By default vsftpd's
	// require_ssl_reuse=YES stays on: a TLS data connection that does not
	// resume the control connection's session is refused.
	NoSSLReuse bool
}

// Server is a running vsftpd. It is stopped when the test ends.
type Server struct {
	Mode Mode
	// Addr is host:port of the control connection on 127.0.0.1.
	Addr           string
	User, Password string
	// Root is the served folder on this machine; FTP path "/" is Root.
	Root string
	// CAPEM is the CA certificate (PEM) that signed the server's
	// certificate, and CAFile a file holding it. Set in every mode.
	CAPEM  []byte
	CAFile string
	// ServerName is the name in the server certificate to verify against.
	ServerName string

	uid, gid int // of User, for files the test writes into Root

	cfg      config
	confFile string
	proc     *process // the running vsftpd; replaced by Restart
}

// TLSConfig returns a client configuration that trusts the server's CA and
// verifies ServerName, with a ClientSessionCache.
//
// Both are what vsftpd's require_ssl_reuse=YES demands of a client, and the
// agent's FTP client must set them the same way (github.com/jlaffaye/ftp
// uses its one *tls.Config for the control and every data connection): a
// data connection's handshake must resume a session the server issued, and
// crypto/tls only offers one when the config has a ClientSessionCache and
// finds a session under the same cache key, which is ServerName when set and
// the remote host:port otherwise. So:
//
//   - ClientSessionCache: without it no session is offered.
//   - ServerName: without it (and with InsecureSkipVerify, since crypto/tls
//     refuses the data connection otherwise) every passive port is a new
//     cache key and again no session is offered.
//
// vsftpd then answers "522 SSL connection failed: session reuse required"
// and ends the whole session, control connection included. Both hold for TLS
// 1.2 and 1.3 (vsftpd negotiates 1.3): the 1.3 session ticket arrives after
// the handshake and is taken in when the client next reads the control
// connection, which an FTP client always does (the reply to USER) before it
// opens a data connection. One config, and so one cache, may be shared by
// several connections to the same server: vsftpd resumes any session it
// issued, not only that of the same control connection.
func (s *Server) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPEM)
	return &tls.Config{
		RootCAs:            pool,
		ServerName:         s.ServerName,
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
		MinVersion:         tls.VersionTLS12,
	}
}

// Path returns where the FTP path name (slash-separated, relative to "/")
// lives on this machine.
func (s *Server) Path(name string) string {
	return filepath.Join(s.Root, filepath.FromSlash(strings.TrimPrefix(name, "/")))
}

// WriteFile writes a file into the served tree at the FTP path name,
// creating its folders, sets its modification time (unless zero) and gives
// the file and new folders to [User], so the server may rename and delete
// them.
func (s *Server) WriteFile(t testing.TB, name string, data []byte, mtime time.Time) {
	t.Helper()
	p := s.Path(name)
	if err := s.mkdirAll(filepath.Dir(p)); err != nil {
		t.Fatalf("ftptest: write %s: %v", name, err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("ftptest: write %s: %v", name, err)
	}
	if err := s.chown(p); err != nil {
		t.Fatalf("ftptest: write %s: %v", name, err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatalf("ftptest: write %s: %v", name, err)
		}
	}
}

// Chown gives everything under Root to [User], for trees the test wrote
// without WriteFile.
func (s *Server) Chown(t testing.TB) {
	t.Helper()
	err := filepath.WalkDir(s.Root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return s.chown(p)
	})
	if err != nil {
		t.Fatalf("ftptest: chown %s: %v", s.Root, err)
	}
}

// mkdirAll is os.MkdirAll that chowns the folders it creates.
func (s *Server) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := s.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	return s.chown(dir)
}

func (s *Server) chown(p string) error {
	if s.uid < 0 {
		return nil
	}
	return os.Lchown(p, s.uid, s.gid)
}

// ca is the certificate authority of this test process and the server
// certificate it signed, made once.
type ca struct {
	caPEM, certPEM, keyPEM []byte
}

var (
	caOnce sync.Once
	caVal  ca
	caErr  error
)

// serverName is the DNS name in the server certificate besides 127.0.0.1.
const serverName = "localhost"

func testCA() (ca, error) {
	caOnce.Do(func() { caVal, caErr = newCA() })
	return caVal, caErr
}

func newCA() (ca, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ca{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vela ftptest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return ca{}, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return ca{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return ca{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: serverName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{serverName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return ca{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ca{}, err
	}
	return ca{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// config is what a vsftpd.conf is made from.
type config struct {
	mode             Mode
	root             string
	port             int
	pasvMin, pasvMax int
	certFile         string
	keyFile          string
	logFile          string
	noSSLReuse       bool
	// banner follows "220 " and is unique, so StartVsftpd knows it
	// reached its own server and not another that won the port.
	banner string
}

// pamService is the PAM service vsftpd authenticates with: the password
// from /etc/shadow and nothing else (Debian's "vsftpd" service also demands
// a shell listed in /etc/shells, which User does not have).
const pamService = "vela-ftptest"

// secureChrootDir is the empty folder vsftpd chroots its unprivileged
// processes into; Debian's package creates it.
const secureChrootDir = "/var/run/vsftpd/empty"

// render returns the vsftpd.conf text. vsftpd rejects unknown keys and
// spaces around "=", so every line is key=value.
func (c config) render() string {
	kv := [][2]string{
		{"listen", "YES"},
		{"listen_ipv6", "NO"},
		{"listen_address", "127.0.0.1"},
		{"listen_port", fmt.Sprint(c.port)},
		{"background", "NO"},
		{"ftpd_banner", c.banner},
		{"anonymous_enable", "NO"},
		{"local_enable", "YES"},
		{"write_enable", "YES"},
		{"local_umask", "022"},
		{"local_root", c.root},
		{"chroot_local_user", "YES"},
		{"allow_writeable_chroot", "YES"},
		{"secure_chroot_dir", secureChrootDir},
		{"pam_service_name", pamService},
		{"userlist_enable", "NO"},
		{"tcp_wrappers", "NO"},
		{"use_localtime", "NO"},
		{"dirmessage_enable", "NO"},
		{"connect_from_port_20", "NO"},
		{"pasv_enable", "YES"},
		{"pasv_address", "127.0.0.1"},
		{"pasv_min_port", fmt.Sprint(c.pasvMin)},
		{"pasv_max_port", fmt.Sprint(c.pasvMax)},
		// The seccomp sandbox hardens vsftpd's own processes and is not
		// something a client can observe. Debian 12's vsftpd 3.0.3 with its
		// default seccomp_sandbox=YES kills its session processes on
		// syscalls the filter does not know: plain sessions end with
		// "500 OOPS: priv_sock_get_cmd", TLS ones before the handshake.
		{"seccomp_sandbox", "NO"},
		{"delay_failed_login", "0"},
		{"xferlog_enable", "YES"},
		{"xferlog_std_format", "NO"},
		{"log_ftp_protocol", "YES"},
		{"vsftpd_log_file", c.logFile},
	}
	if c.mode != Plain {
		kv = append(kv, [][2]string{
			{"ssl_enable", "YES"},
			{"rsa_cert_file", c.certFile},
			{"rsa_private_key_file", c.keyFile},
			{"ssl_tlsv1", "YES"},
			{"ssl_sslv2", "NO"},
			{"ssl_sslv3", "NO"},
			{"ssl_ciphers", "HIGH"},
			{"allow_anon_ssl", "NO"},
			{"force_local_logins_ssl", "YES"},
			{"force_local_data_ssl", "YES"},
			{"debug_ssl", "YES"},
		}...)
		if c.mode == Implicit {
			kv = append(kv, [2]string{"implicit_ssl", "YES"})
		}
		if c.noSSLReuse {
			kv = append(kv, [2]string{"require_ssl_reuse", "NO"})
		}
	}
	var b strings.Builder
	b.WriteString("# generated by ftptest\n")
	for _, e := range kv {
		fmt.Fprintf(&b, "%s=%s\n", e[0], e[1])
	}
	return b.String()
}

// skipOrFail skips the test with msg, or fails it under CI, which installs
// and runs everything the fixture needs.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal("ftptest: " + msg)
	}
	t.Skip("ftptest: " + msg)
}
