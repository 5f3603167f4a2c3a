package vela

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// Session is what signing in gives.
type Session struct {
	Token        string // a short-lived access token
	RefreshToken string // the long-lived secret the agent keeps
	OrgID        string
	UserID       string
}

// Login exchanges an e-mail address and password for a session: POST
// Paths.Login {"email", "password"}. It uses cfg's BaseURL, Paths,
// HTTPClient, Timeout, UserAgent, Now and Logger; OrgID and Credential may
// be empty.
//
// It is meant for `vela-agent login` only: an account holds at most three
// refresh tokens, so the agent keeps the session's RefreshToken rather than
// signing in again.
func Login(ctx context.Context, cfg Config, email, password string) (*Session, error) {
	const op = "login"
	cfg, err := cfg.normalise()
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(email) == "" || password == "" {
		return nil, &Error{Op: op, Action: Park, Err: errors.New("an e-mail address and a password are required")}
	}
	body, err := json.Marshal(struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}{email, password})
	if err != nil {
		return nil, &Error{Op: op, Action: Park, Err: errors.New("encode request")}
	}
	t := newTransport(cfg)
	rep, err := t.send(ctx, request{
		op:          op,
		kind:        opLogin,
		method:      http.MethodPost,
		path:        cfg.Paths.Login,
		contentType: "application/json",
		body:        body,
		secrets:     []string{password},
	}, "")
	if err != nil {
		return nil, err
	}
	s, err := parseSession(rep.body)
	if err != nil {
		return nil, unreadable(op, rep.status, err)
	}
	return s, nil
}

// parseSession reads the reply of Paths.Login, {"token", "refresh_token",
// "org_id", "id"}. The IDs may be strings or numbers; numbers are kept as
// their JSON text.
func parseSession(body []byte) (*Session, error) {
	var r struct {
		Token        string          `json:"token"`
		RefreshToken string          `json:"refresh_token"`
		OrgID        json.RawMessage `json:"org_id"`
		ID           json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	if err := checkToken(r.Token); err != nil {
		return nil, err
	}
	if r.RefreshToken == "" {
		return nil, errors.New("reply has no refresh_token")
	}
	if checkToken(r.RefreshToken) != nil {
		return nil, errors.New("reply has a malformed refresh_token")
	}
	return &Session{
		Token:        r.Token,
		RefreshToken: r.RefreshToken,
		OrgID:        idString(r.OrgID),
		UserID:       idString(r.ID),
	}, nil
}

// idString returns a JSON string's value, or a number's text; anything
// else gives "".
func idString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return ""
	}
	return n.String()
}
