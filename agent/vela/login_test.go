package vela

import (
	"net/http"
	"strings"
	"testing"
)

func TestLogin(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Session
	}{
		{"numeric id", `{"token":"access-SECRET-1","refresh_token":"refresh-SECRET-1","org_id":"1234","id":42}`,
			Session{"access-SECRET-1", "refresh-SECRET-1", "1234", "42"}},
		{"string id", `{"token":"access-SECRET-1","refresh_token":"refresh-SECRET-1","org_id":1234,"id":"64f1c2"}`,
			Session{"access-SECRET-1", "refresh-SECRET-1", "1234", "64f1c2"}},
		{"big id", `{"token":"access-SECRET-1","refresh_token":"refresh-SECRET-1","org_id":"o","id":12345678901234567890}`,
			Session{"access-SECRET-1", "refresh-SECRET-1", "o", "12345678901234567890"}},
		{"no ids", `{"token":"access-SECRET-1","refresh_token":"refresh-SECRET-1","id":null}`,
			Session{Token: "access-SECRET-1", RefreshToken: "refresh-SECRET-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, newClock())
			f.handle("/auth/login", func(w http.ResponseWriter, r *http.Request) { respond(w, 200, tt.body) })
			cfg := testConfig(t, f)
			cfg.OrgID, cfg.Credential = "", nil // not needed to sign in
			s, err := Login(background, cfg, testEmail, testPassword)
			if err != nil {
				t.Fatal(err)
			}
			if *s != tt.want {
				t.Errorf("session %+v, want %+v", *s, tt.want)
			}
			reqs := f.requests("/auth/login")
			if len(reqs) != 1 || reqs[0].auth != "" || reqs[0].contentType != "application/json" ||
				string(reqs[0].body) != `{"email":"ops@example.com","password":"pass-SECRET-word"}` {
				t.Errorf("requests %+v, want one JSON POST of e-mail and password", reqs)
			}
		})
	}
}

// TestLoginSession signs in against the fake API and uses the session's
// refresh token.
func TestLoginSession(t *testing.T) {
	f := newFakeAPI(t, newClock())
	cfg := testConfig(t, f)
	s, err := Login(background, cfg, testEmail, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Credential = func() (CredentialKind, string, error) { return RefreshToken, s.RefreshToken, nil }
	cfg.OrgID = s.OrgID
	if _, err := newTestClient(t, cfg).Organisation(background); err != nil {
		t.Fatal(err)
	}
}

func TestLoginErrors(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		body     string
		email    string
		password string
		action   Action
		say      string
	}{
		{"wrong password", 401, `{"message":"Invalid email or password"}`, testEmail, "wrong-SECRET",
			PauseAll, "login: 401 Invalid email or password; check the e-mail address and password"},
		{"password echoed", 400, `{"message":"password pass-SECRET-word too weak"}`, testEmail, testPassword,
			PauseAll, "password [redacted] too weak"},
		{"forbidden", 403, `{"message":"Account disabled"}`, testEmail, testPassword, PauseAll, "login: 403 Account disabled"},
		{"server error", 502, `<html></html>`, testEmail, testPassword, Retry, "login: 502 Bad Gateway"},
		{"no refresh token", 200, `{"token":"access-SECRET-1"}`, testEmail, testPassword, Retry, "reply has no refresh_token"},
		{"malformed refresh token", 200, `{"token":"a","refresh_token":"b SECRET"}`, testEmail, testPassword, Retry, "malformed refresh_token"},
		{"no token", 200, `{"refresh_token":"refresh-SECRET-1"}`, testEmail, testPassword, Retry, "reply has no token"},
		{"no password", 0, ``, testEmail, "", Park, "login: an e-mail address and a password are required"},
		{"no e-mail", 0, ``, "", testPassword, Park, "login: an e-mail address and a password are required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, newClock())
			if tt.status != 0 {
				f.handle("/auth/login", func(w http.ResponseWriter, r *http.Request) { respond(w, tt.status, tt.body) })
			}
			_, err := Login(background, testConfig(t, f), tt.email, tt.password)
			if e := asError(t, err); e.Action != tt.action || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("error %q: action %v, want %v saying %q", err, e.Action, tt.action, tt.say)
			}
		})
	}
}

func TestLoginRefusesInsecureURL(t *testing.T) {
	_, err := Login(background, Config{BaseURL: "http://api.botlhale.tech"}, testEmail, testPassword)
	if err == nil || !strings.Contains(err.Error(), "only allowed for loopback") {
		t.Errorf("error %v, want plain http refused", err)
	}
}
