package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
	"github.com/vela-agent/vela-agent/cmd/internal/loopback"
	"github.com/vela-agent/vela-agent/watcher"
	"github.com/vela-agent/vela-agent/watcher/ftp"
	"github.com/vela-agent/vela-agent/watcher/ftp/ftptest"
)

// Targets of the FTP scenario.
const (
	// targetFTPPipeline: curl's download time ÷ the agent's whole
	// FTP-to-storage time, at least.
	targetFTPPipeline = 0.8
	// targetFTPRSSFlat: the agent's peak RSS with the big files ÷ its
	// peak RSS with the small ones, at most ("flat in file size").
	targetFTPRSSFlat = 1.25
)

// The link-bound pipeline row: each FTP session's data crosses a link of
// ftpRate bytes per second (see ftpLink), so that the FTP link, not the
// upload to the local emulator, is the bottleneck, as on a real network;
// the agent runs with ftpRatedConns connections, one listing and one
// downloading, so that it, like curl, has one data transfer at a time.
const (
	ftpRate       = 50e6
	ftpRatedConns = 2
)

// ftpSettle is the FTP source's settle and poll interval in the pipeline
// runs: small, so that the time is the transfers'.
const ftpSettle = 100 * time.Millisecond

// ftpScenario measures the FTP source against curl on the same vsftpd: a
// listing of many files, and the whole pipeline (download, stage, upload)
// of files of two sizes.
func (b *bench) ftpScenario(sec *section) error {
	sec.title = "FTP: vsftpd to storage"
	curl, err := exec.LookPath("curl")
	if err != nil {
		return fmt.Errorf("curl, the baseline, is not installed (apt-get install -y curl): %w", err)
	}
	root, err := b.mkdir("ftp", "root")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	sizes := []byteSize{b.o.ftpSize, b.o.ftpSmallSize}
	began := time.Now()
	listDir := filepath.Join(root, "list")
	if err := writeFlat(listDir, b.o.ftpList); err != nil {
		return err
	}
	for _, size := range sizes {
		dir := filepath.Join(root, sizeDir(size))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := writeFiles(dir, b.o.ftpFiles, int64(size)); err != nil {
			return err
		}
	}
	b.say("wrote %d small files and %d files of each of %v, %v in %v", b.o.ftpList, b.o.ftpFiles, sizes[0], sizes[1], time.Since(began).Round(time.Millisecond))
	srv, stop, err := b.startVsftpd("ftp", root)
	if err != nil {
		return err
	}
	defer stop()
	b.say("vsftpd on %s serving %s", srv.Addr, root)

	if err := b.ftpList(sec, srv, curl); err != nil {
		return err
	}
	rss := map[byteSize]int64{}
	for _, size := range sizes {
		r, err := b.ftpPipeline(sec, srv, curl, size)
		if err != nil {
			return err
		}
		rss[size] = r
	}
	big, small := rss[sizes[0]], rss[sizes[1]]
	met := "unknown"
	if big > 0 && small > 0 {
		met = yesNo(float64(big) <= targetFTPRSSFlat*float64(small))
	}
	sec.rows = append(sec.rows, row{
		scenario: fmt.Sprintf("FTP pipeline: peak RSS, %s files of %s", count(b.o.ftpFiles), sizes[0]),
		agent:    megabytes(big),
		baseline: fmt.Sprintf("%s (the agent, files of %s)", megabytes(small), sizes[1]),
		ratio:    ratio(float64(big), float64(small)),
		target:   fmt.Sprintf("≤ %.2f × baseline (flat in file size)", targetFTPRSSFlat),
		met:      met,
	})
	sec.notes = append(sec.notes,
		fmt.Sprintf("One vsftpd (Debian's `/usr/sbin/vsftpd`, started as `watcher/ftp/ftptest` starts it for the FTP tests: plain FTP on 127.0.0.1, LIST only, MDTM for times to the second, passive mode) serves, from the page cache: "+
			"a folder of %s files of about 40 bytes, and one folder each of %s files of %s and of %s (one random MiB repeated, each file's number at its start). Baseline: curl %s, in the same run, on the same server.",
			count(b.o.ftpList), count(b.o.ftpFiles), sizes[0], sizes[1], curlVersion(curl)),
		fmt.Sprintf("The RSS row compares the agent's peak RSS (median) moving files of %s with the same agent moving as many files of %s: memory that grows with file size would show there. "+
			"The target of %.2f× is the bench's reading of \"flat\".", sizes[0], sizes[1], targetFTPRSSFlat),
	)
	return b.ftpRated(sec, srv, curl)
}

// sizeDir is the served folder of the pipeline's files of size.
func sizeDir(size byteSize) string { return "files-" + strings.ReplaceAll(size.String(), " ", "") }

// writeFlat writes n small files into dir, named call_0000001.wav...
func writeFlat(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		data := audiotest.Stamp(fmt.Appendf(make([]byte, audiotest.HeaderLen), "vela-bench listing file %07d\n", i))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("call_%07d.wav", i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func curlVersion(curl string) string {
	out, err := exec.Command(curl, "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	f := strings.Fields(line)
	if len(f) >= 2 {
		return f[1]
	}
	return "(version unknown)"
}

// ftpList times watcher/ftp's polls of the listing folder in this process
// against `curl` listing it, alternately.
func (b *bench) ftpList(sec *section, srv *ftptest.Server, curl string) error {
	n := b.o.ftpList
	url := "ftp://" + srv.Addr + "/list/"
	var first, offer, base []time.Duration
	for i := 1; i <= b.o.runs; i++ {
		runDir, err := b.mkdir("ftp", fmt.Sprintf("list-curl-%d", i))
		if err != nil {
			return err
		}
		out := filepath.Join(runDir, "listing")
		p, err := b.start("curl list", filepath.Join(runDir, "curl.log"), true,
			curl, "-sS", "--user", srv.User+":"+srv.Password, "-o", out, url)
		if err != nil {
			return err
		}
		u, err := p.wait(b.ctx, b.o.timeout)
		if err != nil {
			return err
		}
		if got, err := countLines(out); err != nil || got != n {
			return fmt.Errorf("curl listed %d lines (%v), want %d", got, err, n)
		}
		os.RemoveAll(runDir)
		base = append(base, u.wall)
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("curl LIST, run %d", i), u: u, figure: seconds(u.wall) + " to list"})

		f, all, err := b.ftpPollOnce(srv, n)
		if err != nil {
			return err
		}
		first, offer = append(first, f), append(offer, all)
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("watcher/ftp in-process, run %d", i), u: usage{wall: all},
			figure: fmt.Sprintf("first poll %s, all offered after %s", seconds(f), seconds(all))})
		b.say("ftp list run %d: curl %v, first poll %v, all offered %v", i, u.wall.Round(time.Millisecond), f.Round(time.Millisecond), all.Round(time.Millisecond))
	}
	c := median(base)
	sec.rows = append(sec.rows,
		row{
			scenario: fmt.Sprintf("FTP: list %s files (the source's first poll)", count(n)),
			agent:    seconds(median(first)),
			baseline: seconds(c) + " (curl LIST)",
			ratio:    ratio(median(first).Seconds(), c.Seconds()),
			target:   "(time, reported)",
			met:      "",
		},
		row{
			scenario: fmt.Sprintf("FTP: list and offer %s files (two polls, an MDTM each)", count(n)),
			agent:    seconds(median(offer)),
			baseline: seconds(c) + " (curl LIST)",
			ratio:    ratio(median(offer).Seconds(), c.Seconds()),
			target:   "(time, reported)",
			met:      "",
		},
	)
	sec.notes = append(sec.notes,
		fmt.Sprintf("Listing: watcher/ftp's Source (the agent's FTP poller) runs in the bench process on the listing folder with `settle` 1 ns and `poll_interval` 1 ms. "+
			"\"First poll\" is its first poll's time as its own Stats report it (connect, login, LIST and parsing of %s entries); "+
			"\"offer\" is the time from Run until all %s files were handed over, which takes a second poll and, since vsftpd's LIST times are minute-precise, one MDTM per file. "+
			"Baseline: `curl -sS --user … -o FILE ftp://…/list/` (a LIST, the command the source uses; `--list-only` would send NLST, which carries no sizes or times), as a process of its own, so its time includes its start. "+
			"curl and the poller alternate, %d run(s) each; the median is reported.", count(n), count(n), b.o.runs),
	)
	return nil
}

// ftpPollOnce runs a fresh Source on the listing folder until it offered
// n files. It returns its first poll's time and the time until all were
// offered.
func (b *bench) ftpPollOnce(srv *ftptest.Server, n int) (first, all time.Duration, err error) {
	src, err := ftp.New(ftp.Options{
		Name: sourceName, Addr: srv.Addr, User: srv.User, Password: srv.Password, Dir: "/list",
		Settle: time.Nanosecond, PollInterval: time.Millisecond, Timeout: time.Minute,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(b.ctx, b.o.timeout)
	defer cancel()
	found := make(chan []watcher.File, 4)
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- src.Run(ctx, found) }()
	got := 0
	for got < n {
		select {
		case batch := <-found:
			got += len(batch)
		case err := <-done:
			return 0, 0, fmt.Errorf("the FTP source stopped after offering %d of %d files: %v (problem: %s)", got, n, err, src.Problem())
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("the FTP source offered %d of %d files in %v (problem: %s)", got, n, b.o.timeout, src.Problem())
		}
	}
	all = time.Since(began)
	st := src.Stats()
	cancel()
	<-done
	if st.Scans < 2 {
		return 0, 0, fmt.Errorf("the FTP source offered its files after %d poll(s), want 2", st.Scans)
	}
	// ScanTime sums the polls; the last one offered the files.
	first = (st.ScanTime - st.LastScanDuration) / time.Duration(st.Scans-1)
	return first, all, nil
}

// countLines counts the lines of a file.
func countLines(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(data), "\n"), nil
}

// ftpPipeline times `vela-agent run` taking every file of one size from
// vsftpd into the devserver's storage against curl downloading the same
// files, alternately. It returns the agent's median peak RSS.
func (b *bench) ftpPipeline(sec *section, srv *ftptest.Server, curl string, size byteSize) (int64, error) {
	n := b.o.ftpFiles
	folder := sizeDir(size)
	total := int64(n) * int64(size)
	var agentT, curlT []time.Duration
	var rss, curlRSS []int64
	for i := 1; i <= b.o.runs; i++ {
		u, err := b.ftpCurlRun(srv, srv.Addr, true, curl, folder, n, i)
		if err != nil {
			return 0, err
		}
		curlT, curlRSS = append(curlT, u.wall), append(curlRSS, u.maxRSS)
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("curl, %s × %s, run %d", count(n), size, i), u: u,
			figure: fmt.Sprintf("%.1f MB/s", megabytesPerSecond(total, u.wall))})

		d, au, err := b.ftpAgentRun(srv, srv.Addr, folder, n, total, i, b.o.ftpConns)
		if err != nil {
			return 0, err
		}
		agentT, rss = append(agentT, d), append(rss, au.maxRSS)
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-agent run, %s × %s, run %d", count(n), size, i), u: au,
			figure: fmt.Sprintf("%.1f MB/s (%s until all done)", megabytesPerSecond(total, d), seconds(d))})
		b.say("ftp pipeline %v run %d: curl %v, agent %v (peak RSS %s)", size, i, u.wall.Round(time.Millisecond), d.Round(time.Millisecond), megabytes(au.maxRSS))
	}
	a, c := median(agentT), median(curlT)
	cOverA := ratio(c.Seconds(), a.Seconds())
	sec.rows = append(sec.rows, row{
		scenario: fmt.Sprintf("FTP pipeline: %s files of %s, vsftpd → storage", count(n), size),
		agent:    fmt.Sprintf("%s, %.1f MB/s (curl ÷ agent %.2f)", seconds(a), megabytesPerSecond(total, a), cOverA),
		baseline: fmt.Sprintf("%s, %.1f MB/s (curl download only)", seconds(c), megabytesPerSecond(total, c)),
		ratio:    ratio(a.Seconds(), c.Seconds()),
		target:   fmt.Sprintf("curl ÷ agent ≥ %.1f", targetFTPPipeline),
		met:      yesNo(cOverA >= targetFTPPipeline),
	})
	sec.notes = append(sec.notes,
		fmt.Sprintf("Pipeline, %s files of %s: each agent run starts a fresh `vela-devserver` (objects in memory) and then `vela-agent run` with a fresh `state_dir`, `upload.concurrency: %d` and one `type: ftp` source on the folder "+
			"(`settle` and `poll_interval` %v, `max_connections` %d); the time is from the agent's start until `/status` (polled every 50 ms) counts all %s jobs done: "+
			"two polls, a download of each file into the spool with its SHA-256, presigns, uploads, and the bench then checks the devserver stored every byte. "+
			"Baseline: one `curl -sS -K FILE` process downloading the same %s files on one control connection to `/dev/null` (the download alone, nothing written), in active mode (`--ftp-port 127.0.0.1`): "+
			"on this machine a passive-mode data connection to vsftpd now and then waits one SYN retransmission (1 s) to connect, which made curl's passive runs of 200 files take from 0.3 s to over 40 s; in active mode the server connects and no run stalls. "+
			"The agent uses passive mode (EPSV), as it must through firewalls, and its time includes any such stall. "+
			"curl's median peak RSS: %s. They alternate, %d run(s) each; the median is reported.",
			count(n), size, b.o.concurrency, ftpSettle, b.o.ftpConns, count(n), count(n), megabytes(median(curlRSS)), b.o.runs),
	)
	return median(rss), nil
}

// ftpRated times the pipeline of the big files against curl through an
// ftpLink of ftpRate in front of srv: where the FTP link is the
// bottleneck, the agent's whole pipeline should take about as long as
// curl's download alone.
func (b *bench) ftpRated(sec *section, srv *ftptest.Server, curl string) error {
	size, n := b.o.ftpSize, b.o.ftpFiles
	folder := sizeDir(size)
	total := int64(n) * int64(size)
	link, err := startLink(srv.Addr, ftpRate)
	if err != nil {
		return err
	}
	defer link.close()
	rate := byteSize(ftpRate).String() + "/s"
	b.say("FTP link of %s on %s in front of vsftpd on %s", rate, link.addr, srv.Addr)
	var agentT, curlT []time.Duration
	var rss []int64
	for i := 1; i <= b.o.runs; i++ {
		u, err := b.ftpCurlRun(srv, link.addr, true, curl, folder, n, i)
		if err != nil {
			return err
		}
		curlT = append(curlT, u.wall)
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("curl over %s, %s × %s, run %d", rate, count(n), size, i), u: u,
			figure: fmt.Sprintf("%.1f MB/s", megabytesPerSecond(total, u.wall))})
		d, au, err := b.ftpAgentRun(srv, link.addr, folder, n, total, i, ftpRatedConns)
		if err != nil {
			return err
		}
		agentT, rss = append(agentT, d), append(rss, au.maxRSS)
		sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-agent run over %s, %s × %s, run %d", rate, count(n), size, i), u: au,
			figure: fmt.Sprintf("%.1f MB/s (%s until all done)", megabytesPerSecond(total, d), seconds(d))})
		b.say("ftp pipeline over %s, %v, run %d: curl %v, agent %v (peak RSS %s)", rate, size, i, u.wall.Round(time.Millisecond), d.Round(time.Millisecond), megabytes(au.maxRSS))
	}
	a, c := median(agentT), median(curlT)
	cOverA := ratio(c.Seconds(), a.Seconds())
	sec.rows = append(sec.rows, row{
		scenario: fmt.Sprintf("FTP pipeline over a %s link: %s files of %s, vsftpd → storage", rate, count(n), size),
		agent:    fmt.Sprintf("%s, %.1f MB/s, peak RSS %s (curl ÷ agent %.2f)", seconds(a), megabytesPerSecond(total, a), megabytes(median(rss)), cOverA),
		baseline: fmt.Sprintf("%s, %.1f MB/s (curl download only)", seconds(c), megabytesPerSecond(total, c)),
		ratio:    ratio(a.Seconds(), c.Seconds()),
		target:   fmt.Sprintf("curl ÷ agent ≥ %.1f", targetFTPPipeline),
		met:      yesNo(cOverA >= targetFTPPipeline),
	})
	sec.notes = append(sec.notes,
		fmt.Sprintf("Pipeline over a %s link: on loopback the upload to the local emulator, not FTP, bounds the pipeline rows above; in this row the FTP link is the bottleneck, as on a real network. "+
			"The bench relays the FTP sessions to the same vsftpd through a link of its own (`cmd/vela-bench/ftplink.go`): control connections as they are but for the data addresses, and each data connection, passive or active, with the server's bytes paced to %s per session (a transfer that falls behind by up to %v, when the relay is scheduled late, catches up). "+
			"vsftpd's `local_max_rate` is no such link on loopback: it sleeps after each 64 KiB for a pause computed from that one send, in an unsigned int that overflows above 4 GiB/s, and never makes up a late wake-up; capped at 50 MB/s on a busy machine, one client got from 8 to 50 MB/s of it and curl up to 80. "+
			"curl fetches the %s files of %s as above, in one process on one session in active mode, through the link, one data connection at a time; the agent runs as above with `max_connections: %d` (one connection lists, one downloads, in passive mode), so it too has one data transfer at a time. "+
			"The time is again from the agent's start until all jobs are done, presigns and uploads included. They alternate, %d run(s) each; the medians are reported, the agent's peak RSS among them.",
			rate, rate, linkLag, count(n), size, ftpRatedConns, b.o.runs),
	)
	return nil
}

// ftpCurlRun downloads the folder's n files from addr (srv's, or a link's
// in front of it) with one curl process, in active mode when active.
func (b *bench) ftpCurlRun(srv *ftptest.Server, addr string, active bool, curl, folder string, n, i int) (usage, error) {
	runDir, err := b.mkdir("ftp", fmt.Sprintf("%s-curl-%d", folder, i))
	if err != nil {
		return usage{}, err
	}
	defer os.RemoveAll(runDir)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "user = %q\n", srv.User+":"+srv.Password)
	if active { // PORT: see the note in ftpPipeline
		cfg.WriteString("ftp-port = \"127.0.0.1\"\n")
	}
	for j := 1; j <= n; j++ {
		fmt.Fprintf(&cfg, "url = \"ftp://%s/%s/call_%06d.wav\"\noutput = \"/dev/null\"\n", addr, folder, j)
	}
	cfgFile := filepath.Join(runDir, "curl.conf")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		return usage{}, err
	}
	p, err := b.start("curl", filepath.Join(runDir, "curl.log"), true, curl, "-sS", "-K", cfgFile)
	if err != nil {
		return usage{}, err
	}
	return p.wait(b.ctx, b.o.timeout)
}

// ftpAgentRun runs `vela-agent run` on the folder of srv at addr (srv's,
// or a link's in front of it), with conns as the source's
// max_connections, until all n jobs are done and returns the time that
// took.
func (b *bench) ftpAgentRun(srv *ftptest.Server, addr, folder string, n int, total int64, i, conns int) (time.Duration, usage, error) {
	runDir, err := b.mkdir("ftp", fmt.Sprintf("%s-agent-%d", folder, i))
	if err != nil {
		return 0, usage{}, err
	}
	defer func() {
		os.RemoveAll(runDir)
		syncDisks()
	}()
	dev, err := b.startDevserver(runDir, "-max-file-size", strconv.FormatInt(maxFileSize, 10))
	if err != nil {
		return 0, usage{}, err
	}
	defer dev.stop()
	ports, err := loopback.FreeAddrs(1)
	if err != nil {
		return 0, usage{}, err
	}
	pwFile := filepath.Join(runDir, "ftp.pass")
	if err := os.WriteFile(pwFile, []byte(srv.Password+"\n"), 0o600); err != nil {
		return 0, usage{}, err
	}
	cfg := filepath.Join(runDir, "vela-agent.yaml")
	keys := fmt.Sprintf("    type: ftp\n    url: \"ftp://%s@%s/%s\"\n    password_file: %q\n    settle: %s\n    poll_interval: %s\n    max_connections: %d\n",
		srv.User, addr, folder, pwFile, ftpSettle, ftpSettle, conns)
	if err := b.writeAgentConfig(cfg, agentConfig{dev: dev, stateDir: filepath.Join(runDir, "state"), status: ports[0], keys: keys}); err != nil {
		return 0, usage{}, err
	}
	p, err := b.start("vela-agent run", filepath.Join(runDir, "agent.log"), true, exe(b.o.bin, "vela-agent"), "run", "-c", cfg)
	if err != nil {
		return 0, usage{}, err
	}
	at, perr := b.pollDone(p, ports[0], n, 50*time.Millisecond, b.o.timeout)
	u, err := p.stop(30 * time.Second)
	if perr != nil {
		return 0, u, perr
	}
	if err != nil {
		return 0, u, err
	}
	if err := dev.checkStored(n, total); err != nil {
		return 0, u, fmt.Errorf("ftp agent run %d: %w", i, err)
	}
	return at.Sub(p.started), u, nil
}

// pollDone polls the agent's status every interval until it counts want
// jobs done, and returns when that was.
func (b *bench) pollDone(p *proc, addr string, want int, interval, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var last map[string]int
	var lastErr error
	for {
		var st struct{ Counts map[string]int }
		lastErr = loopback.GetJSON("http://"+addr+"/status", &st)
		if lastErr == nil {
			if st.Counts["done"] >= want {
				return time.Now(), nil
			}
			last = st.Counts
		}
		switch {
		case b.ctx.Err() != nil:
			return time.Time{}, b.ctx.Err()
		case !p.running():
			return time.Time{}, fmt.Errorf("%s exited; its output ends:\n%s", p.name, tail(p.log.Name(), 15))
		case time.Now().After(deadline):
			return time.Time{}, fmt.Errorf("%s: after %v its status counts %v, want %d done (last error: %v); its output ends:\n%s",
				p.name, timeout, last, want, lastErr, tail(p.log.Name(), 15))
		}
		time.Sleep(interval)
	}
}
