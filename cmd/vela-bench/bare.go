package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// bareMain is `vela-bench bare`: the baseline the agent's uploads are
// measured against. It uploads every file under a folder the simplest
// correct way: for each file a presign, then one multipart POST of the
// returned fields and the file, streamed with an exact Content-Length. No
// queue, no retries, no progress: the cost of the work itself.
func bareMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("vela-bench bare", flag.ContinueOnError)
	flags.SetOutput(stderr)
	api := flags.String("api", "", "the Vela API's base `URL`")
	org := flags.String("org", orgID, "organisation `id`")
	tokenFile := flags.String("token-file", "", "`file` holding a refresh token")
	conc := flags.Int("concurrency", 4, "uploads at a time")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if *api == "" || *tokenFile == "" || flags.NArg() != 1 || *conc < 1 {
		fmt.Fprintln(stderr, "usage: vela-bench bare -api URL -token-file FILE [-org ID] [-concurrency N] DIR")
		return errUsage
	}
	began := time.Now()
	paths, err := regularFiles(flags.Arg(0))
	if err != nil {
		return err
	}
	refresh, err := os.ReadFile(*tokenFile)
	if err != nil {
		return err
	}
	c := newBareClient(*api, *org, *conc)
	if err := c.signIn(ctx, string(refresh)); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(*conc)
	sizes := make([]int64, len(paths))
	for i, p := range paths {
		g.Go(func() (err error) {
			sizes[i], err = c.upload(gctx, p)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	fmt.Fprintf(stdout, "uploaded %d files, %d bytes in %v\n", len(paths), total, time.Since(began).Round(time.Millisecond))
	return nil
}

// regularFiles lists the regular files under dir.
func regularFiles(dir string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			paths = append(paths, path)
		}
		return err
	})
	if err == nil && len(paths) == 0 {
		err = fmt.Errorf("no files in %s", dir)
	}
	return paths, err
}

// bareClient talks to the Vela API and the storage with plain net/http.
type bareClient struct {
	api, org string
	hc       *http.Client
	token    string // the access token; set by signIn, then only read
}

func newBareClient(api, org string, conc int) *bareClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conc // keep one connection per worker to each host
	return &bareClient{api: strings.TrimRight(api, "/"), org: org, hc: &http.Client{Transport: tr}}
}

// signIn trades the refresh token for an access token.
func (c *bareClient) signIn(ctx context.Context, refresh string) error {
	var out struct {
		Token string `json:"token"`
	}
	if err := c.postJSON(ctx, "/auth/generate", map[string]string{"refresh_token": strings.TrimSpace(refresh)}, &out); err != nil {
		return err
	}
	if out.Token == "" {
		return errors.New("/auth/generate: no token in the reply")
	}
	c.token = out.Token
	return nil
}

// presign asks for a presigned POST for a file and returns its URL and
// fields.
func (c *bareClient) presign(ctx context.Context, name string, meta map[string]any) (string, map[string]string, error) {
	var out struct {
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	}
	in := map[string]any{"org_id": c.org, "fileName": name, "metadata": meta}
	if err := c.postJSON(ctx, "/asr/async/upload/vela", in, &out); err != nil {
		return "", nil, err
	}
	if out.URL == "" || len(out.Fields) == 0 {
		return "", nil, errors.New("presign: no url or fields in the reply")
	}
	return out.URL, out.Fields, nil
}

// upload presigns the file at path and posts it; it returns its size.
func (c *bareClient) upload(ctx context.Context, path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	name := filepath.Base(path)
	meta := map[string]any{"date_of_call": fi.ModTime().Format("02/01/2006, 15:04:05")}
	url, fields, err := c.presign(ctx, name, meta)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}

	// The form is the fields, then the file as the last part: write
	// everything before the file's bytes, then the closing boundary.
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := mw.WriteField(k, fields[k]); err != nil {
			return 0, err
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", "audio/wav")
	if _, err := mw.CreatePart(h); err != nil {
		return 0, err
	}
	head := bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := mw.Close(); err != nil {
		return 0, err
	}
	foot := buf.Bytes()

	body := io.MultiReader(bytes.NewReader(head), f, bytes.NewReader(foot))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = int64(len(head)) + fi.Size() + int64(len(foot))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return 0, fmt.Errorf("%s: upload: %s: %s", path, resp.Status, bytes.TrimSpace(reply))
	}
	return fi.Size(), nil
}

// postJSON posts in as JSON to the API and decodes a 200 reply into out.
func (c *bareClient) postJSON(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.api+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, bytes.TrimSpace(reply))
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
