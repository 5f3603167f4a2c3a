package velatest

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"maps"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// startServer starts a server for the test and closes it when the test ends.
func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	s, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// apiCall sends a JSON request (body nil: none) with an optional bearer
// token and decodes the JSON reply.
func apiCall(t *testing.T, s *Server, method, path, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return doJSON(t, req)
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: status %d, decode reply: %v", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// accessToken returns a fresh access token from the start refresh token.
func accessToken(t *testing.T, s *Server) string {
	t.Helper()
	status, out := apiCall(t, s, "POST", "/auth/generate", "", map[string]string{"refresh_token": s.RefreshToken()})
	if status != http.StatusOK {
		t.Fatalf("generate: %d %v", status, out)
	}
	return out["token"].(string)
}

// presignVia asks the API for a presigned POST for fileName.
func presignVia(t *testing.T, s *Server, token, fileName string) *postForm {
	t.Helper()
	status, out := apiCall(t, s, "POST", "/asr/async/upload/vela", token,
		map[string]any{"org_id": s.o.OrgID, "fileName": fileName})
	if status != http.StatusOK {
		t.Fatalf("presign %s: %d %v", fileName, status, out)
	}
	f := &postForm{url: out["url"].(string), fields: make(map[string]string), fileName: fileName, file: []byte("RIFF....WAVEfmt ")}
	for k, v := range out["fields"].(map[string]any) {
		f.fields[k] = v.(string)
	}
	return f
}

// postForm is a presigned POST form to send, as a test changes it.
type postForm struct {
	url      string
	fields   map[string]string // sent in name order
	fileName string
	file     []byte
	noFile   bool
	after    map[string]string // fields sent after the file
	chunked  bool              // send without Content-Length
}

func (f *postForm) body() ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(f.fields)) {
		mw.WriteField(name, f.fields[name])
	}
	if !f.noFile {
		fw, _ := mw.CreateFormFile("file", f.fileName)
		fw.Write(f.file)
	}
	for _, name := range slices.Sorted(maps.Keys(f.after)) {
		mw.WriteField(name, f.after[name])
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// s3Reply is an S3 reply: the status and, for errors, the XML error.
type s3Reply struct {
	Status  int
	Code    string
	Message string
}

func (f *postForm) send(t *testing.T) s3Reply {
	t.Helper()
	return f.sendContext(t, context.Background())
}

func (f *postForm) sendContext(t *testing.T, ctx context.Context) s3Reply {
	t.Helper()
	reply, err := f.try(ctx)
	if err != nil {
		t.Fatalf("POST %s: %v", f.url, err)
	}
	return reply
}

// try sends the form and returns the reply, or the transport's error.
func (f *postForm) try(ctx context.Context) (s3Reply, error) {
	body, ct := f.body()
	var rd io.Reader = bytes.NewReader(body)
	if f.chunked {
		rd = struct{ io.Reader }{rd} // of unknown length: sent chunked
	}
	req, err := http.NewRequestWithContext(ctx, "POST", f.url, rd)
	if err != nil {
		return s3Reply{}, err
	}
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s3Reply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return s3Reply{}, err
	}
	reply := s3Reply{Status: resp.StatusCode}
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message string }
		if err := xml.Unmarshal(raw, &e); err != nil {
			e.Message = "unreadable error document: " + string(raw)
		}
		reply.Code, reply.Message = e.Code, e.Message
	}
	return reply, nil
}

// setField sets a field whatever the case of its name in f.
func (f *postForm) setField(name, value string) {
	for k := range f.fields {
		if strings.EqualFold(k, name) {
			f.fields[k] = value
			return
		}
	}
	f.fields[name] = value
}

func (f *postForm) field(name string) string {
	for k, v := range f.fields {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (f *postForm) deleteField(name string) {
	for k := range f.fields {
		if strings.EqualFold(k, name) {
			delete(f.fields, k)
		}
	}
}

// logRecorder is a slog handler that passes request log records to a
// channel, so tests can wait for a handler to finish.
type logRecorder struct {
	records chan slog.Record
}

func newLogRecorder() *logRecorder { return &logRecorder{records: make(chan slog.Record, 100)} }

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logRecorder) WithGroup(string) slog.Handler            { return h }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "request" {
		select {
		case h.records <- r.Clone():
		default:
		}
	}
	return nil
}

// waitRequest waits for the log record of a request of op and returns its
// attributes.
func (h *logRecorder) waitRequest(t *testing.T, op Op) map[string]slog.Value {
	t.Helper()
	for r := range h.records {
		attrs := make(map[string]slog.Value)
		r.Attrs(func(a slog.Attr) bool {
			attrs[a.Key] = a.Value
			return true
		})
		if attrs["op"].String() == string(op) {
			return attrs
		}
	}
	return nil
}
