package vela

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every secret in these tests contains "SECRET", so that one substring
// check finds any that leaks into an error or a log line.
const (
	testOrg      = "1234"
	testRefresh  = "refresh-SECRET-0001"
	testEmail    = "ops@example.com"
	testPassword = "pass-SECRET-word"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// seen is one request the fake API received.
type seen struct {
	method, path, auth, contentType, userAgent string
	body                                       []byte
}

// fakeAPI mimics the Vela API as VELA-API.md describes it: /auth/login,
// /auth/generate, the call presign and the organisation, with bearer
// tokens it minted itself. Tests replace single endpoints with handlers of
// their own.
type fakeAPI struct {
	t     *testing.T
	srv   *httptest.Server
	clock *clock

	mu       sync.Mutex                  // guards the fields below
	valid    map[string]bool             // access tokens the API accepts
	minted   int                         // access tokens minted so far
	lifetime time.Duration               // of minted tokens, stated as "expires" (RFC 3339)
	override map[string]http.HandlerFunc // path -> handler that replaces the default
	seen     []seen
}

func newFakeAPI(t *testing.T, clk *clock) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		t:        t,
		clock:    clk,
		valid:    map[string]bool{},
		lifetime: 15 * time.Minute,
		override: map[string]http.HandlerFunc{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// handle replaces the default handler of path.
func (f *fakeAPI) handle(path string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.override[path] = h
}

// hits counts the requests to path.
func (f *fakeAPI) hits(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.seen {
		if s.path == path {
			n++
		}
	}
	return n
}

// requests returns the requests to path, oldest first.
func (f *fakeAPI) requests(path string) []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []seen
	for _, s := range f.seen {
		if s.path == path {
			out = append(out, s)
		}
	}
	return out
}

// revokeAll makes every access token minted so far invalid.
func (f *fakeAPI) revokeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.valid)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("fake API: read body: %v", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.seen = append(f.seen, seen{
		method:      r.Method,
		path:        r.URL.EscapedPath(),
		auth:        r.Header.Get("Authorization"),
		contentType: r.Header.Get("Content-Type"),
		userAgent:   r.Header.Get("User-Agent"),
		body:        body,
	})
	h := f.override[r.URL.EscapedPath()]
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}

	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/auth/generate":
		f.generate(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/auth/login":
		f.login(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/asr/async/upload/vela":
		if f.authorised(w, r) {
			f.presign(w, r)
		}
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/organisations/vela/"):
		if f.authorised(w, r) {
			f.organisation(w, r)
		}
	default:
		respond(w, http.StatusNotFound, `{"message":"Not Found"}`)
	}
}

func respond(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// mint makes a new valid access token.
func (f *fakeAPI) mint() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.minted++
	tok := fmt.Sprintf("access-SECRET-%04d", f.minted)
	f.valid[tok] = true
	return tok
}

func (f *fakeAPI) authorised(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	ok = ok && f.valid[tok]
	f.mu.Unlock()
	if !ok {
		respond(w, http.StatusUnauthorized, `{"message":"Unauthorized"}`)
	}
	return ok
}

func (f *fakeAPI) generate(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.NewDecoder(r.Body).Decode(&req) != nil || req.RefreshToken != testRefresh {
		respond(w, http.StatusUnauthorized, `{"message":"Invalid refresh token"}`)
		return
	}
	f.mu.Lock()
	lifetime := f.lifetime
	f.mu.Unlock()
	b, _ := json.Marshal(map[string]any{
		"token":   f.mint(),
		"expires": f.clock.Now().Add(lifetime).Format(time.RFC3339),
	})
	respond(w, http.StatusOK, string(b))
}

func (f *fakeAPI) login(w http.ResponseWriter, r *http.Request) {
	var req struct{ Email, Password string }
	if json.NewDecoder(r.Body).Decode(&req) != nil || req.Email != testEmail || req.Password != testPassword {
		respond(w, http.StatusUnauthorized, `{"message":"Invalid email or password"}`)
		return
	}
	b, _ := json.Marshal(map[string]any{
		"token":         f.mint(),
		"refresh_token": testRefresh,
		"org_id":        testOrg,
		"id":            42,
	})
	respond(w, http.StatusOK, string(b))
}

// presignReq is a presign request as the API reads it.
type presignReq struct {
	OrgID    string         `json:"org_id"`
	FileName string         `json:"fileName"`
	Metadata map[string]any `json:"metadata"`
}

// decodePresign reads a presign request in either encoding.
func decodePresign(r *http.Request) (presignReq, error) {
	var p presignReq
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		err := json.NewDecoder(r.Body).Decode(&p)
		return p, err
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return p, err
		}
		p.OrgID, p.FileName = r.PostForm.Get("org_id"), r.PostForm.Get("fileName")
		if m := r.PostForm.Get("metadata"); m != "" {
			if err := json.Unmarshal([]byte(m), &p.Metadata); err != nil {
				return p, err
			}
		}
		return p, nil
	}
	return p, fmt.Errorf("content type %q", mt)
}

func (f *fakeAPI) presign(w http.ResponseWriter, r *http.Request) {
	p, err := decodePresign(r)
	switch {
	case err != nil:
		respond(w, http.StatusInternalServerError, `{"message":"Something went wrong"}`)
	case p.FileName == "":
		respond(w, http.StatusBadRequest, `{"message":"Missing fileName"}`)
	case p.OrgID != testOrg:
		respond(w, http.StatusNotFound, `{"message":"Organisation not found"}`)
	default:
		respond(w, http.StatusOK, presignReply("https://bucket.s3.amazonaws.com/", "policy", f.clock.Now().Add(time.Hour)))
	}
}

// presignReply is an S3-style presigned POST reply whose fields come in an
// order no sorting would give, with a policy expiring at exp.
func presignReply(url, policyName string, exp time.Time) string {
	policy := base64.StdEncoding.EncodeToString([]byte(
		`{"expiration":"` + exp.UTC().Format("2006-01-02T15:04:05.000Z") + `","conditions":[]}`))
	return `{"url":` + quote(url) + `,"fields":{` +
		`"key":"uploads/1234/call_001.wav",` +
		`"x-amz-meta-foo":"bar baz",` +
		`"AWSAccessKeyId":"AKIAEXAMPLE",` +
		`"x-amz-security-token":"FwoGZX+/=",` +
		quote(policyName) + `:` + quote(policy) + `,` +
		`"signature":"c2lnbmF0dXJl"}}`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (f *fakeAPI) organisation(w http.ResponseWriter, r *http.Request) {
	if r.URL.EscapedPath() != "/organisations/vela/"+url.PathEscape(testOrg) {
		respond(w, http.StatusNotFound, `{"message":"Organisation not found"}`)
		return
	}
	respond(w, http.StatusOK, `{"active":true,"name":"Example","monthlyAllocatedDuration":1000,"currentDurationUse":250.5,"stopWhenAllocationExceeded":true}`)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testConfig is a configuration for f, with a refresh token and a debug
// logger whose output is checked for secrets when the test ends.
func testConfig(t *testing.T, f *fakeAPI) Config {
	t.Helper()
	logs := &syncBuffer{}
	t.Cleanup(func() { assertNoSecret(t, "log", logs.String()) })
	return Config{
		BaseURL: f.srv.URL,
		OrgID:   testOrg,
		Credential: func() (CredentialKind, string, error) {
			return RefreshToken, testRefresh, nil
		},
		Timeout: 10 * time.Second,
		Now:     f.clock.Now,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func newTestClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// assertNoSecret fails the test if s contains a secret.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, "SECRET") {
		t.Errorf("%s contains a secret: %s", what, s)
	}
}

// asError returns err's *Error, failing the test if there is none. It also
// checks that err says nothing secret.
func asError(t *testing.T, err error) *Error {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	assertNoSecret(t, "error", err.Error())
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %q (%T) is not a *vela.Error", err, err)
	}
	assertNoSecret(t, "error message", e.Message)
	return e
}

// background is the context of tests that do not cancel.
var background = context.Background()

// wantError checks err against want, a part of the error expected ("" for
// none), and reports whether there is a result to check: err is nil.
func wantError(t *testing.T, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatal(err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Fatalf("error %v, want one containing %q", err, want)
	}
	return err == nil
}
