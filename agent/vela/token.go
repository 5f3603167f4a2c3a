package vela

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Access token timing. Package variables so that tests can change them.
var (
	// defaultTokenLifetime is assumed when /auth/generate does not say
	// when the token expires.
	defaultTokenLifetime = 15 * time.Minute
	// minRefreshInterval is the least time a new access token is used
	// before it is refreshed ahead of its expiry, however short its stated
	// lifetime. It keeps a skewed clock from making every call a refresh;
	// a 401 still forces a refresh at once.
	minRefreshInterval = 30 * time.Second
)

// accessToken is a short-lived bearer token obtained with a refresh token.
type accessToken struct {
	value     string
	expires   time.Time // when the API says it stops working
	refreshAt time.Time // when to get the next one, ahead of expires
}

// bearer is the token to send with one call.
type bearer struct {
	value  string
	static bool // a configured access token, not one obtained by refreshing
}

// token returns the bearer token for the next call: the cached access token
// while it is fresh, else the configured access token, else a new access
// token obtained with the refresh token.
func (c *Client) token(ctx context.Context) (bearer, error) {
	now := c.now()
	c.mu.Lock()
	cached := c.cached
	c.mu.Unlock()
	if cached.value != "" && now.Before(cached.refreshAt) {
		return bearer{value: cached.value}, nil
	}

	kind, secret, err := c.cfg.Credential()
	switch {
	case err != nil:
		return bearer{}, &Error{Op: "read credential", Action: PauseAll, Err: err, Fix: fixCredential}
	case strings.TrimSpace(secret) == "":
		return bearer{}, &Error{Op: "read credential", Action: PauseAll,
			Err: fmt.Errorf("the %v is empty", kind), Fix: fixCredential}
	case kind == AccessToken:
		return bearer{value: secret, static: true}, nil
	case kind == RefreshToken:
		return c.refreshed(ctx, secret)
	}
	return bearer{}, &Error{Op: "read credential", Action: PauseAll,
		Err: fmt.Errorf("unknown credential kind %d", int(kind)), Fix: fixCredential}
}

// refreshed returns a fresh access token for refreshToken. Concurrent
// callers share one request to /auth/generate; a caller that gives up (its
// ctx ends) leaves the request running for the others.
func (c *Client) refreshed(ctx context.Context, refreshToken string) (bearer, error) {
	ch := c.flight.DoChan("refresh", func() (any, error) {
		// A caller that found the cache stale may arrive just after a
		// refresh ended: the token that refresh got is good.
		if tok, ok := c.cachedFor(refreshToken, c.now(), false); ok {
			return tok, nil
		}
		return c.refresh(context.WithoutCancel(ctx), refreshToken)
	})
	select {
	case <-ctx.Done():
		return bearer{}, &Error{Op: "refresh token", Action: Retry, Err: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			return bearer{}, res.Err
		}
		return bearer{value: res.Val.(string)}, nil
	}
}

// cachedFor returns the cached access token if it was obtained with
// refreshToken and is fresh, or, if anyValid, merely not expired.
func (c *Client) cachedFor(refreshToken string, now time.Time, anyValid bool) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached.value == "" || c.from != refreshToken {
		return "", false
	}
	if now.Before(c.cached.refreshAt) || anyValid && now.Before(c.cached.expires) {
		return c.cached.value, true
	}
	return "", false
}

// drop forgets the cached access token if it is still token, which the API
// just refused.
func (c *Client) drop(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached.value == token {
		c.cached = accessToken{}
	}
}

// refresh asks /auth/generate for an access token and caches it. If that
// fails for a reason worth retrying while the cached token has not expired
// yet, the cached token is used for now.
func (c *Client) refresh(ctx context.Context, refreshToken string) (string, error) {
	body, err := json.Marshal(struct {
		RefreshToken string `json:"refresh_token"`
	}{refreshToken})
	if err != nil {
		return "", &Error{Op: "refresh token", Action: PauseAll, Err: errors.New("encode request"), Fix: fixCredential}
	}
	issued := c.now()
	rep, err := c.send(ctx, request{
		op:          "refresh token",
		kind:        opRefresh,
		method:      http.MethodPost,
		path:        c.cfg.Paths.Generate,
		contentType: "application/json",
		body:        body,
		secrets:     []string{refreshToken},
	}, "")
	if err == nil {
		var tok accessToken
		if tok, err = parseToken(rep.body, issued); err == nil {
			c.mu.Lock()
			c.cached, c.from = tok, refreshToken
			c.mu.Unlock()
			c.log.DebugContext(ctx, "vela access token refreshed", "expires", tok.expires, "refresh_at", tok.refreshAt)
			return tok.value, nil
		}
		err = unreadable("refresh token", rep.status, err)
	}
	var e *Error
	if errors.As(err, &e) && e.Action == Retry {
		if tok, ok := c.cachedFor(refreshToken, c.now(), true); ok {
			c.log.WarnContext(ctx, "vela access token refresh failed; using the current token until it expires", "err", err)
			return tok, nil
		}
	}
	return "", err
}

// parseToken reads the reply of /auth/generate, {"token", "expires"}, for a
// token issued at now. "expires" may be an RFC 3339 time or a Unix time in
// seconds or milliseconds (a number or a numeric string); "expires_in" is a
// lifetime in seconds. Without either the token is taken to last
// defaultTokenLifetime. "access_token" is accepted for "token".
func parseToken(body []byte, now time.Time) (accessToken, error) {
	var r struct {
		Token       string          `json:"token"`
		AccessToken string          `json:"access_token"`
		Expires     json.RawMessage `json:"expires"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return accessToken{}, err
	}
	value := r.Token
	if value == "" {
		value = r.AccessToken
	}
	if err := checkToken(value); err != nil {
		return accessToken{}, err
	}

	expires, ok := parseExpires(r.Expires, now)
	if !ok {
		if secs, ok2 := parseNumber(r.ExpiresIn); ok2 && secs > 0 && secs < maxRelativeSeconds {
			expires, ok = now.Add(time.Duration(secs*float64(time.Second))), true
		}
	}
	if !ok {
		expires = now.Add(defaultTokenLifetime)
	}
	return accessToken{value: value, expires: expires, refreshAt: refreshTime(now, expires)}, nil
}

// refreshTime is when a token issued at issued and expiring at expires
// should be replaced: when less than max(1 minute, 10% of its lifetime)
// remains, but not before minRefreshInterval has passed.
func refreshTime(issued, expires time.Time) time.Time {
	lifetime := max(expires.Sub(issued), 0)
	at := expires.Add(-max(time.Minute, lifetime/10))
	if earliest := issued.Add(minRefreshInterval); at.Before(earliest) {
		at = earliest
	}
	return at
}

// checkToken refuses what cannot be sent as a bearer token. The error does
// not show the token.
func checkToken(tok string) error {
	if tok == "" {
		return errors.New("reply has no token")
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] >= 0x7f {
			return errors.New("reply has a malformed token")
		}
	}
	return nil
}

// Unix times before 2001-09-09 (1e9 s) cannot be meant for a token issued
// now: such numbers are read as a lifetime in seconds. Numbers of 1e11 and
// more are milliseconds (1e11 s would be the year 5138).
const (
	maxRelativeSeconds = 1e9
	minUnixMillis      = 1e11
	maxUnixMillis      = 1e14
)

// parseExpires reads an "expires" value; ok is false when it is absent or
// unreadable.
func parseExpires(raw json.RawMessage, now time.Time) (t time.Time, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return time.Time{}, false
		}
		if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
			return t, true
		}
	}
	v, ok := parseNumber(raw)
	switch {
	case !ok || v <= 0:
		return time.Time{}, false
	case v < maxRelativeSeconds:
		return now.Add(time.Duration(v * float64(time.Second))), true
	case v < minUnixMillis:
		sec, frac := math.Modf(v)
		return time.Unix(int64(sec), int64(frac*1e9)), true
	case v < maxUnixMillis:
		return time.UnixMilli(int64(v)), true
	}
	return time.Time{}, false
}

// parseNumber reads a finite JSON number or numeric string.
func parseNumber(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}
