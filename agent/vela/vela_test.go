package vela

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	refresh := func() (CredentialKind, string, error) { return RefreshToken, testRefresh, nil }
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for success
		base    string // the normalised base URL, on success
	}{
		{name: "https", cfg: Config{BaseURL: "https://api.botlhale.tech"}, base: "https://api.botlhale.tech"},
		{name: "trailing slash", cfg: Config{BaseURL: "https://api.botlhale.tech/"}, base: "https://api.botlhale.tech"},
		{name: "path prefix", cfg: Config{BaseURL: "https://gw.example/vela/"}, base: "https://gw.example/vela"},
		{name: "http loopback v4", cfg: Config{BaseURL: "http://127.0.0.1:8080"}, base: "http://127.0.0.1:8080"},
		{name: "http loopback v6", cfg: Config{BaseURL: "http://[::1]:8080"}, base: "http://[::1]:8080"},
		{name: "http localhost", cfg: Config{BaseURL: "http://localhost:8080"}, base: "http://localhost:8080"},
		{name: "http remote", cfg: Config{BaseURL: "http://api.botlhale.tech"}, wantErr: "only allowed for loopback"},
		{name: "http private address", cfg: Config{BaseURL: "http://10.0.0.1"}, wantErr: "only allowed for loopback"},
		{name: "http localhost lookalike", cfg: Config{BaseURL: "http://localhost.example.com"}, wantErr: "only allowed for loopback"},
		{name: "ftp", cfg: Config{BaseURL: "ftp://api.botlhale.tech"}, wantErr: "unsupported scheme"},
		{name: "no base URL", cfg: Config{}, wantErr: "no API base URL"},
		{name: "relative", cfg: Config{BaseURL: "api.botlhale.tech"}, wantErr: "absolute URL"},
		{name: "user info", cfg: Config{BaseURL: "https://ops:pw-SECRET@api.botlhale.tech"}, wantErr: "user name or password"},
		{name: "query", cfg: Config{BaseURL: "https://api.botlhale.tech/?x=1"}, wantErr: "query"},
		{name: "no org", cfg: Config{BaseURL: "https://api.botlhale.tech", OrgID: " "}, wantErr: "no organisation ID"},
		{name: "no credential", cfg: Config{BaseURL: "https://api.botlhale.tech", Credential: nil}, wantErr: "no credential"},
		{name: "form encoding", cfg: Config{BaseURL: "https://api.botlhale.tech", Encoding: "FORM"}, base: "https://api.botlhale.tech"},
		{name: "bad encoding", cfg: Config{BaseURL: "https://api.botlhale.tech", Encoding: "xml"}, wantErr: "presign encoding"},
		{name: "bad path", cfg: Config{BaseURL: "https://api.botlhale.tech", Paths: Paths{Presign: "asr"}}, wantErr: "must start with /"},
		{name: "negative timeout", cfg: Config{BaseURL: "https://api.botlhale.tech", Timeout: -time.Second}, wantErr: "negative timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.OrgID == "" {
				cfg.OrgID = testOrg
			}
			if cfg.Credential == nil && tt.name != "no credential" {
				cfg.Credential = refresh
			}
			c, err := New(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: error %v, want one containing %q", err, tt.wantErr)
				}
				assertNoSecret(t, "error", err.Error())
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if c.cfg.BaseURL != tt.base {
				t.Errorf("base URL %q, want %q", c.cfg.BaseURL, tt.base)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{
		BaseURL:    "https://api.botlhale.tech",
		OrgID:      testOrg,
		Paths:      Paths{Presign: "/custom/presign"},
		Credential: func() (CredentialKind, string, error) { return AccessToken, "x", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultPaths
	want.Presign = "/custom/presign"
	if c.cfg.Paths != want {
		t.Errorf("paths %+v, want %+v", c.cfg.Paths, want)
	}
	if c.cfg.Encoding != "json" || c.cfg.Timeout != 30*time.Second || c.cfg.UserAgent != "vela-agent" {
		t.Errorf("defaults: encoding %q, timeout %v, user agent %q", c.cfg.Encoding, c.cfg.Timeout, c.cfg.UserAgent)
	}
	if c.cfg.HTTPClient == nil || c.cfg.HTTPClient.CheckRedirect == nil {
		t.Error("default HTTP client follows redirects")
	}
}

func TestErrorString(t *testing.T) {
	cause := errors.New("connection refused")
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "presign call_001.wav", Status: 400, Message: "Allocation exceeded", Action: PauseCalls},
			"presign call_001.wav: 400 Allocation exceeded"},
		{&Error{Op: "organisation", Status: 502}, "organisation: 502 Bad Gateway"},
		{&Error{Op: "organisation", Err: cause}, "organisation: connection refused"},
		{&Error{Op: "refresh token", Status: 401, Message: "Invalid refresh token", Action: PauseAll, Fix: fixLogin},
			"refresh token: 401 Invalid refresh token; run `vela-agent login` to get a new refresh token"},
		{&Error{Op: "login", Status: 200, Err: cause}, "login: 200 OK: connection refused"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if !errors.Is(&Error{Err: cause}, cause) {
		t.Error("Error does not unwrap to its cause")
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{
		Retry: "retry", Park: "park", PauseCalls: "pause calls", PauseAll: "pause all", Action(9): "Action(9)",
	} {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(a), got, want)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name, body string
		secrets    []string
		want       string
	}{
		{"message", `{"message":"Allocation exceeded"}`, nil, "Allocation exceeded"},
		{"Message", `{"Message":"User is not authorized"}`, nil, "User is not authorized"},
		{"error", `{"error":"Team not found"}`, nil, "Team not found"},
		{"nested error", `{"error":{"code":7,"message":"Department not found"}}`, nil, "Department not found"},
		{"detail", `{"detail":"Invalid contact"}`, nil, "Invalid contact"},
		{"detail list", `{"detail":[{"loc":["body"],"msg":"field required"}]}`, nil, "field required"},
		{"lambda", `{"errorMessage":"Task timed out","errorType":"Timeout"}`, nil, "Task timed out"},
		{"message first", `{"error":"Bad Request","message":"Missing fileName"}`, nil, "Missing fileName"},
		{"json string", `"Missing fileName"`, nil, "Missing fileName"},
		{"plain text", "Allocation exceeded\n", nil, "Allocation exceeded"},
		{"multi-line text", "Invalid date of call.\r\n\tCorrect format is DD/MM/YYYY, HH:mm:ss", nil,
			"Invalid date of call. Correct format is DD/MM/YYYY, HH:mm:ss"},
		{"html", "<html><body><h1>502 Bad Gateway</h1></body></html>", nil, ""},
		{"xml", "<Error><Code>AccessDenied</Code></Error>", nil, ""},
		{"other json", `{"ok":false}`, nil, ""},
		{"number", `42`, nil, ""},
		{"empty", "", nil, ""},
		{"long text", strings.Repeat("x", 400), nil, ""},
		{"long message", `{"message":"` + strings.Repeat("y", 400) + `"}`, nil, strings.Repeat("y", 300) + "…"},
		{"binary", "\xff\xfe\x00", nil, ""},
		{"echoed token", `{"message":"token abc-SECRET-def is expired"}`, []string{"abc-SECRET-def"}, "token [redacted] is expired"},
		{"echoed at the cut", `{"message":"` + strings.Repeat("z", 295) + `abc-SECRET-def"}`, []string{"abc-SECRET-def"},
			strings.Repeat("z", 295) + "[reda…"},
		{"echoed password with spaces", `{"message":"bad password my pass-SECRET"}`, []string{"my\n  pass-SECRET"},
			"bad password [redacted]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorMessage([]byte(tt.body), tt.secrets...); got != tt.want {
				t.Errorf("errorMessage = %q, want %q", got, tt.want)
			}
		})
	}
}
