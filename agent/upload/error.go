package upload

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Error is a failed upload. Kind tells the caller what to do.
//
// Its message names the file and the host, never the URL's query or the
// form's values: the policy, signature and security token are secrets.
type Error struct {
	Name      string        // the Body's Name (the filename parameter sent is this name made safe)
	Host      string        // the host of the form's URL
	Status    int           // 0 for transport errors
	Code      string        // S3 XML <Code>, e.g. AccessDenied, EntityTooLarge, SlowDown
	Message   string        // S3 XML <Message>, or the start of a body that is not S3 XML
	RequestID string        // S3 XML <RequestId> or the x-amz-request-id header, for the storage provider's support
	Wait      time.Duration // from Retry-After (seconds or HTTP date, at most a day), 0 if none
	Kind      Kind
	Err       error // underlying transport or file error, if any

	// Local is set when the failure was on this machine, not at the
	// remote: the file could not be opened or read (permission denied,
	// an I/O error, ErrChanged, not existing), or Body.Ready failed. Kind
	// still says whether to send this file again; a local failure says
	// nothing about the storage, so it must never slow down or pause
	// other uploads.
	Local bool
}

// Error returns, for example, "upload call_001.wav to bucket.s3.amazonaws.com:
// 403 AccessDenied: Invalid according to Policy: Policy expired." A name
// holding a control character or invalid UTF-8 is quoted, Go-style.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("upload ")
	if !utf8.ValidString(e.Name) || strings.ContainsFunc(e.Name, unicode.IsControl) {
		b.WriteString(strconv.Quote(e.Name)) // keep the message on one line, and the name recognisable
	} else {
		b.WriteString(e.Name)
	}
	if e.Host != "" {
		b.WriteString(" to ")
		b.WriteString(e.Host)
	}
	b.WriteString(": ")
	switch {
	case e.Status != 0:
		b.WriteString(strconv.Itoa(e.Status))
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		} else if t := http.StatusText(e.Status); t != "" {
			b.WriteString(" " + t)
		}
		if e.Message != "" {
			b.WriteString(": " + e.Message)
		}
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("failed")
	}
	return b.String()
}

// RetryAfter returns the server's Retry-After, 0 if it gave none.
func (e *Error) RetryAfter() time.Duration { return e.Wait }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Kind is what to do after a failed upload.
type Kind int

const (
	// Retry: send again later with the same form. 5xx, 408, 429, SlowDown
	// and other throttling codes, timeouts, stalls, connection resets, EOF
	// mid-body, every other transport failure, and files that could not be
	// opened or read for a reason other than ErrChanged or not existing,
	// and a failed Body.Ready (those two have Local set: back off this
	// file only). Honour Wait (RetryAfter) when it is set.
	Retry Kind = iota

	// Represign: the form is no good any more; ask for a new one. The
	// form's Expires has passed (checked before sending: no request is
	// made), ExpiredToken, AccessDenied saying something expired, and the
	// signature failures that key rotation causes (InvalidAccessKeyId,
	// InvalidToken, SignatureDoesNotMatch). Any other AccessDenied is
	// Represign too: a new form may carry new credentials. A form's
	// policy conditions are not fixed by a new form, so AccessDenied
	// "Invalid according to Policy" without "expired" is Permanent. A new
	// form costs a presign at Vela: the caller counts attempts and gives
	// up when a fresh form is denied as well.
	Represign

	// Permanent: this file will not go with a new form either: 4xx such as
	// EntityTooLarge, EntityTooSmall, InvalidArgument, a policy condition
	// failed, a file that changed (ErrChanged) or no longer exists (both
	// with Local set), or a form that cannot be sent at all.
	Permanent
)

// String returns "retry", "represign" or "permanent".
func (k Kind) String() string {
	switch k {
	case Retry:
		return "retry"
	case Represign:
		return "represign"
	case Permanent:
		return "permanent"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// classify decides what to do after the server answered status with an S3
// error code and message.
func classify(status int, code, message string) Kind {
	switch code {
	case "ExpiredToken", "TokenRefreshRequired", "InvalidAccessKeyId", "InvalidToken", "SignatureDoesNotMatch":
		return Represign
	case "AccessDenied":
		msg := strings.ToLower(message)
		if !strings.Contains(msg, "expired") && strings.Contains(msg, "invalid according to policy") {
			return Permanent
		}
		return Represign
	case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling",
		"ThrottlingException", "RequestLimitExceeded", "OperationAborted", "IncompleteBody":
		return Retry
	}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return Retry
	case status >= 400:
		return Permanent
	}
	return Retry // an unexpected 2xx or 3xx, e.g. 307 to a bucket's new region
}

// Limits of what is kept from an error body.
const (
	maxToken   = 128 // Code, RequestId
	maxMessage = 512 // Message of an S3 XML error
	maxSnippet = 200 // start of a body that is not an S3 XML error
)

// parseError reads an error response's body. An S3 XML error gives its Code,
// Message and RequestId; anything else gives a short snippet of itself as the
// message. Every result is valid UTF-8 on one line.
func parseError(body []byte) (code, message, requestID string) {
	var doc struct {
		XMLName   xml.Name
		Code      string
		Message   string
		RequestID string `xml:"RequestId"`
	}
	if xml.Unmarshal(body, &doc) == nil && doc.XMLName.Local == "Error" {
		return clean(doc.Code, maxToken), clean(doc.Message, maxMessage), clean(doc.RequestID, maxToken)
	}
	return "", clean(string(body), maxSnippet), ""
}

// clean returns s as one line of valid UTF-8 of printable characters: runs
// of white space and unprintable characters become one space, and the
// result is cut to at most limit bytes.
func clean(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			if b.Len()+1+utf8.RuneLen(r) > limit {
				break
			}
			b.WriteByte(' ')
			space = false
		}
		if b.Len()+utf8.RuneLen(r) > limit {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
