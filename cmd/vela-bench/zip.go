package main

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/vela-agent/vela-agent/cmd/internal/loopback"
)

// Targets of scenario zip, from the issue that asked for it.
const (
	// targetZip: the ZIP's throughput ÷ the same recordings' as loose
	// files, at least (loose time ÷ ZIP time).
	targetZip = 0.9
	// targetZipRSSFlat: the agent's peak RSS with the big ZIP minus its
	// peak RSS with a quarter of it, at most, in bytes ("flat in ZIP
	// size").
	targetZipRSSFlat = 5e6
)

// zipName is the name of the scenario's ZIP in its folder.
const zipName = "batch.zip"

// zipScenario times `vela-agent run` expanding and uploading a bulk ZIP of
// recordings against the same recordings as loose files, and compares its
// peak RSS with the same agent's on a ZIP of a quarter of the recordings.
func (b *bench) zipScenario(sec *section) error {
	n, size := b.o.zipFiles, int64(b.o.zipFileSize)
	k := n / 4
	sec.title = fmt.Sprintf("Bulk ZIP of %s recordings of %s", count(n), b.o.zipFileSize)
	loose, err := b.mkdir("zip", "loose")
	if err != nil {
		return err
	}
	defer os.RemoveAll(loose)
	big, err := b.mkdir("zip", "big")
	if err != nil {
		return err
	}
	defer os.RemoveAll(big)
	small, err := b.mkdir("zip", "quarter")
	if err != nil {
		return err
	}
	defer os.RemoveAll(small)

	began := time.Now()
	if err := writeFiles(loose, n, size); err != nil {
		return err
	}
	csv, rows := manifestCSV(n)
	if err := os.WriteFile(filepath.Join(loose, "metadata.csv"), csv, 0o644); err != nil {
		return err
	}
	sums, err := writeZip(filepath.Join(big, zipName), loose, n)
	if err != nil {
		return err
	}
	if _, err := writeZip(filepath.Join(small, zipName), loose, k); err != nil {
		return err
	}
	_, smallRows := manifestCSV(k)
	bigZip, smallZip := fileSize(filepath.Join(big, zipName)), fileSize(filepath.Join(small, zipName))
	b.say("wrote %d recordings of %v and a manifest, a ZIP of them (%s) and a ZIP of %d of them (%s) in %v",
		n, b.o.zipFileSize, megabytes(bigZip), k, megabytes(smallZip), time.Since(began).Round(time.Millisecond))
	debug.FreeOSMemory() // what writing the ZIPs allocated is not to be inherited by the processes started next

	sides := []struct {
		name, what, dir string
		files           int
		isZip           bool
		rows            map[string]manifestRow
	}{
		{"loose", "loose files", loose, n, false, rows},
		{"zip", "the ZIP", big, n, true, rows},
		{"quarter", fmt.Sprintf("a ZIP of %s", count(k)), small, k, true, smallRows},
	}
	var looseT, zipT, zipRecT []time.Duration
	var looseCPU, zipCPU []time.Duration
	var looseRSS, zipRSS, smallRSS []int64
	runs := b.o.zipRuns
	for i := 1; i <= runs; i++ {
		for _, s := range sides {
			all, recs, u, err := b.zipRun(s.name, s.dir, s.files, s.isZip, s.rows, sums, i)
			if err != nil {
				return err
			}
			total := int64(s.files) * size
			figure := fmt.Sprintf("%s until all done, %.1f MB/s", seconds(all), megabytesPerSecond(total, all))
			if s.isZip {
				figure += fmt.Sprintf("; recordings all done at %s", seconds(recs))
			}
			switch s.name {
			case "loose":
				looseT, looseCPU, looseRSS = append(looseT, all), append(looseCPU, u.cpu), append(looseRSS, u.maxRSS)
			case "zip":
				zipT, zipRecT, zipCPU, zipRSS = append(zipT, all), append(zipRecT, recs), append(zipCPU, u.cpu), append(zipRSS, u.maxRSS)
			default:
				smallRSS = append(smallRSS, u.maxRSS)
			}
			sec.runs = append(sec.runs, runRecord{what: fmt.Sprintf("vela-agent run, %s, run %d", s.what, i), u: u, figure: figure})
			b.say("zip run %d, %s: %s, CPU %v, peak RSS %s", i, s.what, figure, u.cpu.Round(time.Millisecond), megabytes(u.maxRSS))
		}
	}

	total := int64(n) * size
	lt, zt, zr := median(looseT), median(zipT), median(zipRecT)
	lmb, zmb, zrmb := megabytesPerSecond(total, lt), megabytesPerSecond(total, zt), megabytesPerSecond(total, zr)
	bigR, smallR := median(zipRSS), median(smallRSS)
	flat := "unknown"
	if bigR > 0 && smallR > 0 {
		flat = yesNo(float64(bigR-smallR) <= targetZipRSSFlat)
	}
	what := fmt.Sprintf("%s recordings of %s", count(n), b.o.zipFileSize)
	sec.rows = append(sec.rows,
		row{
			scenario: fmt.Sprintf("bulk ZIP of %s (%s): expand and upload, until the ZIP is done", what, megabytes(bigZip)),
			agent:    fmt.Sprintf("%s, %.1f MB/s", seconds(zt), zmb),
			baseline: fmt.Sprintf("%s, %.1f MB/s (loose files)", seconds(lt), lmb),
			ratio:    ratio(zmb, lmb),
			target:   fmt.Sprintf("≥ %.1f × baseline", targetZip),
			met:      yesNo(zmb >= targetZip*lmb),
		},
		row{
			scenario: fmt.Sprintf("bulk ZIP of %s: until its recordings are done", what),
			agent:    fmt.Sprintf("%s, %.1f MB/s", seconds(zr), zrmb),
			baseline: fmt.Sprintf("%s, %.1f MB/s (loose files)", seconds(lt), lmb),
			ratio:    ratio(zrmb, lmb),
			target:   "(reported)",
		},
		row{
			scenario: fmt.Sprintf("bulk ZIP of %s: CPU time", what),
			agent:    seconds(median(zipCPU)),
			baseline: seconds(median(looseCPU)) + " (loose files)",
			ratio:    ratio(median(zipCPU).Seconds(), median(looseCPU).Seconds()),
			target:   "(reported)",
		},
		row{
			scenario: fmt.Sprintf("bulk ZIP of %s: peak RSS", what),
			agent:    megabytes(bigR),
			baseline: fmt.Sprintf("%s (the agent, a ZIP of %s of them)", megabytes(smallR), count(k)),
			ratio:    ratio(float64(bigR), float64(smallR)),
			target:   fmt.Sprintf("≤ baseline + %g MB (flat in ZIP size)", targetZipRSSFlat/1e6),
			met:      flat,
		},
	)
	sec.notes = append(sec.notes,
		fmt.Sprintf("%s WAV recordings of %s (one random MiB repeated, a WAV header and each file's number at its start) and a `metadata.csv` of %s rows (%s) naming them in shuffled order, in one folder; "+
			"the same recordings and manifest in one ZIP (`%s`, %s; odd-numbered recordings stored, even-numbered ones and the manifest deflated at `flate.BestSpeed`, written by `archive/zip` with data descriptors) alone in a second folder; "+
			"and the first %s of them with their own manifest in a ZIP of %s in a third. The files and ZIPs are read from the page cache; the agent streams each recording out of its ZIP into its upload, nothing copied to disk.",
			count(n), b.o.zipFileSize, count(n), megabytes(int64(len(csv))), zipName, megabytes(bigZip), count(k), megabytes(smallZip)),
		fmt.Sprintf("Each run starts a fresh `vela-devserver` (objects in memory) and `vela-agent run` with one source on one folder (`settle: %v`), a fresh `state_dir` and `upload.concurrency: %d`. "+
			"The time is from the process's start until `/status` (polled every 50 ms) counts every job done: for the loose folder the calls and the manifest's job, for a ZIP its recordings and the ZIP's own job; then SIGTERM. "+
			"A ZIP's own job looks for unfinished recordings again on a timer, sooner the fewer are left (`awaitZip` in `agent/zips.go`), so it is done a little after its last recording: "+
			"the second row is the time until the recordings of the ZIP were all done, without that wait. Throughput is the recordings' bytes (%s) ÷ that time. "+
			"Loose folder, ZIP and quarter ZIP alternate, %d run(s) each (`-zip-runs`); the median is reported.",
			b.o.settle, b.o.concurrency, megabytes(total), runs),
		"After each run the bench checks that the devserver stored every recording once, each with the SHA-256 of the bench's file of that name, and that every presign carried its own manifest row's `agent_name` and `team`.",
		fmt.Sprintf("The RSS row compares the agent's peak RSS (median) on the ZIP of %s recordings with the same agent's on the ZIP of %s: memory that grows with the ZIP would show there. "+
			"The target of %g MB more is the bench's reading of \"flat\".", count(n), count(k), targetZipRSSFlat/1e6),
	)
	return nil
}

// zipRun runs `vela-agent run` on dir until every job is done and returns
// how long that took, how long until the recordings alone were done (when
// dir holds a ZIP; else the same) and what the agent used. It checks that
// the devserver stored the n recordings, each with its sum from sums, and
// that each was described by its row in rows.
func (b *bench) zipRun(name, dir string, n int, isZip bool, rows map[string]manifestRow, sums map[string]recording, i int) (all, recs time.Duration, u usage, err error) {
	runDir, err := b.mkdir("zip", fmt.Sprintf("%s-%d", name, i))
	if err != nil {
		return 0, 0, usage{}, err
	}
	defer func() {
		os.RemoveAll(runDir)
		syncDisks()
	}()
	dev, err := b.startDevserver(runDir, "-max-file-size", strconv.FormatInt(maxFileSize, 10))
	if err != nil {
		return 0, 0, usage{}, err
	}
	defer dev.stop()
	ports, err := loopback.FreeAddrs(1)
	if err != nil {
		return 0, 0, usage{}, err
	}
	cfg := filepath.Join(runDir, "vela-agent.yaml")
	err = b.writeAgentConfig(cfg, agentConfig{dev: dev, stateDir: filepath.Join(runDir, "state"), source: dir, settle: b.o.settle, status: ports[0]})
	if err != nil {
		return 0, 0, usage{}, err
	}
	p, err := b.start("vela-agent run", filepath.Join(runDir, "agent.log"), true, exe(b.o.bin, "vela-agent"), "run", "-c", cfg)
	if err != nil {
		return 0, 0, usage{}, err
	}
	// The loose folder's manifest is a job, done long before the last
	// call; a ZIP's job is done only after all its recordings are.
	var recsAt time.Time
	var perr error
	if isZip {
		recsAt, perr = b.pollAllDone(p, ports[0], n, 50*time.Millisecond, b.o.timeout)
	}
	var allAt time.Time
	if perr == nil {
		allAt, perr = b.pollAllDone(p, ports[0], n+1, 50*time.Millisecond, b.o.timeout)
	}
	u, err = p.stop(30 * time.Second)
	switch {
	case perr != nil:
		return 0, 0, u, perr
	case err != nil:
		return 0, 0, u, err
	}
	if !isZip {
		recsAt = allAt
	}
	if err := dev.checkStored(n, recordingsSize(sums, n)); err != nil {
		return 0, 0, u, fmt.Errorf("zip %s run %d: %w", name, i, err)
	}
	if err := dev.checkDescribed(n, rows); err != nil {
		return 0, 0, u, fmt.Errorf("zip %s run %d: %w", name, i, err)
	}
	if err := dev.checkSums(n, sums); err != nil {
		return 0, 0, u, fmt.Errorf("zip %s run %d: %w", name, i, err)
	}
	return allAt.Sub(p.started), recsAt.Sub(p.started), u, nil
}

// recording is what the bench knows of one recording it wrote.
type recording struct {
	size int64
	sum  string // SHA-256, hex
}

// recordingsSize returns the bytes of recordings 1 to n.
func recordingsSize(recs map[string]recording, n int) int64 {
	var total int64
	for i := 1; i <= n; i++ {
		total += recs[callName(i)].size
	}
	return total
}

// writeZip writes a bulk ZIP to path of recordings 1 to n of dir (as
// writeFiles names them) and a metadata.csv naming them (manifestCSV),
// and returns each recording's size and SHA-256. The odd-numbered
// recordings are stored, the even-numbered ones and the manifest
// deflated.
func writeZip(path, dir string, n int) (map[string]recording, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	recs, err := writeZipTo(f, dir, n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return recs, nil
}

// writeZipTo writes writeZip's ZIP to f.
func writeZipTo(f io.Writer, dir string, n int) (map[string]recording, error) {
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	modified := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	csv, _ := manifestCSV(n)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "metadata.csv", Method: zip.Deflate, Modified: modified})
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(csv); err != nil {
		return nil, err
	}
	recs := make(map[string]recording, n)
	for i := 1; i <= n; i++ {
		name := callName(i)
		method := zip.Store
		if i%2 == 0 {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: modified})
		if err != nil {
			return nil, err
		}
		size, sum, err := copyHashed(w, filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		recs[name] = recording{size: size, sum: sum}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return recs, bw.Flush()
}

// copyHashed copies the file at path to w and returns its size and
// SHA-256.
func copyHashed(w io.Writer, path string) (int64, string, error) {
	in, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer in.Close()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(w, h), in)
	if err != nil {
		return 0, "", err
	}
	return size, hex.EncodeToString(h.Sum(nil)), nil
}

// fileSize returns the size of the file at path, or 0.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// checkSums checks that the devserver stored, under the key it presigned
// for each of recordings 1 to n, that recording's bytes, and nothing else.
func (d *devserver) checkSums(n int, recs map[string]recording) error {
	var objs []struct {
		Key    string
		SHA256 string
	}
	if err := loopback.GetJSON("http://"+d.api+"/_emulator/objects", &objs); err != nil {
		return fmt.Errorf("list the devserver's objects: %w", err)
	}
	var presigns []struct{ FileName, Key string }
	if err := loopback.GetJSON("http://"+d.api+"/_emulator/presigns", &presigns); err != nil {
		return fmt.Errorf("list the devserver's presigns: %w", err)
	}
	stored := make(map[string]string, len(objs))
	for _, o := range objs {
		stored[o.Key] = o.SHA256
	}
	if len(stored) != n || len(presigns) != n {
		return fmt.Errorf("the devserver holds %d objects and was asked for %d presigns, want %d of each", len(stored), len(presigns), n)
	}
	seen := make(map[string]bool, n)
	for _, p := range presigns {
		name := path.Base(p.FileName)
		want, ok := recs[name]
		switch {
		case !ok || seen[name]:
			return fmt.Errorf("the devserver was asked to presign %q, which is not one of the recordings or was presigned twice", p.FileName)
		case stored[p.Key] == "":
			return fmt.Errorf("%s: nothing is stored under its key %q", name, p.Key)
		case stored[p.Key] != want.sum:
			return fmt.Errorf("%s: the object stored under %q has SHA-256 %s, want %s", name, p.Key, stored[p.Key], want.sum)
		}
		seen[name] = true
	}
	for i := 1; i <= n; i++ {
		if !seen[callName(i)] {
			return fmt.Errorf("%s was never presigned", callName(i))
		}
	}
	return nil
}
