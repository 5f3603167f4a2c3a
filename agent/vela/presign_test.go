package vela

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPresignRequest(t *testing.T) {
	tests := []struct {
		name        string
		encoding    string
		validate    bool
		contentType string
	}{
		{"json", "", false, "application/json"},
		{"json validating", "json", true, "application/json"},
		{"form", "form", false, "application/x-www-form-urlencoded"},
		{"form validating", "form", true, "application/x-www-form-urlencoded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, newClock())
			cfg := testConfig(t, f)
			cfg.Encoding, cfg.ValidateMetadata, cfg.UserAgent = tt.encoding, tt.validate, "vela-agent/test"
			c := newTestClient(t, cfg)

			meta := map[string]any{
				"agent_name":   "Thandi Nkosi",
				"direction":    "inbound",
				"tags":         []string{"sales", "q1 & q2"},
				"contact":      "+27 82 555 0100",
				"date_of_call": "15/01/2025, 09:30:00",
			}
			if _, err := c.Presign(background, "call_001.wav", meta); err != nil {
				t.Fatalf("Presign: %v", err)
			}
			if _, ok := meta["validate_metadata"]; ok {
				t.Error("Presign modified the caller's metadata")
			}

			reqs := f.requests("/asr/async/upload/vela")
			if len(reqs) != 1 {
				t.Fatalf("%d presign requests, want 1", len(reqs))
			}
			req := reqs[0]
			if req.contentType != tt.contentType {
				t.Errorf("Content-Type %q, want %q", req.contentType, tt.contentType)
			}
			if req.auth != "Bearer access-SECRET-0001" {
				t.Errorf("Authorization %q, want the minted bearer token", req.auth)
			}
			if req.userAgent != "vela-agent/test" {
				t.Errorf("User-Agent %q", req.userAgent)
			}

			if tt.contentType == "application/json" {
				if keys := objectKeys(t, req.body); !reflect.DeepEqual(keys, []string{"org_id", "fileName", "metadata"}) {
					t.Errorf("body keys %q, want exactly org_id, fileName, metadata", keys)
				}
			}
			r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(req.body))
			r.Header.Set("Content-Type", req.contentType)
			got, err := decodePresign(r)
			if err != nil {
				t.Fatalf("decode request: %v", err)
			}
			want := presignReq{OrgID: testOrg, FileName: "call_001.wav", Metadata: map[string]any{
				"agent_name":   "Thandi Nkosi",
				"direction":    "inbound",
				"tags":         []any{"sales", "q1 & q2"},
				"contact":      "+27 82 555 0100",
				"date_of_call": "15/01/2025, 09:30:00",
			}}
			if tt.validate {
				want.Metadata["validate_metadata"] = true
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("request\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestPresignNilMetadata(t *testing.T) {
	f := newFakeAPI(t, newClock())
	c := newTestClient(t, testConfig(t, f))
	if _, err := c.Presign(background, "call_002.mp3", nil); err != nil {
		t.Fatal(err)
	}
	body := f.requests("/asr/async/upload/vela")[0].body
	if want := `{"org_id":"1234","fileName":"call_002.mp3","metadata":{}}`; string(body) != want {
		t.Errorf("body %s, want %s", body, want)
	}
}

// objectKeys returns the keys of the JSON object b in order.
func objectKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("body %s is not an object", b)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestPresignForm(t *testing.T) {
	clk := newClock()
	f := newFakeAPI(t, clk)
	c := newTestClient(t, testConfig(t, f))

	form, err := c.Presign(background, "call_001.wav", nil)
	if err != nil {
		t.Fatal(err)
	}
	policy := ""
	for _, fl := range form.Fields {
		if fl.Name == "policy" {
			policy = fl.Value
		}
	}
	want := &Presign{
		URL: "https://bucket.s3.amazonaws.com/",
		Fields: fields(
			"key", "uploads/1234/call_001.wav",
			"x-amz-meta-foo", "bar baz",
			"AWSAccessKeyId", "AKIAEXAMPLE",
			"x-amz-security-token", "FwoGZX+/=",
			"policy", policy,
			"signature", "c2lnbmF0dXJl",
		),
		Expires: clk.Now().Add(time.Hour),
	}
	if !reflect.DeepEqual(form.Fields, want.Fields) || form.URL != want.URL || !form.Expires.Equal(want.Expires) {
		t.Errorf("form\n got %+v\nwant %+v", form, want)
	}
}

func TestParsePresign(t *testing.T) {
	exp := time.Date(2025, 1, 15, 11, 0, 0, 0, time.UTC)
	policy := func(doc string) string { return base64.StdEncoding.EncodeToString([]byte(doc)) }
	good := policy(`{"expiration":"2025-01-15T11:00:00.000Z","conditions":[{"bucket":"b"}]}`)
	tests := []struct {
		name    string
		body    string
		fields  []Field
		expires time.Time
		wantErr string
	}{
		{name: "policy", body: `{"url":"https://b.s3.amazonaws.com","fields":{"key":"k","policy":"` + good + `"}}`,
			fields: fields("key", "k", "policy", good), expires: exp},
		{name: "Policy", body: `{"url":"https://b.s3.amazonaws.com","fields":{"Policy":"` + good + `","key":"k"}}`,
			fields: fields("Policy", good, "key", "k"), expires: exp},
		{name: "unpadded policy", body: `{"url":"https://b.s3.amazonaws.com","fields":{"policy":"` + strings.TrimRight(good, "=") + `"}}`,
			fields: fields("policy", strings.TrimRight(good, "=")), expires: exp},
		{name: "policy with offset", body: `{"url":"https://b.s3.amazonaws.com","fields":{"policy":"` + policy(`{"expiration":"2025-01-15T13:00:00+02:00"}`) + `"}}`,
			fields: fields("policy", policy(`{"expiration":"2025-01-15T13:00:00+02:00"}`)), expires: exp},
		{name: "policy not base64", body: `{"url":"https://b.s3.amazonaws.com","fields":{"policy":"%%%"}}`,
			fields: fields("policy", "%%%")},
		{name: "policy without expiration", body: `{"url":"https://b.s3.amazonaws.com","fields":{"policy":"` + policy(`{"conditions":[]}`) + `"}}`,
			fields: fields("policy", policy(`{"conditions":[]}`))},
		{name: "no policy", body: `{"url":"https://b.s3.amazonaws.com","fields":{"key":"k"}}`,
			fields: fields("key", "k")},
		{name: "odd values kept", body: `{"url":"https://b.s3.amazonaws.com","fields":{"a":"x\u00e9\"\\/","n":10.50,"b":true,"empty":"","dup":"1","dup":"2"}}`,
			fields: fields("a", "xé\"\\/", "n", "10.50", "b", "true", "empty", "", "dup", "1", "dup", "2")},
		{name: "other keys ignored", body: `{"message":"ok","url":"https://b.s3.amazonaws.com","id":7,"fields":{}}`,
			fields: fields()},
		{name: "loopback http", body: `{"url":"http://127.0.0.1:9000/bucket","fields":{}}`, fields: fields()},
		{name: "remote http", body: `{"url":"http://b.s3.amazonaws.com","fields":{}}`, wantErr: "only allowed for loopback"},
		{name: "relative url", body: `{"url":"/upload","fields":{}}`, wantErr: "not an absolute URL"},
		{name: "no url", body: `{"fields":{}}`, wantErr: "no url"},
		{name: "url not a string", body: `{"url":7,"fields":{}}`, wantErr: "cannot unmarshal"},
		{name: "no fields", body: `{"url":"https://b.s3.amazonaws.com"}`, wantErr: "no fields"},
		{name: "null fields", body: `{"url":"https://b.s3.amazonaws.com","fields":null}`, wantErr: "not an object"},
		{name: "fields array", body: `{"url":"https://b.s3.amazonaws.com","fields":["key"]}`, wantErr: "not an object"},
		{name: "field object", body: `{"url":"https://b.s3.amazonaws.com","fields":{"key":{"a":1}}}`, wantErr: `field "key" is not a string`},
		{name: "field null", body: `{"url":"https://b.s3.amazonaws.com","fields":{"key":null}}`, wantErr: `field "key" is not a string`},
		{name: "not json", body: `<html>`, wantErr: "invalid character"},
		{name: "null", body: `null`, wantErr: "no url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form, err := parsePresign([]byte(tt.body))
			if !wantError(t, err, tt.wantErr) {
				return
			}
			if !reflect.DeepEqual(form.Fields, tt.fields) {
				t.Errorf("fields %q, want %q", form.Fields, tt.fields)
			}
			if !form.Expires.Equal(tt.expires) {
				t.Errorf("expires %v, want %v", form.Expires, tt.expires)
			}
		})
	}
}

// TestPresignErrors checks the classification of every reply VELA-API.md
// lists, and a few it does not.
func TestPresignErrors(t *testing.T) {
	clk := newClock()
	date := clk.Now().Add(2 * time.Minute).Format(http.TimeFormat)
	tests := []struct {
		name       string
		status     int
		body       string
		header     map[string]string
		action     Action
		message    string
		retryAfter time.Duration
		say        string // in the error string
	}{
		{name: "allocation exceeded", status: 400, body: `{"message":"Allocation exceeded"}`,
			action: PauseCalls, message: "Allocation exceeded", say: "presign call_001.wav: 400 Allocation exceeded; organisation 1234"},
		{name: "allocation exceeded, other wording", status: 400, body: `{"message":"Monthly ALLOCATION exceeded."}`,
			action: PauseCalls, message: "Monthly ALLOCATION exceeded."},
		{name: "allocation exceeded, plain text", status: 400, body: "Allocation exceeded",
			action: PauseCalls, message: "Allocation exceeded"},
		{name: "missing fileName", status: 400, body: `{"message":"Missing fileName"}`,
			action: Park, message: "Missing fileName"},
		{name: "agent", status: 400, body: `{"message":"Could not find agent with the provided metadata"}`,
			action: Park, message: "Could not find agent with the provided metadata"},
		{name: "team", status: 400, body: `{"message":"Team not found"}`, action: Park, message: "Team not found"},
		{name: "department", status: 400, body: `{"message":"Department not found"}`, action: Park, message: "Department not found"},
		{name: "date", status: 400, body: `{"message":"Invalid date of call. Correct format is DD/MM/YYYY, HH:mm:ss"}`,
			action: Park, message: "Invalid date of call. Correct format is DD/MM/YYYY, HH:mm:ss"},
		{name: "direction", status: 400, body: `{"message":"Invalid interaction direction. Must be inbound or outbound"}`,
			action: Park, message: "Invalid interaction direction. Must be inbound or outbound"},
		{name: "tags", status: 400, body: `{"message":"Invalid interaction tags. Must be an array of strings"}`,
			action: Park, message: "Invalid interaction tags. Must be an array of strings"},
		{name: "contact", status: 400, body: `{"message":"Invalid contact"}`, action: Park, message: "Invalid contact"},
		{name: "notify email", status: 400, body: `{"message":"Invalid notify email"}`, action: Park, message: "Invalid notify email"},
		{name: "400 without message", status: 400, body: ``, action: Park, say: "400 Bad Request"},
		{name: "unprocessable", status: 422, body: `{"detail":[{"msg":"field required"}]}`, action: Park, message: "field required"},
		{name: "conflict", status: 409, body: `{"error":"duplicate"}`, action: Park, message: "duplicate"},
		{name: "forbidden", status: 403, body: `{"message":"Forbidden"}`, action: PauseAll, message: "Forbidden", say: "check api.org_id"},
		{name: "organisation not found", status: 404, body: `{"message":"Organisation not found"}`,
			action: PauseAll, message: "Organisation not found", say: "check api.org_id (now 1234)"},
		{name: "route not found", status: 404, body: `<html>Not Found</html>`, action: PauseAll, say: "check api.base_url"},
		{name: "method not allowed", status: 405, body: ``, action: PauseAll, say: "check api.base_url"},
		{name: "redirect", status: 301, header: map[string]string{"Location": "https://api.example/next?sig=x"},
			action: PauseAll, say: "redirects to https://api.example/next; check api.base_url"},
		{name: "too many requests, seconds", status: 429, header: map[string]string{"Retry-After": "7"},
			action: Retry, retryAfter: 7 * time.Second},
		{name: "too many requests, date", status: 429, header: map[string]string{"Retry-After": date},
			action: Retry, retryAfter: 2 * time.Minute},
		{name: "too many requests, no header", status: 429, body: `{"message":"Too Many Requests"}`,
			action: Retry, message: "Too Many Requests"},
		{name: "unavailable", status: 503, header: map[string]string{"Retry-After": "30"}, body: "<html>down</html>",
			action: Retry, retryAfter: 30 * time.Second, say: "503 Service Unavailable"},
		{name: "server error", status: 500, body: `{"message":"Internal server error"}`, action: Retry, message: "Internal server error"},
		{name: "bad gateway", status: 502, body: `<html>Bad Gateway</html>`, action: Retry},
		{name: "gateway timeout", status: 504, body: `{"message":"Endpoint request timed out"}`, action: Retry, message: "Endpoint request timed out"},
		{name: "request timeout", status: 408, action: Retry},
		{name: "token echoed", status: 400, body: `{"message":"bad token {token}"}`, action: Park, message: "bad token [redacted]"},
		{name: "unreadable success", status: 200, body: `{"url":`, action: Retry, say: "200 OK: unreadable reply"},
		{name: "success without fields", status: 200, body: `{"url":"https://b.s3.amazonaws.com"}`, action: Retry, say: "reply has no fields"},
		{name: "no content", status: 204, action: Retry, say: "unreadable reply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, clk)
			f.handle("/asr/async/upload/vela", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
				w.Write([]byte(strings.ReplaceAll(tt.body, "{token}", token)))
			})
			c := newTestClient(t, testConfig(t, f))

			_, err := c.Presign(background, "call_001.wav", map[string]any{"direction": "inbound"})
			e := asError(t, err)
			if e.Action != tt.action {
				t.Errorf("action %v, want %v (error %q)", e.Action, tt.action, err)
			}
			if e.Status != tt.status {
				t.Errorf("status %d, want %d", e.Status, tt.status)
			}
			if tt.message != "" && e.Message != tt.message {
				t.Errorf("message %q, want %q", e.Message, tt.message)
			}
			if e.Wait != tt.retryAfter {
				t.Errorf("retry after %v, want %v", e.Wait, tt.retryAfter)
			}
			if e.Op != "presign call_001.wav" {
				t.Errorf("op %q", e.Op)
			}
			if !strings.Contains(err.Error(), tt.say) {
				t.Errorf("error %q does not say %q", err, tt.say)
			}
			if n := f.hits("/asr/async/upload/vela"); n != 1 {
				t.Errorf("%d presign requests, want 1 (a client that retries on its own hides the cause)", n)
			}
		})
	}
}

func TestPresignNoFileName(t *testing.T) {
	f := newFakeAPI(t, newClock())
	c := newTestClient(t, testConfig(t, f))
	_, err := c.Presign(background, "", nil)
	if e := asError(t, err); e.Action != Park {
		t.Errorf("action %v, want park", e.Action)
	}
	if n := f.hits("/asr/async/upload/vela") + f.hits("/auth/generate"); n != 0 {
		t.Errorf("%d requests for a presign without a file name, want none", n)
	}
}

func TestPresignBadMetadata(t *testing.T) {
	f := newFakeAPI(t, newClock())
	c := newTestClient(t, testConfig(t, f))
	_, err := c.Presign(background, "call_001.wav", map[string]any{"contact": make(chan int)})
	if e := asError(t, err); e.Action != Park || !strings.Contains(err.Error(), "encode metadata") {
		t.Errorf("error %q, action %v; want park for unencodable metadata", err, e.Action)
	}
}

func TestPresignHangs(t *testing.T) {
	f := newFakeAPI(t, newClock())
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) }) // runs before the server closes
	f.handle("/asr/async/upload/vela", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	cfg := testConfig(t, f)
	cfg.Timeout = 50 * time.Millisecond
	c := newTestClient(t, cfg)

	_, err := c.Presign(context.Background(), "call_001.wav", nil)
	e := asError(t, err)
	if e.Action != Retry || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q, action %v; want retry after the deadline", err, e.Action)
	}
	if !strings.Contains(err.Error(), "no reply within 50ms") {
		t.Errorf("error %q does not say what timed out", err)
	}
}

func TestPresignTransportErrors(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		f := newFakeAPI(t, newClock())
		cfg := testConfig(t, f)
		f.srv.Close()
		c := newTestClient(t, cfg)
		_, err := c.Presign(background, "call_001.wav", nil)
		if e := asError(t, err); e.Action != Retry || e.Status != 0 {
			t.Errorf("error %q: action %v status %d, want retry with no status", err, e.Action, e.Status)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		f := newFakeAPI(t, newClock())
		c := newTestClient(t, testConfig(t, f))
		ctx, cancel := context.WithCancel(background)
		cancel()
		_, err := c.Presign(ctx, "call_001.wav", nil)
		if e := asError(t, err); e.Action != Retry || !errors.Is(err, context.Canceled) {
			t.Errorf("error %q, action %v; want retry wrapping context.Canceled", err, e.Action)
		}
	})
	t.Run("reply too long", func(t *testing.T) {
		old := maxReplyBytes
		maxReplyBytes = 64
		t.Cleanup(func() { maxReplyBytes = old })
		f := newFakeAPI(t, newClock())
		cfg := testConfig(t, f)
		token := f.mint()
		cfg.Credential = func() (CredentialKind, string, error) { return AccessToken, token, nil }
		c := newTestClient(t, cfg)
		_, err := c.Presign(background, "call_001.wav", nil)
		if e := asError(t, err); e.Action != Retry || e.Op != "presign call_001.wav" ||
			!strings.Contains(err.Error(), "reply longer than 64 bytes") {
			t.Errorf("error %q, action %v; want retry for an oversized reply", err, e.Action)
		}
	})
}

// fields makes form fields of names and values in turn.
func fields(nameValue ...string) []Field {
	fs := []Field{}
	for i := 0; i+1 < len(nameValue); i += 2 {
		fs = append(fs, Field{Name: nameValue[i], Value: nameValue[i+1]})
	}
	return fs
}
