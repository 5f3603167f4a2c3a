package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/vela"
)

// CheckResult is one step of [Check]: what was tried, whether it worked,
// and what was found or what is wrong, in plain words. Details never hold
// a secret.
type CheckResult struct {
	// Source is the configured source's name, or "api" for the Vela API.
	Source string
	// Step is "credential", "token" or "organisation" for the API;
	// "folder", "list" or "write" for a local source; "dns", "tcp", "tls",
	// "login" or "list" for an FTP source; "config" when the source's
	// settings cannot even be used (a missing password file).
	Step   string
	OK     bool
	Detail string
}

// APICheck is the Source of the API's check results, StateCheck of the
// state directory's.
const (
	APICheck   = "api"
	StateCheck = "state"
)

// maxClockSkew is the largest difference between this machine's clock and
// the API's that check lets pass: presigned policies carry their expiry,
// and a skewed clock makes them look expired or not yet valid.
var maxClockSkew = 2 * time.Minute

// minStateFree is the least free space check wants under state_dir: the
// state file grows, and the spool holds whole recordings.
var minStateFree uint64 = 1 << 30

// localCheckTimeout is the deadline of each step of a local source's
// check: a folder on a hung network share does not stall the check.
var localCheckTimeout = 30 * time.Second

// Check tries what the agent needs, without changing anything that
// stays: the API credential can be read and, for a refresh token,
// exchanged for an access token, and the organisation exists; each local
// folder exists, can be listed and, when files are deleted or moved after
// upload, written to; each FTP server can be resolved, reached, spoken to
// over TLS when configured, logged in to and listed. The checks of the
// API and of each source run concurrently; within one, the steps stop at
// the first that fails. Results come API first, then the sources in the
// configuration's order.
func Check(ctx context.Context, cfg *config.Config) []CheckResult {
	parts := make([][]CheckResult, 2+len(cfg.Sources))
	var wg sync.WaitGroup
	wg.Go(func() { parts[0] = checkAPI(ctx, cfg) })
	wg.Go(func() { parts[1] = checkState(ctx, cfg) })
	for i, sc := range cfg.Sources {
		wg.Go(func() {
			if sc.IsFTP() {
				parts[i+2] = checkFTP(ctx, sc)
			} else {
				parts[i+2] = checkLocal(ctx, sc)
			}
		})
	}
	wg.Wait()
	var res []CheckResult
	for _, p := range parts {
		res = append(res, p...)
	}
	return res
}

// CheckFailed reports whether any of res failed.
func CheckFailed(res []CheckResult) bool {
	for _, r := range res {
		if !r.OK {
			return true
		}
	}
	return false
}

// checkAPI reads the credential, then asks for the organisation, which
// exchanges a refresh token for an access token first.
func checkAPI(ctx context.Context, cfg *config.Config) []CheckResult {
	var res []CheckResult
	add := func(step string, ok bool, detail string) {
		res = append(res, CheckResult{Source: APICheck, Step: step, OK: ok, Detail: detail})
	}
	kind, _, err := cfg.API.Credentials()
	if err != nil {
		add("credential", false, err.Error())
		return res
	}
	add("credential", true, credentialSource(cfg.API))

	client, err := vela.New(VelaConfig(cfg, slog.New(slog.DiscardHandler)))
	if err != nil {
		add("token", false, err.Error())
		return res
	}
	timeout := cfg.API.Timeout.D()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	// A refresh, the request and, after a 401, a second refresh and
	// request: each bounded by the client's timeout.
	ctx, cancel := context.WithTimeout(ctx, 4*timeout)
	defer cancel()
	org, err := client.Organisation(ctx)

	var ve *vela.Error
	errors.As(err, &ve)
	switch {
	case ve != nil && (ve.Op == "refresh token" || ve.Op == "read credential"):
		add("token", false, "cannot get an access token from "+cfg.API.BaseURL+": "+ve.Error())
		return res
	case ve != nil && ve.Status == http.StatusUnauthorized:
		add("token", false, "the access token was refused: "+ve.Error())
		return res
	case kind == config.RefreshToken:
		add("token", true, "refresh token exchanged for an access token at "+cfg.API.BaseURL)
	default:
		add("token", true, "an access token is configured; it is used as it is")
	}
	if err != nil {
		add("organisation", false, err.Error())
		return res
	}
	detail := fmt.Sprintf("organisation %s exists: %.0f of %.0f minutes left this month", cfg.API.OrgID,
		org.MinutesLeft(), org.MonthlyAllocatedDuration)
	switch {
	case !org.Active:
		detail += "; it is not activated, so Vela refuses calls for now"
	case !org.AcceptsCalls():
		detail += "; its minutes are used up, so Vela refuses calls for now"
	}
	add("organisation", true, detail)
	if skew, ok := clockSkew(ctx, cfg.API.BaseURL, timeout); ok {
		switch d := skew.Round(time.Second); {
		case skew > maxClockSkew || skew < -maxClockSkew:
			add("clock", false, fmt.Sprintf("this machine's clock is %v off the API's: presigned uploads fail with a clock that far off; set the time (NTP)", d))
		default:
			add("clock", true, fmt.Sprintf("within %v of the API's", max(d, -d)))
		}
	}
	return res
}

// clockSkew is how far this machine's clock is ahead of the API's (read
// from its Date header; a second's precision), if it answers with one.
func clockSkew(ctx context.Context, baseURL string, timeout time.Duration) (time.Duration, bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, baseURL, nil)
	if err != nil {
		return 0, false
	}
	sent := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	resp.Body.Close()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return 0, false
	}
	mid := sent.Add(time.Since(sent) / 2)
	return mid.Sub(date) - 500*time.Millisecond, true // Date is truncated to the second
}

// checkState checks that the state directory can be written and has room.
func checkState(ctx context.Context, cfg *config.Config) []CheckResult {
	var res []CheckResult
	dir := cfg.StateDir
	detail, err := withDeadline(ctx, localCheckTimeout, func() (string, error) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("cannot create %s: %v", dir, pathErr(err))
		}
		if err := tryWrite(dir); err != nil {
			return "", err
		}
		return dir + " can be written", nil
	})
	res = append(res, CheckResult{Source: StateCheck, Step: "write", OK: err == nil, Detail: errOr(err, detail)})
	if err != nil {
		return res
	}
	if free, err := freeBytes(dir); err == nil {
		ok := free >= minStateFree
		d := fmt.Sprintf("%.1f GB free under %s", float64(free)/1e9, dir)
		if !ok {
			d += fmt.Sprintf(": keep at least %.1f GB free for the state file and the spool", float64(minStateFree)/1e9)
		}
		res = append(res, CheckResult{Source: StateCheck, Step: "space", OK: ok, Detail: d})
	}
	return res
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

// credentialSource says where the API credential was read from.
func credentialSource(a config.API) string {
	switch {
	case a.Token != "":
		return "access token read from api.token"
	case a.TokenFile != "":
		return "access token read from " + a.TokenFile
	case a.RefreshToken != "":
		return "refresh token read from api.refresh_token"
	}
	return "refresh token read from " + a.RefreshTokenFile
}

// checkFTP runs the FTP source's own check on a connection of its own.
func checkFTP(ctx context.Context, sc config.Source) []CheckResult {
	s, err := newFTPSource(sc, slog.New(slog.DiscardHandler))
	if err != nil {
		return []CheckResult{{Source: sc.Name, Step: "config", Detail: err.Error()}}
	}
	var res []CheckResult
	for _, r := range s.p.Check(ctx) {
		if r.Step == "tls" && r.OK && sc.TLSInsecureSkipVerify {
			r.Detail = "encrypted, but the certificate is NOT checked (tls_insecure_skip_verify): anyone on the network path can read the recordings and the password"
		}
		res = append(res, CheckResult{Source: sc.Name, Step: r.Step, OK: r.OK, Detail: r.Detail})
	}
	return res
}

// checkLocal checks a local folder: it exists and is a folder, it can be
// listed, and, when after_upload deletes or moves, files can be created in
// it (and in the move folder).
func checkLocal(ctx context.Context, sc config.Source) []CheckResult {
	var res []CheckResult
	step := func(name string, f func() (string, error)) bool {
		detail, err := withDeadline(ctx, localCheckTimeout, f)
		if err != nil {
			res = append(res, CheckResult{Source: sc.Name, Step: name, Detail: err.Error()})
			return false
		}
		res = append(res, CheckResult{Source: sc.Name, Step: name, OK: true, Detail: detail})
		return true
	}
	dir := sc.Path
	ok := step("folder", func() (string, error) {
		fi, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("%s does not exist", dir)
		case errors.Is(err, fs.ErrPermission):
			return "", fmt.Errorf("%s cannot be reached: permission denied", dir)
		case err != nil:
			return "", fmt.Errorf("%s: %v", dir, pathErr(err))
		case !fi.IsDir():
			return "", fmt.Errorf("%s is not a folder", dir)
		}
		return dir + " is a folder", nil
	}) && step("list", func() (string, error) {
		f, err := os.Open(dir)
		if err != nil {
			return "", fmt.Errorf("cannot open %s: %v", dir, pathErr(err))
		}
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			return "", fmt.Errorf("cannot list %s: %v", dir, pathErr(err))
		}
		return fmt.Sprintf("%s lists %d entries", dir, len(names)), nil
	})
	if !ok {
		return res
	}
	switch {
	case sc.AfterUpload == "delete":
		step("write", func() (string, error) {
			if err := tryWrite(dir); err != nil {
				return "", fmt.Errorf("files cannot be deleted after upload (after_upload: delete): %v", err)
			}
			return dir + " is writable, so uploaded files can be deleted", nil
		})
	case sc.MoveDir() != "":
		step("write", func() (string, error) {
			if err := tryWrite(dir); err != nil {
				return "", fmt.Errorf("files cannot be moved after upload: %v", err)
			}
			to := sc.MoveDir()
			at := to
			for {
				if _, err := os.Stat(at); err == nil || filepath.Dir(at) == at {
					break
				}
				at = filepath.Dir(at)
			}
			if err := tryWrite(at); err != nil {
				return "", fmt.Errorf("files cannot be moved to %s after upload: %v", to, err)
			}
			if at != to {
				return fmt.Sprintf("%s is writable, and %s will be created in %s, which is writable", dir, to, at), nil
			}
			return fmt.Sprintf("%s and %s are writable, so uploaded files can be moved", dir, to), nil
		})
	}
	return res
}

// tryWrite creates and removes an empty file in dir.
func tryWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".vela-agent-check-*")
	if err != nil {
		return fmt.Errorf("cannot create a file in %s: %v", dir, pathErr(err))
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("cannot remove a file from %s: %v", dir, pathErr(err))
	}
	return nil
}

// pathErr is err without the path, which the caller names already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// withDeadline runs f, giving up on it after d or when ctx ends: a file
// system call cannot be interrupted, so f is left to finish on its own.
func withDeadline(ctx context.Context, d time.Duration, f func() (string, error)) (string, error) {
	type result struct {
		detail string
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := f()
		ch <- result{s, err}
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.detail, r.err
	case <-t.C:
		return "", fmt.Errorf("no answer within %v", d)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
