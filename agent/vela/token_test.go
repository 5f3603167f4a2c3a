package vela

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseToken(t *testing.T) {
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC) // Unix 1736935200
	in15 := now.Add(15 * time.Minute)                    // Unix 1736936100
	tests := []struct {
		name    string
		body    string
		token   string
		expires time.Time
		wantErr string
	}{
		{name: "RFC 3339", body: `{"token":"t1","expires":"2025-01-15T10:15:00Z"}`, token: "t1", expires: in15},
		{name: "RFC 3339 offset and fraction", body: `{"token":"t1","expires":"2025-01-15T12:30:00.500+02:00"}`,
			token: "t1", expires: now.Add(30*time.Minute + 500*time.Millisecond)},
		{name: "Unix seconds", body: `{"token":"t1","expires":1736936100}`, token: "t1", expires: in15},
		{name: "Unix seconds string", body: `{"token":"t1","expires":"1736936100"}`, token: "t1", expires: in15},
		{name: "Unix seconds fraction", body: `{"token":"t1","expires":1736936100.25}`, token: "t1", expires: in15.Add(250 * time.Millisecond)},
		{name: "Unix milliseconds", body: `{"token":"t1","expires":1736936100000}`, token: "t1", expires: in15},
		{name: "Unix milliseconds string", body: `{"token":"t1","expires":" 1736936100000 "}`, token: "t1", expires: in15},
		{name: "Unix milliseconds exponent", body: `{"token":"t1","expires":1.7369361e12}`, token: "t1", expires: in15},
		{name: "small number is a lifetime", body: `{"token":"t1","expires":3600}`, token: "t1", expires: now.Add(time.Hour)},
		{name: "absent", body: `{"token":"t1"}`, token: "t1", expires: in15},
		{name: "null", body: `{"token":"t1","expires":null}`, token: "t1", expires: in15},
		{name: "unreadable", body: `{"token":"t1","expires":"tomorrow"}`, token: "t1", expires: in15},
		{name: "negative", body: `{"token":"t1","expires":-5}`, token: "t1", expires: in15},
		{name: "object", body: `{"token":"t1","expires":{"at":1}}`, token: "t1", expires: in15},
		{name: "too far", body: `{"token":"t1","expires":1e300}`, token: "t1", expires: in15},
		{name: "expires_in", body: `{"token":"t1","expires_in":3600}`, token: "t1", expires: now.Add(time.Hour)},
		{name: "expires_in string", body: `{"token":"t1","expires_in":"600"}`, token: "t1", expires: now.Add(10 * time.Minute)},
		{name: "expires wins", body: `{"token":"t1","expires":"2025-01-15T10:15:00Z","expires_in":60}`, token: "t1", expires: in15},
		{name: "access_token", body: `{"access_token":"t2","expires_in":60}`, token: "t2", expires: now.Add(time.Minute)},
		{name: "no token", body: `{"expires":1736936100}`, wantErr: "no token"},
		{name: "empty token", body: `{"token":""}`, wantErr: "no token"},
		{name: "token with space", body: `{"token":"a b"}`, wantErr: "malformed token"},
		{name: "token with newline", body: `{"token":"a\nAuthorization: x"}`, wantErr: "malformed token"},
		{name: "token not a string", body: `{"token":12}`, wantErr: "cannot unmarshal"},
		{name: "not json", body: `Bad Gateway`, wantErr: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := parseToken([]byte(tt.body), now)
			if !wantError(t, err, tt.wantErr) {
				return
			}
			if tok.value != tt.token || !tok.expires.Equal(tt.expires) {
				t.Errorf("got %q expiring %v, want %q expiring %v", tok.value, tok.expires, tt.token, tt.expires)
			}
		})
	}
}

func TestRefreshTime(t *testing.T) {
	issued := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		lifetime time.Duration
		want     time.Duration // after issued
	}{
		{15 * time.Minute, 15*time.Minute - 90*time.Second}, // 10% > 1 minute
		{time.Hour, 54 * time.Minute},
		{5 * time.Minute, 4 * time.Minute}, // 1 minute > 10%
		{24 * time.Hour, 24*time.Hour - 144*time.Minute},
		{time.Minute, minRefreshInterval}, // never sooner than the minimum
		{-time.Hour, minRefreshInterval},  // already expired by our clock
	}
	for _, tt := range tests {
		if got := refreshTime(issued, issued.Add(tt.lifetime)).Sub(issued); got != tt.want {
			t.Errorf("lifetime %v: refresh after %v, want %v", tt.lifetime, got, tt.want)
		}
	}
}

func TestTokenRefreshedAheadOfExpiry(t *testing.T) {
	clk := newClock()
	f := newFakeAPI(t, clk) // tokens last 15 minutes: refreshed when 90s remain
	c := newTestClient(t, testConfig(t, f))

	steps := []struct {
		advance   time.Duration
		generates int
		bearer    string
	}{
		{0, 1, "access-SECRET-0001"},
		{13 * time.Minute, 1, "access-SECRET-0001"},
		{29 * time.Second, 1, "access-SECRET-0001"}, // 91s left
		{2 * time.Second, 2, "access-SECRET-0002"},  // 89s left
		{time.Minute, 2, "access-SECRET-0002"},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if _, err := c.Presign(background, "call_001.wav", nil); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if n := f.hits("/auth/generate"); n != s.generates {
			t.Errorf("step %d: %d refreshes, want %d", i, n, s.generates)
		}
		reqs := f.requests("/asr/async/upload/vela")
		if got := reqs[len(reqs)-1].auth; got != "Bearer "+s.bearer {
			t.Errorf("step %d: sent %q, want the bearer %s", i, got, s.bearer)
		}
	}
	for _, r := range f.requests("/auth/generate") {
		if r.auth != "" {
			t.Errorf("refresh request sent an Authorization header")
		}
		if string(r.body) != `{"refresh_token":"`+testRefresh+`"}` {
			t.Errorf("refresh body %s", r.body)
		}
	}
}

// TestTokenSingleFlight makes many concurrent calls need a new token at
// once: they must share one refresh.
func TestTokenSingleFlight(t *testing.T) {
	clk := newClock()
	f := newFakeAPI(t, clk)
	c := newTestClient(t, testConfig(t, f))

	const callers = 32
	for round, want := range []int{1, 2} {
		var wg sync.WaitGroup
		errs := make(chan error, callers)
		for range callers {
			wg.Go(func() {
				if _, err := c.Presign(background, "call_001.wav", nil); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		if n := f.hits("/auth/generate"); n != want {
			t.Errorf("round %d: %d refreshes for %d concurrent calls, want %d", round, n, callers, want)
		}
		clk.Advance(14 * time.Minute) // into the refresh window
	}
	if n := f.hits("/asr/async/upload/vela"); n != 2*callers {
		t.Errorf("%d presign requests, want %d", n, 2*callers)
	}
}

func TestUnauthorized(t *testing.T) {
	tests := []struct {
		name      string
		static    bool                                             // credential is an access token
		presign   func(f *fakeAPI, rotate func()) http.HandlerFunc // nil: the default
		before    func(f *fakeAPI)                                 // after a first successful call
		wantErr   string                                           // "" for success
		generates int                                              // after the first call
		presigns  int
	}{
		{
			name:      "refresh and retry",
			before:    (*fakeAPI).revokeAll,
			generates: 1, presigns: 2,
		},
		{
			name: "refused after refresh",
			presign: func(*fakeAPI, func()) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) { respond(w, 401, `{"message":"Unauthorized"}`) }
			},
			wantErr:   "401 Unauthorized; a freshly refreshed access token was refused; run `vela-agent login` to get a new refresh token",
			generates: 1, presigns: 2,
		},
		{
			name:      "static token refused",
			static:    true,
			before:    (*fakeAPI).revokeAll,
			wantErr:   "the configured access token was refused; run `vela-agent login`",
			generates: 0, presigns: 1,
		},
		{
			name:   "static token rotated",
			static: true,
			presign: func(f *fakeAPI, rotate func()) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					if f.authorised(w, r) {
						f.presign(w, r)
						return
					}
					rotate() // the admin put a new token in the file
				}
			},
			before:    (*fakeAPI).revokeAll,
			generates: 0, presigns: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, newClock())
			cfg := testConfig(t, f)
			var static atomic.Value
			static.Store(f.mint())
			if tt.static {
				cfg.Credential = func() (CredentialKind, string, error) {
					return AccessToken, static.Load().(string), nil
				}
			}
			c := newTestClient(t, cfg)
			if _, err := c.Presign(background, "call_001.wav", nil); err != nil {
				t.Fatalf("first call: %v", err)
			}
			if tt.before != nil {
				tt.before(f)
			}
			if tt.presign != nil {
				f.handle("/asr/async/upload/vela", tt.presign(f, func() { static.Store(f.mint()) }))
			}
			generates, presigns := f.hits("/auth/generate"), f.hits("/asr/async/upload/vela")

			_, err := c.Presign(background, "call_001.wav", nil)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Presign: %v", err)
				}
			} else {
				e := asError(t, err)
				if e.Action != PauseAll || e.Status != http.StatusUnauthorized || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q (action %v), want pause all saying %q", err, e.Action, tt.wantErr)
				}
			}
			if n := f.hits("/auth/generate") - generates; n != tt.generates {
				t.Errorf("%d refreshes, want %d", n, tt.generates)
			}
			if n := f.hits("/asr/async/upload/vela") - presigns; n != tt.presigns {
				t.Errorf("%d presign requests, want %d", n, tt.presigns)
			}
		})
	}
}

func TestRefreshRejected(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		action     Action
		say        string
		retryAfter time.Duration
	}{
		{"bad request", 400, `{"message":"Missing refresh token"}`, PauseAll, "refresh token: 400 Missing refresh token; " + fixLogin, 0},
		{"unauthorized", 401, `{"message":"Invalid refresh token"}`, PauseAll, "refresh token: 401 Invalid refresh token; " + fixLogin, 0},
		{"forbidden", 403, `{"message":"Refresh token revoked"}`, PauseAll, fixLogin, 0},
		{"echoes the token", 401, `{"message":"refresh token ` + testRefresh + ` revoked"}`, PauseAll, "[redacted] revoked", 0},
		{"not found", 404, `{"message":"Not Found"}`, PauseAll, "check api.base_url", 0},
		{"server error", 500, `{"message":"Internal server error"}`, Retry, "refresh token: 500 Internal server error", 0},
		{"throttled", 429, ``, Retry, "429 Too Many Requests", 0},
		{"unreadable", 200, `{"token":`, Retry, "refresh token: 200 OK: unreadable reply", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, newClock())
			f.handle("/auth/generate", func(w http.ResponseWriter, r *http.Request) { respond(w, tt.status, tt.body) })
			c := newTestClient(t, testConfig(t, f))

			for _, call := range []func() error{
				func() error { _, err := c.Presign(background, "call_001.wav", nil); return err },
				func() error { _, err := c.Organisation(background); return err },
			} {
				err := call()
				e := asError(t, err)
				if e.Action != tt.action || e.Op != "refresh token" || !strings.Contains(err.Error(), tt.say) {
					t.Errorf("error %q: op %q action %v, want refresh token, %v, saying %q", err, e.Op, e.Action, tt.action, tt.say)
				}
			}
			if n := f.hits("/asr/async/upload/vela") + f.hits("/organisations/vela/1234"); n != 0 {
				t.Errorf("%d calls made without a token", n)
			}
		})
	}
}

func TestRefreshFailureKeepsValidToken(t *testing.T) {
	clk := newClock()
	f := newFakeAPI(t, clk)
	c := newTestClient(t, testConfig(t, f))
	if _, err := c.Presign(background, "call_001.wav", nil); err != nil {
		t.Fatal(err)
	}
	f.handle("/auth/generate", func(w http.ResponseWriter, r *http.Request) { respond(w, 503, `{"message":"down"}`) })

	clk.Advance(14 * time.Minute) // in the refresh window, not expired
	if _, err := c.Presign(background, "call_001.wav", nil); err != nil {
		t.Fatalf("with a valid token and the refresh failing: %v", err)
	}
	clk.Advance(2 * time.Minute) // expired
	_, err := c.Presign(background, "call_001.wav", nil)
	if e := asError(t, err); e.Action != Retry || e.Status != 503 {
		t.Errorf("error %q: action %v, want retry", err, e.Action)
	}
	if n := f.hits("/auth/generate"); n != 3 {
		t.Errorf("%d refreshes, want 3", n)
	}
}

func TestCredentialErrors(t *testing.T) {
	tests := []struct {
		name string
		cred Credential
		say  string
	}{
		{"unreadable", func() (CredentialKind, string, error) {
			return 0, "", errors.New("open /etc/vela-agent/refresh_token: permission denied")
		}, "presign call_001.wav: read credential: open /etc/vela-agent/refresh_token: permission denied; check the api token settings"},
		{"empty", func() (CredentialKind, string, error) { return RefreshToken, " \n", nil }, "the refresh token is empty"},
		{"unknown kind", func() (CredentialKind, string, error) { return 7, "x-SECRET", nil }, "unknown credential kind 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, newClock())
			cfg := testConfig(t, f)
			cfg.Credential = tt.cred
			c := newTestClient(t, cfg)
			_, err := c.Presign(background, "call_001.wav", nil)
			if e := asError(t, err); e.Action != PauseAll || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("error %q: action %v, want pause all saying %q", err, e.Action, tt.say)
			}
		})
	}
}
