package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	crand "crypto/rand"

	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
	"github.com/vela-agent/vela-agent/watcher/ftp/ftptest"
)

var ftpScale = flag.Bool("ftp.scale", false, "run TestFTPVsftpd500 (500 files through a real vsftpd)")

// vsftpdTransfer matches a transfer line of vsftpd's own log
// (xferlog_std_format=NO): OK or FAIL, DOWNLOAD or UPLOAD, and the path.
var vsftpdTransfer = regexp.MustCompile(`\] (OK|FAIL) (DOWNLOAD|UPLOAD): Client "[^"]*", "([^"]*)"`)

// vsftpdDownloads counts the downloads vsftpd logged for each file (base
// name), those that completed and those that failed. The log is the one
// ftptest writes next to the CA file.
func vsftpdDownloads(t *testing.T, srv *ftptest.Server) (ok, failed map[string]int) {
	t.Helper()
	f, err := os.Open(filepath.Join(filepath.Dir(srv.CAFile), "vsftpd.log"))
	if err != nil {
		t.Fatalf("vsftpd log: %v", err)
	}
	defer f.Close()
	ok, failed = map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := vsftpdTransfer.FindStringSubmatch(sc.Text())
		if m == nil || m[2] != "DOWNLOAD" {
			continue
		}
		if m[1] == "OK" {
			ok[path.Base(m[3])]++
		} else {
			failed[path.Base(m[3])]++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("vsftpd log: %v", err)
	}
	return ok, failed
}

// TestFTPVsftpd500 runs the agent binary against a real vsftpd (plain FTP)
// serving 500 files in nested folders: each arrives byte-identical, is
// downloaded once, is dated by the server's modification time to the
// second, and ends in /done on the server. Run by make test-long
// (-ftp.scale).
func TestFTPVsftpd500(t *testing.T) {
	if !*ftpScale {
		t.Skip("run with -ftp.scale (make test-long)")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs vsftpd")
	}
	const n = 500
	ftp := ftptest.StartVsftpd(t, ftptest.Options{Mode: ftptest.Plain})
	srv, dir, token := startEmulator(t)
	pwFile := filepath.Join(dir, "pbx.pass")
	stateDir := filepath.Join(dir, "state")
	if err := os.WriteFile(pwFile, []byte(ftp.Password), 0o600); err != nil {
		t.Fatal(err)
	}

	// Dates spread over the last months, with seconds, so LIST's
	// minute- or day-precise dates would not do: only MDTM's.
	base := time.Now().Add(-90 * 24 * time.Hour).Truncate(time.Second).UTC()
	want := map[string]string{}  // file name -> sha256
	dated := map[string]string{} // file name -> date_of_call
	rels := map[string]string{}  // file name -> path under /calls
	var total int64
	for i := 0; i < n; i++ {
		data := make([]byte, 16<<10+mrand(384<<10))
		crand.Read(data)
		audiotest.Stamp(data)
		name := fmt.Sprintf("v_%04d.wav", i)
		rel := fmt.Sprintf("d%d/s%d/%s", i%6, i%4, name)
		mtime := base.Add(time.Duration(i)*(4*time.Hour+7*time.Second) + time.Duration(mrand(60))*time.Second)
		ftp.WriteFile(t, "calls/"+rel, data, mtime)
		sum := sha256.Sum256(data)
		want[name] = hex.EncodeToString(sum[:])
		dated[name] = meta.FormatDate(mtime)
		rels[name] = rel
		total += int64(len(data))
	}

	statusAddr := freeAddr(t)
	cfg := filepath.Join(dir, "vela-agent.yaml")
	conf := fmt.Sprintf(`api:
  base_url: %s
  org_id: org-test
  refresh_token_file: %s
  timeout: 5s
state_dir: %s
sources:
  - name: pbx
    type: ftp
    url: ftp://%s@%s/calls
    password_file: %s
    settle: 300ms
    poll_interval: 200ms
    timeout: 10s
    after_upload: move:/done
upload:
  concurrency: 4
  retry_min: 50ms
  retry_max: 500ms
status:
  listen: %s
`, srv.URL(), token, stateDir, ftp.User, ftp.Addr, pwFile, statusAddr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	finished := finishRun(t, agentRunner(t, cfg)(), statusAddr, n, 10*time.Minute)
	took := time.Since(began)
	if !finished {
		t.Fatalf("the agent did not report %d files done within 10 minutes", n)
	}

	// In S3: once each, byte-identical, under one key, dated by MDTM.
	if _, repeats := checkStored(t, srv, want, dated); repeats != 0 {
		t.Errorf("%d uploads repeated, want every file uploaded once", repeats)
	}

	// On the server: downloaded once each, all in /done, none in /calls.
	ok, failed := vsftpdDownloads(t, ftp)
	var downloads int
	for name := range want {
		downloads += ok[name]
		if ok[name] != 1 || failed[name] != 0 {
			t.Errorf("%s: downloaded %d time(s), %d failed, want once", name, ok[name], failed[name])
		}
		if _, err := os.Stat(ftp.Path("done/" + rels[name])); err != nil {
			t.Errorf("%s: not in /done on the server: %v", name, err)
		}
		if _, err := os.Stat(ftp.Path("calls/" + rels[name])); !os.IsNotExist(err) {
			t.Errorf("%s: still in /calls on the server (%v)", name, err)
		}
	}

	wantDone(t, filepath.Join(stateDir, "queue.db"), n)
	presigns, attempts := srv.Count(velatest.OpPresign), srv.Count(velatest.OpUpload)
	t.Logf("%d files (%.1f MiB) in %v: %d presigns, %d upload attempts, %d downloads logged by vsftpd (%d failed)",
		n, float64(total)/(1<<20), took.Round(100*time.Millisecond), presigns, attempts, downloads, sumCounts(failed))
}
