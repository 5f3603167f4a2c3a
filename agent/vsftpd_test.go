package agent_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/watcher/ftp/ftptest"
)

// Against Debian's vsftpd (LIST and MDTM, no MLSD), plain and with explicit
// and implicit FTPS with require_ssl_reuse on: every file arrives once,
// dated by the server's time to the second, and is moved on the server.
func TestFTPSourceVsftpd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vsftpd three times")
	}
	for _, mode := range ftptest.Modes {
		t.Run(mode.String(), func(t *testing.T) {
			srv := ftptest.StartVsftpd(t, ftptest.Options{Mode: mode})
			pwFile := filepath.Join(t.TempDir(), "pbx.pass")
			must(t, os.WriteFile(pwFile, []byte(srv.Password), 0o600))
			scheme, extra := "ftp", ""
			switch mode {
			case ftptest.Explicit:
				extra = "    tls: explicit\n"
			case ftptest.Implicit:
				scheme = "ftps"
			}
			if mode != ftptest.Plain {
				extra += fmt.Sprintf("    ca_file: %s\n    server_name: %s\n", srv.CAFile, srv.ServerName)
			}
			h := newHarness(t, harnessOptions{})
			b, err := os.ReadFile(h.cfgFile)
			must(t, err)
			src := fmt.Sprintf("  - name: pbx\n    type: ftp\n    url: %s://%s@%s/calls\n    password_file: %s\n%s    settle: 300ms\n    poll_interval: 200ms\n    timeout: 10s\n    after_upload: move:/done\n",
				scheme, srv.User, srv.Addr, pwFile, extra)
			must(t, os.WriteFile(h.cfgFile, []byte(strings.Replace(string(b), "upload:\n", src+"upload:\n", 1)), 0o600))

			recorded := time.Now().Add(-3 * time.Hour).Truncate(time.Second).UTC()
			const n = 50
			for i := 0; i < n; i++ {
				rel := fmt.Sprintf("calls/d%d/v_%02d.wav", i%4, i)
				data := audiotest.Stamp([]byte(strings.Repeat(fmt.Sprintf("vsftpd %d ", i), 300+i)))
				srv.WriteFile(t, rel, data, recorded.Add(time.Duration(i)*time.Second))
				h.mu.Lock()
				h.files[rel] = data
				h.mu.Unlock()
			}
			h.start()
			h.waitDone(n)
			h.verify()
			for _, p := range h.srv.Presigns() {
				var i int
				fmt.Sscanf(p.FileName, "v_%02d.wav", &i)
				if want := meta.FormatDate(recorded.Add(time.Duration(i) * time.Second)); p.Metadata["date_of_call"] != want {
					t.Errorf("%s: date_of_call %v, want %q (the server's time)", p.FileName, p.Metadata["date_of_call"], want)
				}
			}
			for i := 0; i < n; i++ {
				if _, err := os.Stat(srv.Path(fmt.Sprintf("done/d%d/v_%02d.wav", i%4, i))); err != nil {
					t.Errorf("v_%02d.wav not in /done on the server: %v", i, err)
				}
			}
		})
	}
}
