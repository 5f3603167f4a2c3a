// Package upload sends files to S3-compatible presigned POST forms.
//
// A form is sent as multipart/form-data: every field unchanged and in its
// order, then the file as the last part, named "file". The file is streamed
// from disk with an exact Content-Length (never chunked), so memory use does
// not grow with the file's size. A failed upload is an *Error whose Kind
// tells the caller whether to send again, ask for a new form, or give up.
//
// The file part's filename parameter is the Body's Name made safe for a
// header: every control character (C0, DEL, C1) and every byte of invalid
// UTF-8 becomes '_', '\' and '"' are escaped with '\', and every other
// character is sent as UTF-8. That is the form browsers send, for which S3's
// POST was made; RFC 5987's percent-encoded filename* is not sent, since a
// store that reads only filename would keep its escapes. S3 takes the
// object's key from the form's key field and ignores the file name, unless
// the key holds ${filename}: the object is then named with the safe name.
// The file's bytes are sent unchanged.
package upload

import (
	"github.com/vela-agent/vela-agent/agent/retryafter"

	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Field is one form field of a presigned POST.
type Field struct{ Name, Value string }

// Form is a presigned POST: the URL and every field to send unchanged, in order.
type Form struct {
	URL     string
	Fields  []Field
	Expires time.Time // zero if unknown
}

// Uploader sends files to presigned POST forms. Its zero value is ready to
// use, and one Uploader may run any number of Posts at once.
type Uploader struct {
	Client       *http.Client  // nil = a client made by NewClient(), shared by all Uploaders
	Limiter      *Limiter      // nil = unlimited; shared by all concurrent uploads
	StallTimeout time.Duration // abort when no body bytes were sent for this long (and no response arrived); 0 = 2m

	now func() time.Time // clock for the form's expiry; nil = time.Now
}

// Result is what the storage server said about a successful upload:
// S3 answers 201 with an XML document naming the key, ETag and location,
// and 204 or 200 with at most the ETag and Location headers.
type Result struct {
	Status   int
	ETag     string
	Location string
	Key      string
}

// DefaultStallTimeout is the StallTimeout used when an Uploader sets none.
const DefaultStallTimeout = 2 * time.Minute

// maxResponseBody bounds how much of any response body is read.
const maxResponseBody = 64 << 10

var defaultClient = sync.OnceValue(NewClient)

// Post sends the form with the body's file as its last part.
//
// The request is multipart/form-data with an exact Content-Length: every
// field unchanged in its order, then the file streamed from b.Open as the
// part named "file". b.Open is called once, and what it returned is closed
// before Post returns. If b.Ready is set, the body's last bytes wait for it
// (see Body): the server cannot store the object before Ready returned nil.
//
// progress, if not nil, is called with the number of the file's bytes sent
// so far (handed to the connection), when 100ms have passed or 1 MiB was
// sent since the previous call, and once more when the whole file was sent.
// It runs on the goroutine writing the request, so it must be quick and
// must not wait for Post; it is never called after Post returned.
//
// Post succeeds on 200, 201 or 204 (and on 303 when the form names a
// success_action_redirect; redirects are never followed). Anything else is
// an *Error, also when the file could not be read to its end, whatever the
// server answered. If the form's Expires has passed, Post returns a
// Represign error without sending anything.
func (u *Uploader) Post(ctx context.Context, f *Form, b Body, progress func(sent int64)) (*Result, error) {
	host, err := check(f, b)
	fail := func(k Kind, err error) (*Result, error) {
		return nil, &Error{Name: b.Name, Host: host, Kind: k, Err: err}
	}
	failLocal := func(err error) (*Result, error) {
		return nil, &Error{Name: b.Name, Host: host, Kind: localKind(err), Err: err, Local: true}
	}
	if err != nil {
		return fail(Permanent, err)
	}
	now := time.Now
	if u.now != nil {
		now = u.now
	}
	if !f.Expires.IsZero() && !now().Before(f.Expires) {
		return fail(Represign, fmt.Errorf("form expired at %s", f.Expires.Format(time.RFC3339)))
	}
	if err := ctx.Err(); err != nil {
		return fail(Retry, err)
	}
	src, err := b.Open()
	if err != nil {
		return failLocal(err)
	}

	rctx, cancel := context.WithCancelCause(ctx)
	head, tail, ctype := encodeForm(f.Fields, b)
	body := &body{ctx: rctx, head: head, tail: tail, src: src, size: b.Size, limiter: u.Limiter, progress: progress, ready: b.Ready}
	stall := u.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watch(rctx, cancel, stall, &body.activity, &body.waiting)
	}()
	// Stop the watchdog and the request, then close the file: once Post
	// returns, nothing of this upload runs or holds the file open.
	defer func() {
		cancel(nil)
		<-watched
		body.Close()
	}()

	req, err := http.NewRequestWithContext(rctx, http.MethodPost, f.URL, body)
	if err != nil {
		return fail(Permanent, errors.New("invalid form URL"))
	}
	req.ContentLength = int64(len(head)) + b.Size + int64(len(tail))
	req.GetBody = nil // the file is read once; never resend it on another connection
	req.Header.Set("Content-Type", ctype)
	client := *u.client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	resp, err := client.Do(req)
	if err != nil {
		// If the request was cancelled, its cause is the reason, whatever
		// the file or Ready made of the cancellation.
		if err := body.localErr(); err != nil && rctx.Err() == nil {
			return failLocal(err)
		}
		return fail(transportError(ctx, rctx, err))
	}
	defer resp.Body.Close()
	body.activity.Add(1) // the response is progress: the watchdog now guards reading its body
	data, _ := io.ReadAll(io.LimitReader(activityReader{resp.Body, &body.activity}, maxResponseBody))

	// A server may answer a body that was cut short, but the file's own
	// failure (ErrChanged above all), or Ready's, is what the caller must
	// act on.
	if err := body.localErr(); err != nil {
		return failLocal(err)
	}
	if succeeded(resp.StatusCode, f.Fields) {
		return result(resp, data), nil
	}
	return nil, responseError(resp, data, b.Name, host, now())
}

// check returns the host of the form's URL, and an error if the form or
// body cannot be sent. Errors never quote the URL: its query may hold a
// signature.
func check(f *Form, b Body) (host string, err error) {
	if f == nil {
		return "", errors.New("no form")
	}
	u, err := url.Parse(f.URL)
	switch {
	case err != nil:
		return "", errors.New("invalid form URL")
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Errorf("form URL scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return "", errors.New("form URL has no host")
	case b.Name == "":
		return u.Host, errors.New("no file name")
	case b.Open == nil:
		return u.Host, errors.New("no way to open the file")
	case b.Size < 0:
		return u.Host, fmt.Errorf("negative size %d", b.Size)
	}
	return u.Host, nil
}

// transportError says why a request that got no response failed, when
// neither the file nor Body.Ready did: it stalled, the caller cancelled it,
// or the connection failed.
func transportError(ctx, rctx context.Context, err error) (Kind, error) {
	var stalled stallError
	if errors.As(context.Cause(rctx), &stalled) {
		return Retry, stalled
	}
	if err := ctx.Err(); err != nil {
		return Retry, err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its message holds the whole URL
	}
	return Retry, err
}

// responseError reads a failure response.
func responseError(resp *http.Response, body []byte, name, host string, now time.Time) *Error {
	e := &Error{Name: name, Host: host, Status: resp.StatusCode}
	e.Code, e.Message, e.RequestID = parseError(body)
	if e.RequestID == "" {
		e.RequestID = clean(resp.Header.Get("X-Amz-Request-Id"), maxToken)
	}
	e.Wait = retryafter.Parse(resp.Header.Get("Retry-After"), now)
	e.Kind = classify(e.Status, e.Code, e.Message)
	return e
}

func (u *Uploader) client() *http.Client {
	if u.Client != nil {
		return u.Client
	}
	return defaultClient()
}

// encodeForm returns the multipart body around the file's bytes: head holds
// every field and the file part's header, tail the closing boundary. It
// writes what mime/multipart would, without its per-part header maps: the
// form is built once per upload and is most of an upload's allocations.
func encodeForm(fields []Field, b Body) (head, tail []byte, contentType string) {
	boundary := multipart.NewWriter(nil).Boundary()
	ctype := b.ContentType
	if ctype == "" {
		ctype = typeByName(b.Name)
	}
	n := 256 + len(b.Name) + len(ctype)
	for _, f := range fields {
		n += len(boundary) + len(f.Name) + len(f.Value) + 64
	}
	buf := make([]byte, 0, n)
	for _, f := range fields {
		buf = append(buf, "--"+boundary+"\r\n"+`Content-Disposition: form-data; name="`...)
		buf = append(buf, quoteEscaper.Replace(f.Name)...)
		buf = append(buf, "\"\r\n\r\n"...)
		buf = append(buf, f.Value...)
		buf = append(buf, "\r\n"...)
	}
	buf = append(buf, "--"+boundary+"\r\n"+`Content-Disposition: form-data; name="file"; filename="`...)
	buf = appendFileName(buf, b.Name, true)
	buf = append(buf, "\"\r\nContent-Type: "+ctype+"\r\n\r\n"...)
	tail = []byte("\r\n--" + boundary + "--\r\n")
	return buf, tail, "multipart/form-data; boundary=" + boundary
}

// quoteEscaper escapes a name in a Content-Disposition header as
// mime/multipart does.
var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

// appendFileName appends name as the file part's filename parameter, for
// a quoted string if quote is set: every control character (C0, DEL and
// C1) and every byte that is not valid UTF-8 becomes '_', and, if quote is
// set, '\' and '"' are escaped with '\' as mime/multipart does.
// Everything else, non-ASCII letters included, is kept as UTF-8, as
// browsers send it. A raw CR or LF would end the part's header early and
// other control characters make S3 refuse the form, for ever.
func appendFileName(buf []byte, name string, quote bool) []byte {
	for i := 0; i < len(name); {
		r, n := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && n == 1, r < 0x20, r >= 0x7f && r <= 0x9f:
			buf = append(buf, '_')
		case quote && (r == '\\' || r == '"'):
			buf = append(buf, '\\', byte(r))
		default:
			buf = append(buf, name[i:i+n]...)
		}
		i += n
	}
	return buf
}

// sentName is the file name a server reads from the filename parameter
// that Post sends for name.
func sentName(name string) string { return string(appendFileName(nil, name, false)) }

// succeeded reports whether status means the object was stored.
func succeeded(status int, fields []Field) bool {
	switch status {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
		return true
	case http.StatusSeeOther:
		// S3 answers a form with success_action_redirect (or the older
		// redirect) by sending the browser on, which Post does not follow.
		for _, f := range fields {
			if strings.EqualFold(f.Name, "success_action_redirect") || strings.EqualFold(f.Name, "redirect") {
				return true
			}
		}
	}
	return false
}

// result reads a success response: the headers, then S3's XML document if
// the policy asked for 201.
func result(resp *http.Response, body []byte) *Result {
	r := &Result{
		Status:   resp.StatusCode,
		ETag:     resp.Header.Get("ETag"),
		Location: resp.Header.Get("Location"),
	}
	var doc struct{ Location, Key, ETag string }
	if xml.Unmarshal(body, &doc) == nil {
		r.Key = doc.Key
		if doc.ETag != "" {
			r.ETag = doc.ETag
		}
		if doc.Location != "" {
			r.Location = doc.Location
		}
	}
	return r
}
