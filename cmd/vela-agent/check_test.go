package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

func TestCheckCommand(t *testing.T) {
	t.Run("good", func(t *testing.T) {
		e := newEnv(t, velatest.Options{})
		e.writeToken(t)
		code, out := run(t, "check", "-c", e.cfg)
		if code != 0 {
			t.Fatalf("exit code %d, want 0; output:\n%s", code, out)
		}
		for _, p := range []string{
			`api\s+credential\s+ok\s+refresh token read from .*`,
			`api\s+token\s+ok\s+.*`,
			`api\s+organisation\s+ok\s+organisation org-test exists.*`,
			`calls\s+folder\s+ok\s+.*`,
			`calls\s+list\s+ok\s+.*`,
			`all 8 steps passed`,
		} {
			if !regexpLine(out, p) {
				t.Errorf("no line %q in:\n%s", p, out)
			}
		}
		if strings.Contains(out, e.srv.RefreshToken()) {
			t.Errorf("the refresh token is shown:\n%s", out)
		}
	})
	t.Run("failures", func(t *testing.T) {
		e := newEnv(t, velatest.Options{})
		// No refresh token file, a missing folder with an escape sequence
		// in its name, and an FTP server that is not there.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		pw := filepath.Join(e.dir, "pbx.pass")
		if err := os.WriteFile(pw, []byte("secret-pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		conf := strings.Replace(string(b), "    path: "+e.in+"\n",
			"    path: \""+filepath.ToSlash(e.in)+"\\e[31mred\"\n"+
				"  - name: pbx\n    type: ftp\n    url: ftp://rec@"+addr+"/\n    password_file: "+pw+"\n    timeout: 5s\n", 1)
		if err := os.WriteFile(e.cfg, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out := run(t, "check", "-c", e.cfg)
		if code != 1 {
			t.Fatalf("exit code %d, want 1; output:\n%s", code, out)
		}
		for _, p := range []string{
			`api\s+credential\s+FAILED\s+.*vela-agent login.*`,
			`calls\s+folder\s+FAILED\s+.*\\x1b\[31mred does not exist`,
			`pbx\s+tcp\s+FAILED\s+server unreachable at ` + addr + `.*`,
			`3 of \d+ steps FAILED`,
		} {
			if !regexpLine(out, p) {
				t.Errorf("no line %q in:\n%s", p, out)
			}
		}
		if strings.Contains(out, "\x1b") || strings.Contains(out, "secret-pw") {
			t.Errorf("raw escape or password in output:\n%q", out)
		}
	})
}
