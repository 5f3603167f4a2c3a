package ftptest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/textproto"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/vela-agent/vela-agent/watcher/ftp/ftptest"
)

// dial connects to s in its mode with conf (nil for Plain) and logs in.
func dial(t *testing.T, s *ftptest.Server, conf *tls.Config) *ftp.ServerConn {
	t.Helper()
	opts := []ftp.DialOption{ftp.DialWithTimeout(10 * time.Second)}
	switch s.Mode {
	case ftptest.Explicit:
		opts = append(opts, ftp.DialWithExplicitTLS(conf))
	case ftptest.Implicit:
		opts = append(opts, ftp.DialWithTLS(conf))
	}
	c, err := ftp.Dial(s.Addr, opts...)
	if err != nil {
		t.Fatalf("dial %s (%s): %v", s.Addr, s.Mode, err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(s.User, s.Password); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func names(entries []*ftp.Entry) []string {
	var out []string
	for _, e := range entries {
		if e.Name != "." && e.Name != ".." {
			out = append(out, e.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestModes lists, fetches, renames, deletes and makes folders through
// github.com/jlaffaye/ftp in every mode, with require_ssl_reuse=YES for
// FTPS: the proof that the client configuration from TLSConfig works.
func TestModes(t *testing.T) {
	for _, mode := range ftptest.Modes {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s := ftptest.StartVsftpd(t, ftptest.Options{Mode: mode})
			mtime := time.Date(2024, 3, 5, 14, 7, 9, 0, time.UTC)
			rec := bytes.Repeat([]byte("RIFF....WAVEfmt "), 64<<10) // 1 MiB
			s.WriteFile(t, "calls/2024/a.wav", rec, mtime)
			s.WriteFile(t, "calls/2024/b.wav", []byte("bee"), mtime)
			s.WriteFile(t, "top.txt", nil, time.Time{})

			var conf *tls.Config
			if mode != ftptest.Plain {
				conf = s.TLSConfig()
			}
			c := dial(t, s, conf)

			entries, err := c.List("/calls/2024")
			if err != nil {
				t.Fatalf("LIST: %v", err)
			}
			if got, want := names(entries), []string{"a.wav", "b.wav"}; !slices.Equal(got, want) {
				t.Fatalf("LIST names = %v, want %v", got, want)
			}
			// vsftpd has no MLSD: LIST it is, with dates only for files
			// older than six months, and MDTM for the second.
			if c.IsTimePreciseInList() {
				t.Errorf("vsftpd offers MLSD (FEAT); the fixture's documentation says it does not")
			}
			for _, e := range entries {
				if e.Name == "a.wav" {
					if e.Size != uint64(len(rec)) {
						t.Errorf("a.wav size = %d, want %d", e.Size, len(rec))
					}
					if y, m, d := e.Time.Date(); y != 2024 || m != 3 || d != 5 {
						t.Errorf("a.wav LIST time = %v, want 2024-03-05", e.Time)
					}
				}
			}
			mdtm, err := c.GetTime("/calls/2024/b.wav")
			if err != nil {
				t.Fatalf("MDTM: %v", err)
			}
			if !mdtm.Equal(mtime) {
				t.Errorf("MDTM = %v, want %v", mdtm, mtime)
			}

			r, err := c.Retr("/calls/2024/a.wav")
			if err != nil {
				t.Fatalf("RETR: %v", err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatalf("RETR read: %v", err)
			}
			if !bytes.Equal(got, rec) {
				t.Fatalf("RETR got %d bytes, not the %d written", len(got), len(rec))
			}

			r, err = c.RetrFrom("/calls/2024/a.wav", 1000)
			if err != nil {
				t.Fatalf("REST+RETR: %v", err)
			}
			got, err = io.ReadAll(r)
			r.Close()
			if err != nil || !bytes.Equal(got, rec[1000:]) {
				t.Fatalf("REST 1000 + RETR: %d bytes, err %v; want the last %d bytes", len(got), err, len(rec)-1000)
			}

			if err := c.MakeDir("/done"); err != nil {
				t.Fatalf("MKD: %v", err)
			}
			if err := c.Rename("/calls/2024/a.wav", "/done/a.wav"); err != nil {
				t.Fatalf("RNFR/RNTO: %v", err)
			}
			if err := c.Delete("/calls/2024/b.wav"); err != nil {
				t.Fatalf("DELE: %v", err)
			}
			if err := c.Stor("/up.bin", bytes.NewReader([]byte("up"))); err != nil {
				t.Fatalf("STOR: %v", err)
			}

			entries, err = c.List("/")
			if err != nil {
				t.Fatalf("LIST /: %v", err)
			}
			if got, want := names(entries), []string{"calls", "done", "top.txt", "up.bin"}; !slices.Equal(got, want) {
				t.Errorf("LIST / = %v, want %v", got, want)
			}
			if _, err := os.Stat(s.Path("done/a.wav")); err != nil {
				t.Errorf("renamed file not in Root: %v", err)
			}
			if _, err := os.Stat(s.Path("calls/2024/b.wav")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("deleted file still in Root: %v", err)
			}
			if data, err := os.ReadFile(s.Path("up.bin")); err != nil || string(data) != "up" {
				t.Errorf("stored file in Root = %q, %v; want \"up\"", data, err)
			}
			if cwd, err := c.CurrentDir(); err != nil || cwd != "/" {
				t.Errorf("PWD = %q, %v; want / (chrooted)", cwd, err)
			}
			if _, err := c.List(path.Join("/", "..", "..")); err != nil {
				t.Errorf("LIST /../..: %v", err)
			}
		})
	}
}

// TestSessionReuse shows which client configurations pass vsftpd's
// require_ssl_reuse=YES: only those whose data connections resume the
// control connection's TLS session, which takes a ClientSessionCache and
// the same cache key (ServerName) for every connection. With NoSSLReuse
// every one passes.
func TestSessionReuse(t *testing.T) {
	tests := []struct {
		name string
		conf func(s *ftptest.Server) *tls.Config
		ok   bool // with require_ssl_reuse=YES
	}{
		{"TLSConfig", func(s *ftptest.Server) *tls.Config { return s.TLSConfig() }, true},
		{"TLSConfig/TLS1.2", func(s *ftptest.Server) *tls.Config {
			c := s.TLSConfig()
			c.MaxVersion = tls.VersionTLS12
			return c
		}, true},
		{"no ClientSessionCache", func(s *ftptest.Server) *tls.Config {
			c := s.TLSConfig()
			c.ClientSessionCache = nil
			return c
		}, false},
		{"no ClientSessionCache/TLS1.2", func(s *ftptest.Server) *tls.Config {
			c := s.TLSConfig()
			c.ClientSessionCache = nil
			c.MaxVersion = tls.VersionTLS12
			return c
		}, false},
		// Without ServerName the cache key is host:port, a new one for
		// every passive port. (crypto/tls insists on ServerName or
		// InsecureSkipVerify for the data connections jlaffaye/ftp opens,
		// so this is the insecure configuration.)
		{"no ServerName", func(s *ftptest.Server) *tls.Config {
			c := s.TLSConfig()
			c.ServerName = ""
			c.InsecureSkipVerify = true
			return c
		}, false},
	}
	for _, mode := range []ftptest.Mode{ftptest.Explicit, ftptest.Implicit} {
		for _, noReuse := range []bool{false, true} {
			name := mode.String() + "/require_ssl_reuse=YES"
			if noReuse {
				name = mode.String() + "/require_ssl_reuse=NO"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := ftptest.StartVsftpd(t, ftptest.Options{Mode: mode, NoSSLReuse: noReuse})
				s.WriteFile(t, "a.wav", []byte("data"), time.Time{})
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						c := dial(t, s, tt.conf(s))
						_, err := c.List("/")
						if err == nil {
							r, rerr := c.Retr("/a.wav")
							if rerr == nil {
								_, rerr = io.ReadAll(r)
								r.Close()
							}
							err = rerr
						}
						if tt.ok || noReuse {
							if err != nil {
								t.Fatalf("LIST and RETR: %v", err)
							}
							return
						}
						if err == nil {
							t.Fatal("LIST succeeded; want vsftpd to refuse the data connection")
						}
						var perr *textproto.Error
						if !errors.As(err, &perr) || !strings.Contains(perr.Msg, "session reuse required") {
							t.Errorf("refusal %v does not say \"session reuse required\"", err)
						}
					})
				}
			})
		}
	}
}

// TestSharedTLSConfig checks that connections sharing one TLSConfig, and so
// one session cache in which each handshake replaces the last one's session,
// still pass require_ssl_reuse: vsftpd resumes any session it issued, not
// only the one of the same control connection.
func TestSharedTLSConfig(t *testing.T) {
	for _, mode := range []ftptest.Mode{ftptest.Explicit, ftptest.Implicit} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			s := ftptest.StartVsftpd(t, ftptest.Options{Mode: mode})
			s.WriteFile(t, "a.wav", []byte("data"), time.Time{})
			conf := s.TLSConfig()
			a := dial(t, s, conf)
			b := dial(t, s, conf) // its session replaces a's in the cache
			for i, c := range []*ftp.ServerConn{a, b, a, b} {
				if _, err := c.List("/"); err != nil {
					t.Fatalf("LIST %d: %v", i, err)
				}
			}
		})
	}
}

// TestUntrusted checks that a client without the CA refuses the server.
func TestUntrusted(t *testing.T) {
	s := ftptest.StartVsftpd(t, ftptest.Options{Mode: ftptest.Implicit})
	_, err := ftp.Dial(s.Addr, ftp.DialWithTimeout(5*time.Second),
		ftp.DialWithTLS(&tls.Config{ServerName: s.ServerName}))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("dial without the CA: %v; want an unknown authority error", err)
	}
}

// TestLoginRefused checks that a wrong password is refused with 530.
func TestLoginRefused(t *testing.T) {
	s := ftptest.StartVsftpd(t, ftptest.Options{})
	c, err := ftp.Dial(s.Addr, ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	err = c.Login(s.User, "wrong")
	var perr *textproto.Error
	if !errors.As(err, &perr) || perr.Code != ftp.StatusNotLoggedIn {
		t.Fatalf("login with a wrong password: %v; want 530", err)
	}
}

// TestDropSessions checks that dropped sessions fail their next command
// while new ones are served.
func TestDropSessions(t *testing.T) {
	s := ftptest.StartVsftpd(t, ftptest.Options{Mode: ftptest.Explicit})
	s.WriteFile(t, "a.wav", bytes.Repeat([]byte{1}, 4<<20), time.Time{})
	c := dial(t, s, s.TLSConfig())
	r, err := c.Retr("/a.wav")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	s.DropSessions(t)
	if n, err := io.Copy(io.Discard, r); err == nil && n == 4<<20-1000 {
		t.Error("RETR went on after the sessions were dropped")
	}
	r.Close()
	if _, err := c.List("/"); err == nil {
		t.Error("LIST on a dropped session succeeded")
	}
	c = dial(t, s, s.TLSConfig())
	if _, err := c.List("/"); err != nil {
		t.Errorf("LIST on a new session: %v", err)
	}
}

// TestRestart checks that a restarted server serves the same files on the
// same address, and that sessions from before are gone.
func TestRestart(t *testing.T) {
	s := ftptest.StartVsftpd(t, ftptest.Options{})
	s.WriteFile(t, "a.wav", []byte("data"), time.Time{})
	c := dial(t, s, nil)
	s.Restart(t)
	if _, err := c.List("/"); err == nil {
		t.Error("LIST on a session from before the restart succeeded")
	}
	c = dial(t, s, nil)
	entries, err := c.List("/")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(entries); !slices.Equal(got, []string{"a.wav"}) {
		t.Errorf("LIST after restart = %v", got)
	}
}

// TestRoot checks that a Root given in Options, not yet existing and
// below a test's private temporary folder, is served.
func TestRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "served", "recordings")
	s := ftptest.StartVsftpd(t, ftptest.Options{Root: root})
	if s.Root != root {
		t.Errorf("Root = %s, want %s", s.Root, root)
	}
	if err := os.MkdirAll(filepath.Join(root, "in", "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "in", "deep", "x.wav"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Chown(t)
	c := dial(t, s, nil)
	if err := c.Delete("/in/deep/x.wav"); err != nil {
		t.Fatalf("DELE of a file written without WriteFile, after Chown: %v", err)
	}
	if err := c.RemoveDir("/in/deep"); err != nil {
		t.Fatalf("RMD: %v", err)
	}
}
