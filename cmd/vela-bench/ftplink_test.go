package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"
	"goftp.io/server/v2"
	"goftp.io/server/v2/driver/file"
)

func TestPassiveAddr(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{"229 Entering Extended Passive Mode (|||40123|)\r\n", "127.0.0.1:40123", true},
		{"227 Entering Passive Mode (127,0,0,1,156,187).\r\n", "127.0.0.1:40123", true},
		{"227 Entering Passive Mode (10,0,0,9,0,21)\r\n", "10.0.0.9:21", true},
		{"229 Entering Extended Passive Mode (|||70000|)\r\n", "", false},
		{"229 Entering Extended Passive Mode (||40123)\r\n", "", false},
		{"227 Entering Passive Mode (127,0,0,1,256,1)\r\n", "", false},
		{"227 Entering Passive Mode (127,0,0,1,1)\r\n", "", false},
		{"227 Entering Passive Mode )(\r\n", "", false},
		{"227 ok\r\n", "", false},
	} {
		got, err := passiveAddr(tc.line, "127.0.0.1")
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("passiveAddr(%q) = %q, %v; want %q, ok %v", tc.line, got, err, tc.want, tc.ok)
		}
	}
}

func TestActiveAddr(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{"PORT 127,0,0,1,156,187\r\n", "127.0.0.1:40123", true},
		{"port 10,0,0,9,0,21\r\n", "10.0.0.9:21", true},
		{"EPRT |1|127.0.0.1|40123|\r\n", "127.0.0.1:40123", true},
		{"EPRT |2|::1|40123|\r\n", "[::1]:40123", true},
		{"EPRT !1!127.0.0.1!21!\r\n", "127.0.0.1:21", true},
		{"EPRT |3|127.0.0.1|21|\r\n", "", false},
		{"EPRT |1|nowhere|21|\r\n", "", false},
		{"EPRT |1|127.0.0.1|99999|\r\n", "", false},
		{"EPRT |\r\n", "", false},
		{"PORT 127,0,0,1,300,1\r\n", "", false},
		{"PORT\r\n", "", false},
	} {
		got, err := activeAddr(tc.line)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("activeAddr(%q) = %q, %v; want %q, ok %v", tc.line, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzDataAddr checks that no reply or command line makes the link's
// address parsers panic or give something that is not host:port.
func FuzzDataAddr(f *testing.F) {
	f.Add("229 Entering Extended Passive Mode (|||40123|)")
	f.Add("227 Entering Passive Mode (127,0,0,1,156,187).")
	f.Add("PORT 127,0,0,1,156,187")
	f.Add("EPRT |2|::1|40123|")
	f.Fuzz(func(t *testing.T, line string) {
		for _, parse := range []func(string) (string, error){
			func(s string) (string, error) { return passiveAddr(s, "127.0.0.1") },
			activeAddr,
		} {
			addr, err := parse(line)
			if err != nil {
				continue
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				t.Fatalf("%q gave %q: %v", line, addr, err)
			}
		}
	})
}

// linkServer starts an embedded FTP server (user u, password p) serving
// a.wav, 2 MB, and returns its address and the file.
func linkServer(t *testing.T) (string, []byte) {
	t.Helper()
	root := t.TempDir()
	data := bytes.Repeat([]byte("vela link "), 200_000) // 2 MB
	if err := os.WriteFile(filepath.Join(root, "a.wav"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	log.SetOutput(io.Discard) // the file driver logs misses
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	drv, err := file.NewDriver(root)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(&server.Options{
		Driver: drv, Auth: &server.SimpleAuth{Name: "u", Password: "p"},
		Perm: server.NewSimplePerm("u", "u"), Hostname: "127.0.0.1", Logger: &server.DiscardLogger{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), data
}

// TestLink fetches a file through a link of 8 MB/s from an embedded FTP
// server with EPSV and with PASV: the bytes arrive whole, and no faster
// than the link carries them.
func TestLink(t *testing.T) {
	addr, data := linkServer(t)
	const rate = 8e6
	link, err := startLink(addr, rate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.close)
	c, err := jftp.Dial(link.addr, jftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Quit() }() // the last connection
	if err := c.Login("u", "p"); err != nil {
		t.Fatal(err)
	}
	for _, epsv := range []bool{true, false} {
		start := time.Now()
		r, err := c.Retr("/a.wav")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if cerr := r.Close(); err == nil {
			err = cerr
		}
		took := time.Since(start)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("RETR through the link: %d bytes of %d, %v", len(got), len(data), err)
		}
		if least := time.Duration(float64(len(data))/rate*float64(time.Second)) - linkLag; took < least {
			t.Errorf("%d bytes in %v over a link of %v B/s, want at least %v", len(data), took, rate, least)
		}
		t.Logf("%d bytes in %v (EPSV %v)", len(data), took, epsv)
		if epsv {
			_ = c.Quit()
			if c, err = jftp.Dial(link.addr, jftp.DialWithTimeout(10*time.Second), jftp.DialWithDisabledEPSV(true)); err != nil {
				t.Fatal(err)
			}
			if err := c.Login("u", "p"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLinkCurl fetches files through a link with curl in passive and in
// active mode.
func TestLinkCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	addr, data := linkServer(t)
	const rate = 8e6
	link, err := startLink(addr, rate)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.close)
	for _, mode := range [][]string{{"--ftp-pasv"}, {"--ftp-port", "127.0.0.1"}, {"--ftp-port", "127.0.0.1", "--disable-eprt"}} {
		out := filepath.Join(t.TempDir(), "a.wav")
		start := time.Now()
		args := append([]string{"-sS", "--user", "u:p", "-o", out}, mode...)
		if msg, err := exec.Command(curl, append(args, "ftp://"+link.addr+"/a.wav")...).CombinedOutput(); err != nil {
			t.Fatalf("curl %v: %v: %s", mode, err, msg)
		}
		took := time.Since(start)
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("curl %v: %d bytes of %d, %v", mode, len(got), len(data), err)
		}
		if least := time.Duration(float64(len(data))/rate*float64(time.Second)) - linkLag; took < least {
			t.Errorf("curl %v: %d bytes in %v over a link of %v B/s, want at least %v", mode, len(data), took, rate, least)
		}
	}
}
