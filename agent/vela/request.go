package vela

import (
	"github.com/vela-agent/vela-agent/agent/retryafter"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Limits on what is read of a reply. Package variables so that tests can
// change them.
var (
	maxReplyBytes int64 = 1 << 20  // a successful reply; larger is refused
	maxErrorBytes int64 = 64 << 10 // an error reply; the rest is ignored
)

// transport sends single requests: it knows the base URL, sets the headers
// and the deadline, and classifies failures. It is what Login needs without
// a Client.
type transport struct {
	base      string
	org       string // for error hints; "" for Login
	client    *http.Client
	timeout   time.Duration
	userAgent string
	now       func() time.Time
	log       *slog.Logger
}

func newTransport(cfg Config) transport {
	return transport{
		base:      cfg.BaseURL,
		org:       cfg.OrgID,
		client:    cfg.HTTPClient,
		timeout:   cfg.Timeout,
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
		log:       cfg.Logger,
	}
}

// opKind says how a call's failures are classified.
type opKind int

const (
	opCall         opKind = iota // a request for one recording: bad content parks the job
	opChat                       // a chat upload: bad content parks the job
	opOrganisation               // the organisation's entitlement
	opRefresh                    // exchanging the refresh token
	opLogin                      // signing in with e-mail and password
)

// request is one API call. Its body is a byte slice so that it can be sent
// again after a token refresh.
type request struct {
	op          string // what is being done, for errors: "presign call_001.wav"
	kind        opKind
	method      string
	path        string // below the base URL, already escaped
	contentType string
	body        []byte
	secrets     []string // what the server must not make us repeat (the refresh token, the password)
}

// reply is a successful (2xx) response.
type reply struct {
	status int
	body   []byte
}

// send makes one request, within t.timeout, with token as its bearer token
// unless token is empty. It returns the reply if its status is 2xx, or else
// an *Error.
func (t *transport) send(ctx context.Context, r request, token string) (reply, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()

	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, t.base+r.path, body)
	if err != nil {
		return reply{}, &Error{Op: r.op, Action: PauseAll, Err: fmt.Errorf("make request: %w", err),
			Fix: fixPaths}
	}
	if r.body != nil {
		req.Header.Set("Content-Type", r.contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", t.userAgent)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}

	start := t.now()
	resp, err := t.client.Do(req)
	if err != nil {
		return reply{}, t.transportError(parent, r.op, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		b, err := readAtMost(resp.Body, maxReplyBytes)
		if err != nil {
			return reply{}, t.transportError(parent, r.op, fmt.Errorf("read reply: %w", err))
		}
		t.log.DebugContext(parent, "vela API call", "op", r.op, "status", resp.StatusCode,
			"duration", t.now().Sub(start))
		return reply{status: resp.StatusCode, body: b}, nil
	}

	// An error reply: what could be read is enough for its message.
	b, _ := readAtMost(resp.Body, maxErrorBytes)
	secrets := append([]string{token}, r.secrets...)
	e := &Error{
		Op:      r.op,
		Status:  resp.StatusCode,
		Message: errorMessage(b, secrets...),
	}
	e.Action, e.Fix = classify(r.kind, e.Status, e.Message, t.org)
	if e.Status >= 300 && e.Status < 400 {
		if loc, err := resp.Location(); err == nil {
			e.Fix = fmt.Sprintf("the API redirects to %s://%s%s; %s", loc.Scheme, loc.Host, loc.EscapedPath(), e.Fix)
		}
	}
	if e.Action == Retry {
		e.Wait = retryafter.Parse(resp.Header.Get("Retry-After"), t.now())
	}
	t.log.DebugContext(parent, "vela API call failed", "op", r.op, "status", e.Status,
		"action", e.Action, "duration", t.now().Sub(start))
	return reply{}, e
}

// transportError is a request that got no complete reply: always worth
// retrying. A deadline of our own reads as such; the caller's cancellation
// stays recognisable with errors.Is.
func (t *transport) transportError(parent context.Context, op string, err error) *Error {
	if parent.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no reply within %v: %w", t.timeout, err)
	}
	return &Error{Op: op, Action: Retry, Err: err}
}

// unreadable is a 2xx reply that does not say what it should: a server or
// proxy fault, worth retrying.
func unreadable(op string, status int, err error) *Error {
	return &Error{Op: op, Status: status, Action: Retry, Err: fmt.Errorf("unreadable reply: %w", err)}
}

// readAtMost reads all of r, failing if it is longer than limit. The bytes
// read so far are returned with the error.
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("reply longer than %d bytes", limit)
	}
	return b, nil
}

// call sends an authorised request. On a 401 it gets a new access token and
// sends the request once more; a second 401 is final.
func (c *Client) call(ctx context.Context, r request) (reply, error) {
	tok, err := c.token(ctx)
	if err != nil {
		return reply{}, fmt.Errorf("%s: %w", r.op, err)
	}
	rep, refused := c.send(ctx, r, tok.value)
	if !isUnauthorized(refused) {
		return rep, refused
	}

	old := tok
	if !old.static {
		c.drop(old.value)
	}
	if tok, err = c.token(ctx); err != nil {
		return reply{}, fmt.Errorf("%s: %w", r.op, err)
	}
	if old.static && tok.value == old.value {
		// The same configured token again: sending it again is useless.
		return reply{}, unauthorized(refused, old)
	}
	rep, err = c.send(ctx, r, tok.value)
	if isUnauthorized(err) {
		return reply{}, unauthorized(err, tok)
	}
	return rep, err
}

func isUnauthorized(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusUnauthorized
}

// unauthorized is the final 401 to a call made with tok: pause everything,
// saying which token was refused.
func unauthorized(err error, tok bearer) error {
	var e *Error
	if errors.As(err, &e) {
		e.Action = PauseAll
		if tok.static {
			e.Fix = fixStaticToken
		} else {
			e.Fix = fixFreshToken
		}
	}
	return err
}
