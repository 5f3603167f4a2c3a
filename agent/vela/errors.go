package vela

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error is a failed API call, classified for the caller.
type Error struct {
	Op      string        // what was being done: "presign call_001.wav", "organisation", "refresh token", "login"
	Status  int           // the HTTP status; 0 when no reply came
	Message string        // the API's message, if it gave one; never a secret
	Action  Action        // what the caller should do about it
	Wait    time.Duration // the server's Retry-After, for Retry; 0 when it gave none
	Fix     string        // what an administrator should do, when known ("run `vela-agent login` ...")
	Err     error         // the underlying error: transport failures, unreadable replies
}

// Action is what the caller should do about an Error.
type Action int

const (
	// Retry: 5xx, 429, timeouts, network errors, unreadable replies. Back
	// off (at least Wait) and try again.
	Retry Action = iota
	// Park: this request's content is wrong (a 400 validation message,
	// Missing fileName, any other 4xx of a call). Park the job with the
	// error; sending it again will not help.
	Park
	// PauseCalls: the organisation's monthly allocation is used up (or it
	// is not activated). Stop call uploads, keep the queue and check the
	// Organisation later.
	PauseCalls
	// PauseChats: the organisation's monthly chat allocation is used up.
	// Stop chat uploads only; calls go on.
	PauseChats
	// PauseAll: the credentials or the configuration are wrong (a 401 that
	// survives a refresh, a refused refresh token, 403, 404). Stop
	// everything and tell the administrator the Error, which says what to
	// fix.
	PauseAll
)

// String returns "retry", "park", "pause calls" or "pause all".
func (a Action) String() string {
	switch a {
	case Retry:
		return "retry"
	case Park:
		return "park"
	case PauseCalls:
		return "pause calls"
	case PauseChats:
		return "pause chats"
	case PauseAll:
		return "pause all"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Error reads "op: status message: err; fix", leaving out what is missing,
// e.g. "presign call_001.wav: 400 Allocation exceeded; ...".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		msg := e.Message
		if msg == "" {
			msg = http.StatusText(e.Status)
		}
		fmt.Fprintf(&b, ": %d", e.Status)
		if msg != "" {
			b.WriteString(" " + msg)
		}
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Fix != "" {
		b.WriteString("; " + e.Fix)
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// RetryAfter returns the server's Retry-After, 0 if it gave none.
func (e *Error) RetryAfter() time.Duration { return e.Wait }

// Fixes named by errors. Config keys are those of the agent's YAML file.
const (
	fixLogin        = "run `vela-agent login` to get a new refresh token"
	fixStaticToken  = "the configured access token was refused; " + fixLogin
	fixFreshToken   = "a freshly refreshed access token was refused; " + fixLogin
	fixCredentials  = "check the e-mail address and password"
	fixPaths        = "check api.base_url and the API paths"
	fixCredential   = "check the api token settings"
	fixAllocationOf = "organisation %s has used its monthly call minutes or is not activated; call uploads resume when it has minutes again"
	fixChatsOf      = "organisation %s has used its monthly chat allocation; chat uploads resume when it has chats again (calls go on)"
)

// classify says what a reply of status with message means for an op of
// kind, and what an administrator should do about it. 401 replies to
// authorised calls get their final fix from the caller, which knows where
// the token came from.
func classify(kind opKind, status int, message, org string) (Action, string) {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status >= 500:
		return Retry, ""
	case status >= 300 && status < 400:
		return PauseAll, fixPaths
	case status < 300:
		return Retry, "" // 1xx: not a final reply; should not reach here
	}

	// 4xx
	switch kind {
	case opRefresh:
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return PauseAll, fixPaths
		}
		return PauseAll, fixLogin
	case opLogin:
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			return PauseAll, fixCredentials
		}
	}
	switch {
	case status == http.StatusUnauthorized:
		return PauseAll, fixLogin
	case status == http.StatusForbidden:
		return PauseAll, "check api.org_id and that the account may use it; " + fixPaths
	case status == http.StatusNotFound && (contains(message, "organisation not found") || contains(message, "organization not found")):
		return PauseAll, "check api.org_id (" + orgHint(org) + ")"
	case status == http.StatusNotFound, status == http.StatusMethodNotAllowed:
		// No recording can cause these: the endpoint is wrong.
		return PauseAll, fixPaths
	case kind == opChat && status == http.StatusBadRequest && contains(message, "chats allocation exceeded"):
		return PauseChats, fmt.Sprintf(fixChatsOf, org)
	case kind == opCall && status == http.StatusBadRequest && contains(message, "allocation exceeded"):
		return PauseCalls, fmt.Sprintf(fixAllocationOf, org)
	case kind == opCall, kind == opChat:
		return Park, ""
	}
	// Other 4xx to calls that no job caused: nothing to park, and sending
	// them again will not help.
	return PauseAll, ""
}

func orgHint(org string) string {
	if org == "" {
		return "none configured"
	}
	return "now " + org
}

// contains reports whether s contains substr, ignoring case.
func contains(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), substr)
}

// maxMessageRunes bounds an Error's Message.
const maxMessageRunes = 300

// errorMessage extracts the API's message from an error reply: the
// "message" of a JSON object (else "error", "detail", "errorMessage",
// "msg"), a JSON string, or a short plain-text body. HTML and XML pages,
// other JSON, and long text give "". Every secret is replaced by
// "[redacted]": a server that echoes a token must not put it in our logs.
func errorMessage(body []byte, secrets ...string) string {
	b := bytes.TrimSpace(body)
	var m string
	switch {
	case len(b) == 0:
		return ""
	case json.Valid(b):
		var v any
		if json.Unmarshal(b, &v) != nil {
			return ""
		}
		m = messageOf(v, 0)
	case b[0] == '<' || !utf8.Valid(b) || utf8.RuneCount(b) > maxMessageRunes:
		return ""
	default:
		m = string(b)
	}
	// Redact before shortening, which could otherwise leave half a secret.
	m = oneLine(redact(m, secrets...))
	for _, s := range secrets {
		m = redact(m, oneLine(s))
	}
	if utf8.RuneCountInString(m) > maxMessageRunes {
		m = string([]rune(m)[:maxMessageRunes]) + "…"
	}
	return m
}

// messageOf finds the message in a decoded JSON value: a string itself, or
// the message field of an object, or the first message of an array (as
// FastAPI's "detail" lists are).
func messageOf(v any, depth int) string {
	if depth > 3 {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case map[string]any:
		for _, key := range []string{"message", "error", "detail", "errormessage", "msg"} {
			for k, val := range v {
				if strings.EqualFold(k, key) {
					if m := messageOf(val, depth+1); m != "" {
						return m
					}
				}
			}
		}
	case []any:
		for _, val := range v {
			if m := messageOf(val, depth+1); m != "" {
				return m
			}
		}
	}
	return ""
}

// oneLine makes s fit one line of a log or a status page: valid UTF-8, no
// control characters, single spaces.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
}

// redact replaces every occurrence of each non-empty secret in s.
func redact(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}
