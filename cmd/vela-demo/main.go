// Command vela-demo shows vela-agent working end to end: it starts the
// local Vela emulator (vela-devserver) and the agent on a temporary folder,
// writes generated WAV recordings into nested folders, and reports them as
// they arrive in the emulator's storage. `make demo` runs it.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/vela-agent/vela-agent/cmd/internal/loopback"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding vela-agent and vela-devserver")
	files := flag.Int("files", 24, "how many recordings to generate")
	keep := flag.Bool("keep", false, "keep the temporary folder")
	flag.Parse()
	if err := demo(*bin, *files, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "vela-demo:", err)
		os.Exit(1)
	}
}

func demo(bin string, n int, keep bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "vela-demo-")
	if err != nil {
		return err
	}
	if keep {
		say("working folder %s (kept)", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ports, err := loopback.FreeAddrs(3)
	if err != nil {
		return err
	}
	api, s3, status := ports[0], ports[1], ports[2]
	token := filepath.Join(dir, "refresh_token")
	rec := filepath.Join(dir, "recordings")
	if err := os.MkdirAll(rec, 0o755); err != nil {
		return err
	}

	say("starting the Vela emulator on %s (S3 on %s)", api, s3)
	dev, err := start(ctx, "vela  ", filepath.Join(bin, "vela-devserver"),
		"-listen", api, "-s3-listen", s3, "-dir", filepath.Join(dir, "s3"), "-refresh-token-file", token)
	if err != nil {
		return err
	}
	defer dev.stop()
	if err := waitFor(ctx, 15*time.Second, func() bool { _, err := os.Stat(token); return err == nil && loopback.Listening(api) }); err != nil {
		return fmt.Errorf("emulator did not start: %w", err)
	}

	cfg := filepath.Join(dir, "vela-agent.yaml")
	conf := fmt.Sprintf(`# written by vela-demo
api:
  base_url: http://%s
  org_id: org-test
  refresh_token_file: %s
state_dir: %s
sources:
  - name: recordings
    path: %s
    settle: 1s
    rescan_interval: 30s
metadata:
  defaults:
    team: Support
upload:
  concurrency: 4
status:
  listen: %s
`, api, token, filepath.Join(dir, "state"), rec, status)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return err
	}
	say("configuration %s:\n%s", cfg, conf)
	if out, err := exec.CommandContext(ctx, filepath.Join(bin, "vela-agent"), "validate", "-c", cfg).CombinedOutput(); err != nil {
		return fmt.Errorf("validate: %v\n%s", err, out)
	} else {
		say("vela-agent validate: %s", out)
	}

	say("starting vela-agent")
	ag, err := start(ctx, "agent ", filepath.Join(bin, "vela-agent"), "run", "-c", cfg)
	if err != nil {
		return err
	}
	defer ag.stop()

	say("writing %d recordings into %s", n, rec)
	teams := []string{"sales", "support", "billing"}
	for i := 0; i < n; i++ {
		day := time.Now().AddDate(0, 0, -(i % 3))
		p := filepath.Join(rec, teams[i%len(teams)], day.Format("2006-01-02"), fmt.Sprintf("call_%04d.wav", i+1))
		if err := writeWAV(p, 2+i%4, 300+float64(i*20)); err != nil {
			return err
		}
		// The recorder stamps the file with when the call happened.
		when := day.Add(-time.Duration(i) * 7 * time.Minute)
		if err := os.Chtimes(p, when, when); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}

	url := "http://" + status + "/status"
	var last int
	err = waitFor(ctx, 2*time.Minute, func() bool {
		var st struct{ Counts map[string]int }
		if loopback.GetJSON(url, &st) != nil {
			return false
		}
		if d := st.Counts["done"]; d != last {
			last = d
			say("uploaded %d of %d", d, n)
		}
		return last >= n
	})
	if err != nil {
		return fmt.Errorf("waiting for the uploads: %w", err)
	}

	out, _ := exec.CommandContext(ctx, filepath.Join(bin, "vela-agent"), "status", "-c", cfg).CombinedOutput()
	say("vela-agent status:\n%s", out)
	if err := showStorage(api); err != nil {
		return err
	}
	say("all %d recordings uploaded; stopping", n)
	return nil
}

// showStorage prints what the emulator stored and the metadata it was given.
func showStorage(api string) error {
	var objects []struct {
		Key     string
		Size    int64
		SHA256  string
		Uploads int
	}
	if err := loopback.GetJSON("http://"+api+"/_emulator/objects", &objects); err != nil {
		return fmt.Errorf("list the emulator's storage: %w", err)
	}
	var presigns []struct {
		FileName string
		Key      string
		Metadata map[string]any
	}
	if err := loopback.GetJSON("http://"+api+"/_emulator/presigns", &presigns); err != nil {
		return fmt.Errorf("list the emulator's presigns: %w", err)
	}
	dates := map[string]any{}
	for _, p := range presigns {
		dates[p.Key] = p.Metadata["date_of_call"]
	}
	say("in the emulator's S3 bucket:")
	for _, o := range objects {
		fmt.Printf("  %-60s %8d bytes  sha256 %.12s…  date_of_call %v\n", o.Key, o.Size, o.SHA256, dates[o.Key])
	}
	return nil
}

func say(format string, args ...any) {
	fmt.Printf("==> "+format+"\n", args...)
}

// proc is a child process whose output is shown with a prefix.
type proc struct {
	cmd *exec.Cmd
	wg  sync.WaitGroup
}

func start(ctx context.Context, prefix, name string, args ...string) (*proc, error) {
	cmd := exec.Command(name, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w (run `make build` first)", name, err)
	}
	p := &proc{cmd: cmd}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Printf("[%s] %s\n", prefix, sc.Text())
		}
	}()
	return p, nil
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.wg.Wait(); p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(200 * time.Millisecond)
	}
	return nil
}

// writeWAV writes a mono 16-bit 8 kHz PCM WAV file of a tone.
func writeWAV(path string, seconds int, freq float64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	const rate = 8000
	samples := rate * seconds
	data := make([]byte, 44+2*samples)
	copy(data[0:], "RIFF")
	binary.LittleEndian.PutUint32(data[4:], uint32(36+2*samples))
	copy(data[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(data[16:], 16)
	binary.LittleEndian.PutUint16(data[20:], 1) // PCM
	binary.LittleEndian.PutUint16(data[22:], 1) // mono
	binary.LittleEndian.PutUint32(data[24:], rate)
	binary.LittleEndian.PutUint32(data[28:], rate*2)
	binary.LittleEndian.PutUint16(data[32:], 2)
	binary.LittleEndian.PutUint16(data[34:], 16)
	copy(data[36:], "data")
	binary.LittleEndian.PutUint32(data[40:], uint32(2*samples))
	for i := 0; i < samples; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/rate))
		binary.LittleEndian.PutUint16(data[44+2*i:], uint16(v))
	}
	// Written under a temporary name and renamed, as recorders do.
	tmp := path + ".part"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
