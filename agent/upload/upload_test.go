package upload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// received is what the recording server saw of one request.
type received struct {
	proto            int // HTTP major version
	contentLength    int64
	transferEncoding []string
	bodyBytes        int64 // bytes actually read from the body
	fields           []Field
	fileName         string
	fileType         string
	fileSum          [32]byte
	fileSize         int64
	err              error // why the body was not a complete, well-formed form
}

// recorder is a storage server that parses every request's multipart body
// as it streams in, records it, and then answers with respond (204 if nil).
type recorder struct {
	URL     string
	respond func(w http.ResponseWriter, r *http.Request)

	mu   sync.Mutex
	reqs []received
}

func newRecorder(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{respond: respond}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// newTLSRecorder is newRecorder speaking HTTP/2 over TLS, with a client
// that trusts it.
func newTLSRecorder(t *testing.T) (*recorder, *http.Client) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(rec)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec, srv.Client()
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got := received{proto: r.ProtoMajor, contentLength: r.ContentLength, transferEncoding: r.TransferEncoding}
	cr := &countingReader{r: r.Body}
	got.err = readForm(r.Header.Get("Content-Type"), cr, &got)
	if got.err == nil {
		if n, _ := io.Copy(io.Discard, cr); n > 0 {
			got.err = fmt.Errorf("%d bytes after the closing boundary", n)
		}
	}
	got.bodyBytes = cr.n
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, got)
	rec.mu.Unlock()
	if rec.respond != nil {
		rec.respond(w, r)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rec *recorder) requests() []received {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.reqs)
}

// readForm parses a multipart form whose last part must be the file.
func readForm(contentType string, body io.Reader, got *received) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" {
		return fmt.Errorf("content type %q", contentType)
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return errors.New("no file part")
		}
		if err != nil {
			return err
		}
		if p.FormName() != "file" {
			v, err := io.ReadAll(p)
			if err != nil {
				return err
			}
			got.fields = append(got.fields, Field{p.FormName(), string(v)})
			continue
		}
		got.fileName, got.fileType = p.FileName(), p.Header.Get("Content-Type")
		h := sha256.New()
		if got.fileSize, err = io.Copy(h, p); err != nil {
			return err
		}
		h.Sum(got.fileSum[:0])
		if _, err := mr.NextPart(); err != io.EOF {
			return fmt.Errorf("a part after the file (%v)", err)
		}
		return nil
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// randomFile writes size random bytes to a new file and returns its path
// and SHA-256.
func randomFile(t testing.TB, size int64) (string, [32]byte) {
	t.Helper()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{byte(size)}).Read(data)
	path := filepath.Join(t.TempDir(), "call.wav")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, sha256.Sum256(data)
}

// readerBody is a Body reading from a fixed reader.
func readerBody(name string, size int64, r io.Reader) Body {
	return Body{Name: name, Size: size, Open: func() (io.ReadCloser, error) { return io.NopCloser(r), nil }}
}

// zeros reads zero bytes for ever.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// s3Fields are the fields of a typical presigned POST, with secrets to look for in messages.
var s3Fields = []Field{
	{"key", "org/1234/${filename}"},
	{"Content-Type", "audio/wav"},
	{"x-amz-algorithm", "AWS4-HMAC-SHA256"},
	{"x-amz-credential", "AKIASECRETCREDENTIAL/20250115/af-south-1/s3/aws4_request"},
	{"x-amz-date", "20250115T100000Z"},
	{"x-amz-security-token", "SECRET-SESSION-TOKEN+/="},
	{"policy", "eyJTRUNSRVQtUE9MSUNZIjogdHJ1ZX0="},
	{"x-amz-signature", "5ecre75194a7u4e"},
}

func TestPostSends(t *testing.T) {
	path, sum := randomFile(t, 3<<20+7)
	const tail = "the end"
	tests := []struct {
		name     string
		fields   []Field
		body     Body
		wantSum  [32]byte
		wantType string
	}{
		{
			name:     "S3 form and a file",
			fields:   s3Fields,
			body:     FileBody(path, "call_001.wav", 3<<20+7),
			wantSum:  sum,
			wantType: "audio/wav",
		},
		{
			name: "values kept byte for byte",
			fields: []Field{
				{"b", "line one\r\nline two\n"}, {"a", `quote " and \ backslash`}, {"a", "repeated"},
				{"empty", ""}, {"ünï", "çødé ✓"}, {"spaces", "  padded  "},
			},
			body:     readerBody(`call "1" ✓.MP3`, int64(len(tail)), strings.NewReader(tail)),
			wantSum:  sha256.Sum256([]byte(tail)),
			wantType: "audio/mpeg",
		},
		{
			name:     "no fields, empty file",
			body:     readerBody("empty.flac", 0, strings.NewReader("")),
			wantSum:  sha256.Sum256(nil),
			wantType: "audio/flac",
		},
		{
			name:     "reader longer than Size: Size bytes sent",
			fields:   []Field{{"key", "k"}},
			body:     readerBody("x.bin", 3, strings.NewReader(tail)),
			wantSum:  sha256.Sum256([]byte(tail[:3])),
			wantType: "application/octet-stream",
		},
		{
			name:     "explicit content type",
			body:     Body{Name: "x.wav", ContentType: "audio/x-wav", Size: 1, Open: readerBody("", 1, strings.NewReader("x")).Open},
			wantSum:  sha256.Sum256([]byte("x")),
			wantType: "audio/x-wav",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			var reports []int64
			res, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: tt.fields}, tt.body, func(n int64) {
				reports = append(reports, n)
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != http.StatusNoContent {
				t.Errorf("status %d, want 204", res.Status)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.err != nil {
				t.Fatalf("server: %v", got.err)
			}
			if got.contentLength <= 0 || got.contentLength != got.bodyBytes {
				t.Errorf("Content-Length %d, body %d bytes", got.contentLength, got.bodyBytes)
			}
			if len(got.transferEncoding) != 0 {
				t.Errorf("Transfer-Encoding %q", got.transferEncoding)
			}
			if !slices.Equal(got.fields, tt.fields) {
				t.Errorf("fields\n got %q\nwant %q", got.fields, tt.fields)
			}
			if got.fileName != tt.body.Name || got.fileType != tt.wantType {
				t.Errorf("file %q of type %q, want %q of type %q", got.fileName, got.fileType, tt.body.Name, tt.wantType)
			}
			if got.fileSum != tt.wantSum || got.fileSize != tt.body.Size {
				t.Errorf("file of %d bytes differs from the %d sent", got.fileSize, tt.body.Size)
			}
			if !slices.IsSorted(reports) || (tt.body.Size > 0 && reports[len(reports)-1] != tt.body.Size) {
				t.Errorf("progress %v, want rising to %d", reports, tt.body.Size)
			}
		})
	}
}

func TestPostHTTP2(t *testing.T) {
	rec, client := newTLSRecorder(t)
	path, sum := randomFile(t, 1<<20+1)
	res, err := (&Uploader{Client: client}).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, FileBody(path, "call_001.wav", 1<<20+1), nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || res.Status != http.StatusNoContent {
		t.Fatalf("%d requests, status %d", len(reqs), res.Status)
	}
	got := reqs[0]
	if got.err != nil || got.proto != 2 || got.contentLength != got.bodyBytes || len(got.transferEncoding) != 0 ||
		!slices.Equal(got.fields, s3Fields) || got.fileSum != sum {
		t.Errorf("server got HTTP/%d, Content-Length %d of %d bytes, %q, %v", got.proto, got.contentLength, got.bodyBytes, got.fields, got.err)
	}
}

// TestPostInterimResponse checks that a 100 Continue the client did not ask
// for is passed over.
func TestPostInterimResponse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		served <- func() error {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				return err
			}
			if _, err := io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"); err != nil {
				return err
			}
			var got received
			if err := readForm(req.Header.Get("Content-Type"), req.Body, &got); err != nil {
				return err
			}
			_, err = io.WriteString(c, "HTTP/1.1 204 No Content\r\nETag: \"e\"\r\n\r\n")
			return err
		}()
	}()
	res, err := new(Uploader).Post(t.Context(), &Form{URL: "http://" + ln.Addr().String(), Fields: s3Fields}, readerBody("a.wav", 3, strings.NewReader("abc")), nil)
	if err != nil || res.Status != http.StatusNoContent || res.ETag != `"e"` {
		t.Errorf("got %+v, %v", res, err)
	}
	ln.Close() // if the client never came
	if err := <-served; err != nil {
		t.Errorf("server: %v", err)
	}
}

// xmlError is an S3 error document.
func xmlError(code, message string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n<Error><Code>" + code + "</Code><Message>" + message +
		"</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>host/id=</HostId></Error>"
}

func answer(status int, header map[string]string, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func TestPostResponses(t *testing.T) {
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	redirect := append(slices.Clone(s3Fields), Field{"success_action_redirect", "https://example.com/done"})
	tests := []struct {
		name    string
		fields  []Field
		respond func(http.ResponseWriter, *http.Request)
		want    *Result
		wantErr *Error // compared on Status, Code, Message, RequestID, Wait, Kind
	}{
		{
			name:    "204 with headers",
			respond: answer(204, map[string]string{"ETag": `"abc"`, "Location": "https://b.example/k"}, ""),
			want:    &Result{Status: 204, ETag: `"abc"`, Location: "https://b.example/k"},
		},
		{
			name: "201 with XML",
			respond: answer(201, map[string]string{"ETag": `"abc"`}, `<?xml version="1.0" encoding="UTF-8"?>
<PostResponse><Location>https://b.example/org%2Fcall.wav</Location><Bucket>b</Bucket><Key>org/call.wav</Key><ETag>"def"</ETag></PostResponse>`),
			want: &Result{Status: 201, ETag: `"def"`, Location: "https://b.example/org%2Fcall.wav", Key: "org/call.wav"},
		},
		{
			name:    "200 empty",
			respond: answer(200, nil, ""),
			want:    &Result{Status: 200},
		},
		{
			name:    "303 to success_action_redirect",
			fields:  redirect,
			respond: answer(303, map[string]string{"Location": "https://example.com/done?key=k"}, ""),
			want:    &Result{Status: 303, Location: "https://example.com/done?key=k"},
		},
		{
			name:    "303 without asking for it",
			respond: answer(303, map[string]string{"Location": "https://example.com/"}, ""),
			wantErr: &Error{Status: 303, Kind: Retry},
		},
		{
			name:    "policy expired",
			respond: answer(403, nil, xmlError("AccessDenied", "Invalid according to Policy: Policy expired.")),
			wantErr: &Error{Status: 403, Code: "AccessDenied", Message: "Invalid according to Policy: Policy expired.", RequestID: "4442587FB7D0A2F9", Kind: Represign},
		},
		{
			name:    "request expired",
			respond: answer(403, nil, xmlError("AccessDenied", "Request has expired")),
			wantErr: &Error{Status: 403, Code: "AccessDenied", Message: "Request has expired", RequestID: "4442587FB7D0A2F9", Kind: Represign},
		},
		{
			name:    "token expired",
			respond: answer(400, nil, xmlError("ExpiredToken", "The provided token has expired.")),
			wantErr: &Error{Status: 400, Code: "ExpiredToken", Message: "The provided token has expired.", RequestID: "4442587FB7D0A2F9", Kind: Represign},
		},
		{
			name:    "signature mismatch",
			respond: answer(403, nil, xmlError("SignatureDoesNotMatch", "The request signature we calculated does not match")),
			wantErr: &Error{Status: 403, Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match", RequestID: "4442587FB7D0A2F9", Kind: Represign},
		},
		{
			name:    "policy condition failed",
			respond: answer(403, nil, xmlError("AccessDenied", `Invalid according to Policy: Policy Condition failed: ["eq", "$key", "a"]`)),
			wantErr: &Error{Status: 403, Code: "AccessDenied", Message: `Invalid according to Policy: Policy Condition failed: ["eq", "$key", "a"]`, RequestID: "4442587FB7D0A2F9", Kind: Permanent},
		},
		{
			name:    "entity too large",
			respond: answer(400, nil, xmlError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")),
			wantErr: &Error{Status: 400, Code: "EntityTooLarge", Message: "Your proposed upload exceeds the maximum allowed size", RequestID: "4442587FB7D0A2F9", Kind: Permanent},
		},
		{
			name:    "slow down with Retry-After seconds",
			respond: answer(503, map[string]string{"Retry-After": "7"}, xmlError("SlowDown", "Please reduce your request rate.")),
			wantErr: &Error{Status: 503, Code: "SlowDown", Message: "Please reduce your request rate.", RequestID: "4442587FB7D0A2F9", Wait: 7 * time.Second, Kind: Retry},
		},
		{
			name:    "429 with Retry-After date",
			respond: answer(429, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat), "X-Amz-Request-Id": "R1"}, ""),
			wantErr: &Error{Status: 429, RequestID: "R1", Wait: 90 * time.Second, Kind: Retry},
		},
		{
			name:    "request timeout",
			respond: answer(400, nil, xmlError("RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.")),
			wantErr: &Error{Status: 400, Code: "RequestTimeout", Message: "Your socket connection to the server was not read from or written to within the timeout period.", RequestID: "4442587FB7D0A2F9", Kind: Retry},
		},
		{
			name:    "HTML from a proxy",
			respond: answer(502, nil, "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n"),
			wantErr: &Error{Status: 502, Message: "<html> <head><title>502 Bad Gateway</title></head> <body>nginx</body> </html>", Kind: Retry},
		},
		{
			name:    "other 4xx",
			respond: answer(404, nil, xmlError("NoSuchBucket", "The specified bucket does not exist")),
			wantErr: &Error{Status: 404, Code: "NoSuchBucket", Message: "The specified bucket does not exist", RequestID: "4442587FB7D0A2F9", Kind: Permanent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, tt.respond)
			fields := tt.fields
			if fields == nil {
				fields = s3Fields
			}
			f := &Form{URL: rec.URL + "/?X-Amz-Signature=secretquery", Fields: fields, Expires: now.Add(time.Hour)}
			u := &Uploader{now: func() time.Time { return now }}
			res, err := u.Post(t.Context(), f, readerBody("call_001.wav", 5, strings.NewReader("12345")), nil)
			if got := rec.requests(); len(got) != 1 || got[0].err != nil {
				t.Fatalf("server got %+v", got)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if *res != *tt.want {
					t.Errorf("got %+v, want %+v", *res, *tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, %v; want *Error", res, err)
			}
			w := tt.wantErr
			if e.Status != w.Status || e.Code != w.Code || e.Message != w.Message || e.RequestID != w.RequestID ||
				e.Wait != w.Wait || e.Kind != w.Kind {
				t.Errorf("got  %+v\nwant %+v", *e, *w)
			}
			checkMessage(t, err, f)
		})
	}
}

// checkMessage checks that an error names the file and host but no secret.
func checkMessage(t *testing.T, err error, f *Form) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "upload call_001.wav to 127.0.0.1:") {
		t.Errorf("message %q does not name the file and host", msg)
	}
	if strings.Contains(msg, "secret") || strings.Contains(msg, "?") {
		t.Errorf("message %q shows the URL's query", msg)
	}
	for _, fl := range f.Fields {
		if len(fl.Value) > 8 && strings.Contains(msg, fl.Value) {
			t.Errorf("message %q shows field %s", msg, fl.Name)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	rec := newRecorder(t, answer(403, nil, xmlError("AccessDenied", "Invalid according to Policy: Policy expired.")))
	_, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, readerBody("call_001.wav", 1, strings.NewReader("x")), nil)
	want := "upload call_001.wav to " + strings.TrimPrefix(rec.URL, "http://") + ": 403 AccessDenied: Invalid according to Policy: Policy expired."
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// silentServer accepts connections and never reads from them.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "http://" + ln.Addr().String() + "/?X-Amz-Signature=secretquery"
}

// hangUp reads a little of the request's body, then drops the connection,
// with a reset if reset is set.
func hangUp(reset bool) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 64<<10)
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if reset {
			c.(*net.TCPConn).SetLinger(0)
		}
		c.Close()
	}
}

func TestPostTransportFailures(t *testing.T) {
	big := readerBody("call_001.wav", 1<<40, zeros{})
	tests := []struct {
		name  string
		url   func(t *testing.T) string
		body  Body
		stall bool // the error must be a stall
	}{
		{
			name: "connection reset mid-body",
			url: func(t *testing.T) string {
				srv := httptest.NewServer(http.HandlerFunc(hangUp(true)))
				t.Cleanup(srv.Close)
				return srv.URL + "/?X-Amz-Signature=secretquery"
			},
			body: readerBody("call_001.wav", 8<<20, zeros{}),
		},
		{
			name: "EOF mid-body",
			url: func(t *testing.T) string {
				srv := httptest.NewServer(http.HandlerFunc(hangUp(false)))
				t.Cleanup(srv.Close)
				return srv.URL + "/?X-Amz-Signature=secretquery"
			},
			body: readerBody("call_001.wav", 8<<20, zeros{}),
		},
		{
			name: "connection refused",
			url: func(t *testing.T) string {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				ln.Close()
				return "http://" + ln.Addr().String() + "/?X-Amz-Signature=secretquery"
			},
			body: big,
		},
		{
			name:  "server stops reading the body",
			url:   silentServer,
			body:  big,
			stall: true,
		},
		{
			name: "no response after the body",
			url: func(t *testing.T) string {
				rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
				return rec.URL + "/?X-Amz-Signature=secretquery"
			},
			body:  readerBody("call_001.wav", 1<<20, zeros{}),
			stall: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Form{URL: tt.url(t), Fields: s3Fields}
			u := &Uploader{StallTimeout: 200 * time.Millisecond}
			_, err := u.Post(t.Context(), f, tt.body, nil)
			var e *Error
			if !errors.As(err, &e) || e.Kind != Retry || e.Status != 0 || e.Err == nil {
				t.Fatalf("got %#v, want a Retry transport error", err)
			}
			t.Log(err)
			var stalled stallError
			if got := errors.As(err, &stalled); got != tt.stall {
				t.Errorf("stalled = %v, want %v: %v", got, tt.stall, err)
			}
			if tt.stall && !strings.HasSuffix(err.Error(), ": no progress for 200ms") {
				t.Errorf("message %q", err)
			}
			checkMessage(t, err, f)
		})
	}
}

func TestPostCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f := &Form{URL: silentServer(t), Fields: s3Fields}
	_, err := new(Uploader).Post(ctx, f, readerBody("call_001.wav", 1<<40, zeros{}), func(int64) { cancel() })
	var e *Error
	if !errors.Is(err, context.Canceled) || !errors.As(err, &e) || e.Kind != Retry {
		t.Fatalf("got %v, want a Retry wrapping context.Canceled", err)
	}
	checkMessage(t, err, f)
}

func TestPostRefusesBeforeSending(t *testing.T) {
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	path, _ := randomFile(t, 100)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		form    func(url string) *Form
		body    Body
		kind    Kind
		wantErr error
	}{
		{"form expired", t.Context(), func(url string) *Form { return &Form{URL: url, Fields: s3Fields, Expires: now} }, FileBody(path, "call_001.wav", 100), Represign, nil},
		{"size differs at open", t.Context(), nil, FileBody(path, "call_001.wav", 99), Permanent, ErrChanged},
		{"file gone", t.Context(), nil, FileBody(path+".gone", "call_001.wav", 100), Permanent, fs.ErrNotExist},
		{"not a file", t.Context(), nil, FileBody(filepath.Dir(path), "call_001.wav", 100), Permanent, ErrChanged},
		{"context done", cancelled, nil, FileBody(path, "call_001.wav", 100), Retry, context.Canceled},
		{"no form", t.Context(), func(string) *Form { return nil }, FileBody(path, "call_001.wav", 100), Permanent, nil},
		{"not http", t.Context(), func(string) *Form { return &Form{URL: "ftp://127.0.0.1/x"} }, FileBody(path, "call_001.wav", 100), Permanent, nil},
		{"no name", t.Context(), nil, FileBody(path, "", 100), Permanent, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			f := &Form{URL: rec.URL, Fields: s3Fields, Expires: now.Add(time.Second)}
			if tt.form != nil {
				f = tt.form(rec.URL)
			}
			u := &Uploader{now: func() time.Time { return now }}
			_, err := u.Post(tt.ctx, f, tt.body, nil)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("got %v, want a %v error wrapping %v", err, tt.kind, tt.wantErr)
			}
			if n := len(rec.requests()); n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

// TestPostChanged checks that a file that changes while it is sent fails the
// upload before the server has all of it.
func TestPostChanged(t *testing.T) {
	const size = 4 << 20
	tests := []struct {
		name   string
		change func(t *testing.T, path string) // at the first progress report; nil = a reader that ends early
	}{
		{"reader ends early", nil},
		{"file grows", appendTo},
		{"file touched", func(t *testing.T, path string) {
			if err := os.Chtimes(path, time.Time{}, time.Now().Add(time.Hour)); err != nil {
				t.Error(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			path, _ := randomFile(t, size)
			b := FileBody(path, "call_001.wav", size)
			if tt.change == nil {
				b = readerBody("call_001.wav", size, io.LimitReader(zeros{}, size-1))
			}
			var once sync.Once
			_, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, b, func(int64) {
				if tt.change != nil {
					once.Do(func() { tt.change(t, path) })
				}
			})
			var e *Error
			if !errors.Is(err, ErrChanged) || !errors.As(err, &e) || e.Kind != Permanent || !e.Local {
				t.Fatalf("got %v, want a local Permanent error wrapping ErrChanged", err)
			}
			for _, r := range rec.requests() {
				if r.err == nil {
					t.Errorf("the server received a whole form: %+v", r)
				}
			}
		})
	}
}

func appendTo(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString("more"); err != nil {
		t.Error(err)
	}
}

// TestPostMemory checks that the file is streamed: sending 200 MB does not
// grow the heap by more than a few buffers.
func TestPostMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 200 MB")
	}
	const size = 200 << 20
	path := filepath.Join(t.TempDir(), "big.wav")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(f.Truncate(size), f.Close()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	_, err = new(Uploader).Post(t.Context(), &Form{URL: srv.URL, Fields: s3Fields}, FileBody(path, "big.wav", size), func(int64) {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	})
	if err != nil {
		t.Fatal(err)
	}
	grew := int64(peak) - int64(base)
	t.Logf("heap in use grew by %d KiB", grew>>10)
	if grew > 16<<20 {
		t.Errorf("heap grew by %d MB sending %d MB", grew>>20, size>>20)
	}
}

// TestPostLimited checks that limited uploads, alone or together, take at
// least as long as the limit allows. Only the lower bound is checked.
func TestPostLimited(t *testing.T) {
	const rate = 512 << 10
	for _, uploads := range []int{1, 2} {
		t.Run(fmt.Sprint(uploads, " uploads"), func(t *testing.T) {
			rec := newRecorder(t, nil)
			u := &Uploader{Limiter: NewLimiter(rate, nil, time.UTC)}
			const size = 384 << 10
			start := time.Now()
			var wg sync.WaitGroup
			for range uploads {
				wg.Go(func() {
					if _, err := u.Post(t.Context(), &Form{URL: rec.URL}, readerBody("call_001.wav", size, zeros{}), nil); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			// The bucket holds maxChunk bytes at the start; the rest waits.
			least := time.Duration(float64(uploads*size-maxChunk) / rate * float64(time.Second) * 0.9)
			if took := time.Since(start); took < least {
				t.Errorf("%d×%d bytes at %d bytes/s took %v, less than %v", uploads, size, rate, took, least)
			}
		})
	}
}

func TestTypeByName(t *testing.T) {
	for name, want := range map[string]string{
		"a.wav": "audio/wav", "A.WAV": "audio/wav", "b.mp3": "audio/mpeg", "c.m4a": "audio/mp4",
		"d.flac": "audio/flac", "e.zip": "application/zip", "f.json": "application/json",
		"g.ogg": "application/octet-stream", "noext": "application/octet-stream", "dir.wav/x": "application/octet-stream",
	} {
		if got := typeByName(name); got != want {
			t.Errorf("typeByName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestBodyAfterClose(t *testing.T) {
	b := &body{ctx: t.Context(), src: io.NopCloser(zeros{}), size: 10}
	b.Close()
	if n, err := b.Read(make([]byte, 4)); n != 0 || err != errClosed {
		t.Errorf("Read after Close = %d, %v", n, err)
	}
	if err := b.Close(); err != nil {
		t.Error(err)
	}
}

// The hand-written form parses back, through mime/multipart, into the same
// fields in the same order, whatever their names hold.
func TestEncodeFormParsesBack(t *testing.T) {
	fields := []Field{
		{"key", "org/2025/call.wav"},
		{`odd"name`, "v1"},
		{`back\slash`, "v2"},
		{"x-amz-meta-ünï", "välue with spaces\r\nand a newline"},
		{"empty", ""},
	}
	body := Body{Name: `rec "1".wav`, Size: 3}
	head, tail, ctype := encodeForm(fields, body)
	_, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(append([]byte{}, head...), "abc"...), tail...)
	r := multipart.NewReader(bytes.NewReader(all), params["boundary"])
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err == io.EOF {
			if i != len(fields)+1 {
				t.Fatalf("%d parts, want %d", i, len(fields)+1)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(p)
		if i < len(fields) {
			if p.FormName() != fields[i].Name || string(data) != fields[i].Value {
				t.Errorf("part %d = %q: %q, want %q: %q", i, p.FormName(), data, fields[i].Name, fields[i].Value)
			}
			continue
		}
		if p.FormName() != "file" || p.FileName() != body.Name || string(data) != "abc" || p.Header.Get("Content-Type") != "audio/wav" {
			t.Errorf("file part = %q %q %q %q", p.FormName(), p.FileName(), data, p.Header.Get("Content-Type"))
		}
	}
}

// fileNames are names that a recorder may write and that must still upload,
// with the name the server reads for each.
var fileNames = []struct{ name, want string }{
	{"call_001.wav", "call_001.wav"},
	{"line\rbreak.wav", "line_break.wav"},
	{"line\nfeed.wav", "line_feed.wav"},
	{"crlf\r\nContent-Type: text-html\r\n\r\n.wav", "crlf__Content-Type: text-html____.wav"},
	{"\x1b[31mred\x1b[0m.wav", "_[31mred_[0m.wav"},
	{"nul\x00.wav", "nul_.wav"},
	{"tab\tdel\x7f.wav", "tab_del_.wav"},
	{"c1\u0085\u009b.wav", "c1__.wav"},
	{"bad\xff\xfeutf8\xc3.wav", "bad__utf8_.wav"},
	{"café é.wav", "café é.wav"},
	{"日本語の通話.mp3", "日本語の通話.mp3"},
	{"replacement \uFFFD kept.wav", "replacement \uFFFD kept.wav"},
	{`quote " and \ backslash.wav`, `quote " and \ backslash.wav`},
	{`trailing backslash\`, `trailing backslash\`},
}

// TestPostFileNames checks that a name with control characters or invalid
// UTF-8 still makes a form that parses, with a safe name and the file's
// bytes unchanged.
func TestPostFileNames(t *testing.T) {
	const data = "RIFF\r\n--not a boundary\x00\xff"
	for _, tt := range fileNames {
		t.Run(fmt.Sprintf("%q", tt.name), func(t *testing.T) {
			if got := sentName(tt.name); got != tt.want {
				t.Errorf("sentName = %q, want %q", got, tt.want)
			}
			rec := newRecorder(t, nil)
			_, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, readerBody(tt.name, int64(len(data)), strings.NewReader(data)), nil)
			if err != nil {
				t.Fatal(err)
			}
			reqs := rec.requests()
			if len(reqs) != 1 || reqs[0].err != nil {
				t.Fatalf("server got %+v", reqs)
			}
			if got := reqs[0]; got.fileName != tt.want || got.fileSum != sha256.Sum256([]byte(data)) || !slices.Equal(got.fields, s3Fields) {
				t.Errorf("server got file %q of %d bytes, fields %q; want %q", got.fileName, got.fileSize, got.fields, tt.want)
			}
		})
	}
}

// FuzzFileName checks that any name gives a form that parses back, through
// mime/multipart, with the file part's filename parameter equal to
// sentName, holding no control character, and the file's bytes unchanged.
func FuzzFileName(f *testing.F) {
	for _, tt := range fileNames {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" {
			return
		}
		head, tail, ctype := encodeForm(s3Fields, Body{Name: name, Size: 3})
		_, params, err := mime.ParseMediaType(ctype)
		if err != nil {
			t.Fatal(err)
		}
		all := append(append(append([]byte{}, head...), "a\r\n"...), tail...)
		r := multipart.NewReader(bytes.NewReader(all), params["boundary"])
		for range s3Fields {
			if _, err := r.NextPart(); err != nil {
				t.Fatal(err)
			}
		}
		p, err := r.NextPart()
		if err != nil {
			t.Fatalf("file part: %v", err)
		}
		_, disp, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if err != nil {
			t.Fatalf("Content-Disposition %q: %v", p.Header.Get("Content-Disposition"), err)
		}
		got := disp["filename"]
		if want := sentName(name); got != want || disp["name"] != "file" {
			t.Fatalf("filename %q, want %q", got, want)
		}
		if !utf8.ValidString(got) || strings.ContainsFunc(got, unicode.IsControl) {
			t.Fatalf("filename %q holds a control character or invalid UTF-8", got)
		}
		if data, err := io.ReadAll(p); err != nil || string(data) != "a\r\n" {
			t.Fatalf("file %q, %v", data, err)
		}
		if _, err := r.NextPart(); err != io.EOF {
			t.Fatalf("after the file: %v", err)
		}
	})
}
