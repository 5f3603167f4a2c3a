package velatest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// outcome is what an S3 server answers to a POST upload.
type outcome struct {
	status int
	code   string // S3 error code; "" on success
}

// uploadCase is a presigned POST, changed in some way, and the answer S3
// gives.
type uploadCase struct {
	name    string
	ttl     time.Duration // policy lifetime; 0 = an hour
	maxSize int64         // content-length-range upper bound; 0 = 1 MiB
	change  func(f *postForm)
	want    outcome
	// vgw, if set, is what versitygw answers where it differs from S3
	// (and from the built-in verifier), with the reason.
	vgw         *outcome
	vgwWhy      string
	vgwMayBreak bool // versitygw may reset the connection instead of replying
}

var (
	accepted  = outcome{http.StatusNoContent, ""}
	policyErr = outcome{http.StatusForbidden, "AccessDenied"}
	sigErr    = outcome{http.StatusForbidden, "SignatureDoesNotMatch"}
)

// uploadCases is the accept/refuse table run against the built-in store
// and against versitygw.
var uploadCases = []uploadCase{
	{name: "as presigned", want: accepted},
	{name: "file at the size limit", maxSize: 16, want: accepted,
		change: func(f *postForm) { f.file = bytes.Repeat([]byte("x"), 16) }},
	{name: "x-ignore field outside the policy", want: accepted,
		change: func(f *postForm) { f.fields["x-ignore-note"] = "anything" }},
	{name: "field names in upper case", want: accepted,
		change: func(f *postForm) {
			for k, v := range f.fields {
				delete(f.fields, k)
				f.fields[strings.ToUpper(k)] = v
			}
		}},
	{name: "tampered policy", want: sigErr,
		change: func(f *postForm) {
			p, _ := base64.StdEncoding.DecodeString(f.field("policy"))
			p = bytes.Replace(p, []byte("1048576"), []byte("9999999"), 1)
			f.setField("policy", base64.StdEncoding.EncodeToString(p))
		}},
	{name: "wrong signature", want: sigErr,
		change: func(f *postForm) {
			sig := []byte(f.field("x-amz-signature"))
			if sig[0] = '0'; f.field("x-amz-signature")[0] == '0' {
				sig[0] = '1'
			}
			f.setField("x-amz-signature", string(sig))
		}},
	{name: "signed with another secret", want: sigErr,
		change: func(f *postForm) {
			date := strings.Split(f.field("x-amz-credential"), "/")[1]
			region := strings.Split(f.field("x-amz-credential"), "/")[2]
			f.setField("x-amz-signature", hex.EncodeToString(testSign("not-the-secret", date, region, f.field("policy"))))
		}},
	{name: "unsigned", want: outcome{http.StatusBadRequest, "InvalidArgument"},
		change: func(f *postForm) { f.deleteField("x-amz-signature") }},
	{name: "without the policy", want: outcome{http.StatusBadRequest, "InvalidArgument"},
		change: func(f *postForm) { f.deleteField("policy") }},
	{name: "anonymous", want: outcome{http.StatusForbidden, "AccessDenied"},
		change: func(f *postForm) {
			for _, name := range []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature", "x-amz-security-token"} {
				f.deleteField(name)
			}
		}},
	{name: "unknown access key", want: outcome{http.StatusForbidden, "InvalidAccessKeyId"},
		change: func(f *postForm) {
			_, scope, _ := strings.Cut(f.field("x-amz-credential"), "/")
			f.setField("x-amz-credential", "AKIANOSUCHKEY/"+scope)
		},
		vgw: &outcome{http.StatusNotFound, "XAdminUserNotFound"}, vgwWhy: "versitygw refuses it with its own admin error instead of AWS's 403 InvalidAccessKeyId"},
	{name: "credential for another region", want: outcome{http.StatusBadRequest, "InvalidArgument"},
		change: func(f *postForm) {
			parts := strings.Split(f.field("x-amz-credential"), "/")
			parts[2] = "eu-west-3"
			f.setField("x-amz-credential", strings.Join(parts, "/"))
		}},
	{name: "policy not base64", want: sigErr,
		change: func(f *postForm) { f.setField("policy", "{not base64}") }},
	{name: "expired policy", ttl: -time.Second, want: policyErr},
	{name: "field outside the policy", want: policyErr,
		change: func(f *postForm) { f.fields["x-amz-meta-agent"] = "eve" }},
	{name: "changed key", want: policyErr,
		change: func(f *postForm) { f.setField("key", f.field("key")+".other") }},
	{name: "file over content-length-range", maxSize: 16, want: outcome{http.StatusBadRequest, "EntityTooLarge"},
		change: func(f *postForm) { f.file = bytes.Repeat([]byte("x"), 17) }},
	{name: "empty file", want: outcome{http.StatusBadRequest, "EntityTooSmall"},
		change: func(f *postForm) { f.file = nil }},
	{name: "part after the file", want: outcome{http.StatusBadRequest, "InvalidArgument"},
		change: func(f *postForm) { f.after = map[string]string{"x-ignore-late": "1"} },
		vgw:    &accepted, vgwWhy: "versitygw ignores parts after the file, as AWS documents; the built-in store refuses them to hold uploaders to sending the file last"},
	{name: "no file", want: outcome{http.StatusBadRequest, "InvalidArgument"},
		change: func(f *postForm) { f.noFile = true }},
	{name: "chunked without Content-Length", want: outcome{http.StatusLengthRequired, "MissingContentLength"},
		change: func(f *postForm) { f.chunked = true },
		vgw:    &outcome{http.StatusBadRequest, "InvalidRequest"}, vgwMayBreak: true,
		vgwWhy: "versitygw refuses it too, with another status and code than AWS's 411, and may close the connection before the client has read the reply"},
}

// presignFunc presigns a POST of key for one S3 server.
type presignFunc func(t *testing.T, key string, ttl time.Duration, maxSize int64) *postForm

// runUploadCase presigns, changes and sends c's form and returns the answer.
func runUploadCase(t *testing.T, presign presignFunc, key string, c uploadCase) s3Reply {
	t.Helper()
	reply, err := tryUploadCase(t, presign, key, c)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	return reply
}

// tryUploadCase is runUploadCase that returns a transport error.
func tryUploadCase(t *testing.T, presign presignFunc, key string, c uploadCase) (s3Reply, error) {
	t.Helper()
	ttl, maxSize := c.ttl, c.maxSize
	if ttl == 0 {
		ttl = time.Hour
	}
	if maxSize == 0 {
		maxSize = 1 << 20
	}
	f := presign(t, key, ttl, maxSize)
	if c.change != nil {
		c.change(f)
	}
	return f.try(context.Background())
}

// builtinPresign presigns for s's built-in store, session token included.
func builtinPresign(s *Server) presignFunc {
	return func(t *testing.T, key string, ttl time.Duration, maxSize int64) *postForm {
		t.Helper()
		url, fields, err := presignPost(context.Background(), newPresigner(s.target, builtinSessionToken), s.target.Bucket, key, ttl, maxSize)
		if err != nil {
			t.Fatal(err)
		}
		return &postForm{url: url, fields: fields, fileName: "call.wav", file: []byte("RIFF....WAVEfmt ")}
	}
}

func TestUploadVerifier(t *testing.T) {
	s := startServer(t, Options{})
	for i, c := range uploadCases {
		t.Run(c.name, func(t *testing.T) {
			key := fmt.Sprintf("cases/%02d/call.wav", i)
			got := runUploadCase(t, builtinPresign(s), key, c)
			if got.Status != c.want.status || got.Code != c.want.code {
				t.Fatalf("got %d %s (%s), want %d %s", got.Status, got.Code, got.Message, c.want.status, c.want.code)
			}
			stored := false
			for _, o := range s.Objects() {
				stored = stored || o.Key == key
			}
			if stored != (c.want == accepted) {
				t.Errorf("object stored = %v after a %d reply", stored, got.Status)
			}
		})
	}
}

// testSign is an independent SigV4 POST policy signature.
func testSign(secret, date, region, policy string) []byte {
	mac := func(key []byte, data string) []byte {
		h := hmac.New(sha256.New, key)
		io.WriteString(h, data)
		return h.Sum(nil)
	}
	k := mac(mac(mac(mac([]byte("AWS4"+secret), date), region), "s3"), "aws4_request")
	return mac(k, policy)
}

// handForm builds and signs a form for s's built-in store from a policy
// written by hand.
func handForm(s *Server, policy string, fields map[string]string) *postForm {
	now := time.Now().UTC()
	date := now.Format("20060102")
	b64 := base64.StdEncoding.EncodeToString([]byte(policy))
	f := &postForm{url: s.S3URL() + "/" + s.target.Bucket, fileName: "call.wav", file: []byte("data"), fields: map[string]string{
		"policy":               b64,
		"x-amz-algorithm":      algorithmV4,
		"x-amz-credential":     builtinAccessKey + "/" + date + "/" + builtinRegion + "/s3/aws4_request",
		"x-amz-date":           now.Format("20060102T150405Z"),
		"x-amz-security-token": builtinSessionToken,
		"x-amz-signature":      hex.EncodeToString(testSign(builtinSecretKey, date, builtinRegion, b64)),
	}}
	for k, v := range fields {
		f.fields[k] = v
	}
	return f
}

func TestUploadHandWrittenPolicies(t *testing.T) {
	s := startServer(t, Options{})
	exp := time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	common := `{"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": "` + builtinAccessKey + `/` +
		time.Now().UTC().Format("20060102") + `/` + builtinRegion + `/s3/aws4_request"}, ["starts-with", "$x-amz-date", ""],
		{"x-amz-security-token": "` + builtinSessionToken + `"}`
	tests := []struct {
		name       string
		conditions string
		fields     map[string]string
		want       outcome
	}{
		{"success_action_status 201", `{"bucket": "vela-recordings"}, ["starts-with", "$key", "up/"], {"success_action_status": "201"}`,
			map[string]string{"key": "up/a.wav", "success_action_status": "201"}, outcome{http.StatusCreated, ""}},
		{"success_action_status 200", `["eq", "$key", "up/b.wav"], {"success_action_status": "200"}`,
			map[string]string{"key": "up/b.wav", "success_action_status": "200"}, outcome{http.StatusOK, ""}},
		{"starts-with key outside the prefix", `["starts-with", "$key", "up/"]`,
			map[string]string{"key": "down/a.wav"}, policyErr},
		{"wrong bucket", `{"bucket": "other"}, ["starts-with", "$key", ""]`,
			map[string]string{"key": "up/c.wav"}, policyErr},
		{"condition on a missing field", `["starts-with", "$key", ""], ["eq", "$content-type", "audio/wav"]`,
			map[string]string{"key": "up/d.wav"}, policyErr},
		{"content-type and metadata", `["starts-with", "$key", ""], ["starts-with", "$Content-Type", "audio/"], {"x-amz-meta-agent": "ann"}`,
			map[string]string{"key": "up/e.wav", "content-type": "audio/wav", "x-amz-meta-agent": "ann"}, outcome{http.StatusNoContent, ""}},
		{"${filename}", `["starts-with", "$key", "up/"]`,
			map[string]string{"key": "up/${filename}"}, outcome{http.StatusNoContent, ""}},
		{"wrong session token", `["starts-with", "$key", ""]`,
			map[string]string{"key": "up/f.wav", "x-amz-security-token": "stolen"}, outcome{http.StatusForbidden, "InvalidToken"}},
		{"unknown condition", `["starts-with", "$key", ""], ["ends-with", "$key", ".wav"]`,
			map[string]string{"key": "up/g.wav"}, outcome{http.StatusBadRequest, "InvalidPolicyDocument"}},
		{"quoted content-length-range", `["starts-with", "$key", ""], ["content-length-range", "1", "3"]`,
			map[string]string{"key": "up/h.wav"}, outcome{http.StatusBadRequest, "EntityTooLarge"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := `{"expiration": "` + exp + `", "conditions": [` + common + `, ` + tt.conditions + `]}`
			got := handForm(s, policy, tt.fields).send(t)
			if got.Status != tt.want.status || got.Code != tt.want.code {
				t.Fatalf("got %d %s (%s), want %d %s", got.Status, got.Code, got.Message, tt.want.status, tt.want.code)
			}
		})
	}
	keys := map[string]bool{}
	for _, o := range s.Objects() {
		keys[o.Key] = true
	}
	for _, k := range []string{"up/a.wav", "up/b.wav", "up/e.wav", "up/call.wav"} {
		if !keys[k] {
			t.Errorf("object %s not stored; have %v", k, keys)
		}
	}
}

func TestUploadThroughAPI(t *testing.T) {
	s := startServer(t, Options{})
	token := accessToken(t, s)
	f := presignVia(t, s, token, `C:\calls\call_001.wav`)
	for range 2 {
		if got := f.send(t); got.Status != http.StatusNoContent {
			t.Fatalf("upload: %+v", got)
		}
	}
	objs := s.Objects()
	sum := sha256.Sum256(f.file)
	want := Object{Key: f.field("key"), Size: int64(len(f.file)), SHA256: hex.EncodeToString(sum[:]), Uploads: 2}
	if len(objs) != 1 || objs[0] != want {
		t.Fatalf("Objects() = %+v, want [%+v]", objs, want)
	}
	if !strings.HasSuffix(want.Key, "/call_001.wav") || !strings.HasPrefix(want.Key, "org-test/") {
		t.Errorf("key %q", want.Key)
	}
	if got := s.Count(OpUpload); got != 2 {
		t.Errorf("Count(OpUpload) = %d, want 2", got)
	}

	// The object is readable with the S3 SDK.
	cfg := s.S3Config()
	client := s3.New(s3.Options{
		Region: cfg.Region, BaseEndpoint: aws.String(cfg.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, ""),
	})
	out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(want.Key)})
	if err != nil {
		t.Fatalf("GetObject: %v", err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); !bytes.Equal(b, f.file) {
		t.Errorf("GetObject body %q, want %q", b, f.file)
	}
}

func TestUploadExpiredPolicy(t *testing.T) {
	t.Run("fault", func(t *testing.T) {
		s := startServer(t, Options{})
		token := accessToken(t, s)
		s.Inject(Fault{Op: OpPresign, ExpiredPolicy: true})
		expired := presignVia(t, s, token, "a.wav")
		fresh := presignVia(t, s, token, "b.wav")
		if got := expired.send(t); got.Status != http.StatusForbidden || got.Message != "Invalid according to Policy: Policy expired." {
			t.Errorf("expired policy: %+v", got)
		}
		if got := fresh.send(t); got.Status != http.StatusNoContent {
			t.Errorf("fresh policy: %+v", got)
		}
	})
	t.Run("clock", func(t *testing.T) {
		clk := newClock()
		s := startServer(t, Options{PresignTTL: time.Minute, Now: clk.Now})
		f := presignVia(t, s, accessToken(t, s), "a.wav")
		clk.Add(time.Minute + time.Second)
		if got := f.send(t); got.Status != http.StatusForbidden || got.Code != "AccessDenied" {
			t.Errorf("after the policy's lifetime: %+v", got)
		}
	})
}

func TestUploadMaxFileSize(t *testing.T) {
	s := startServer(t, Options{MaxFileSize: 8})
	f := presignVia(t, s, accessToken(t, s), "a.wav")
	f.file = []byte("123456789")
	if got := f.send(t); got.Code != "EntityTooLarge" {
		t.Errorf("9 bytes with MaxFileSize 8: %+v", got)
	}
	f.file = f.file[:8]
	if got := f.send(t); got.Status != http.StatusNoContent {
		t.Errorf("8 bytes with MaxFileSize 8: %+v", got)
	}
}

func TestUploadNotMultipart(t *testing.T) {
	s := startServer(t, Options{})
	resp, err := http.Post(s.S3URL()+"/"+s.target.Bucket, "application/x-www-form-urlencoded", strings.NewReader("key=a"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("status %d, want 412", resp.StatusCode)
	}
	resp, err = http.Post(s.S3URL()+"/no-such-bucket", "multipart/form-data; boundary=x", strings.NewReader("--x--\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("other bucket: status %d, want 404", resp.StatusCode)
	}
}

// TestUploadStreams uploads a file much larger than the memory the server
// may use for it, to disk, from a client that streams too.
func TestUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 64 MiB")
	}
	const size = 64 << 20
	s := startServer(t, Options{Dir: t.TempDir(), MaxFileSize: size})
	f := presignVia(t, s, accessToken(t, s), "big.wav")

	// Work out the multipart framing to send an exact Content-Length.
	f.file = nil
	head, ct := f.body()
	tail := head[bytes.LastIndex(head, []byte("\r\n--")):]
	head = head[:len(head)-len(tail)]

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	body := io.MultiReader(bytes.NewReader(head), io.LimitReader(zeros{}, size), bytes.NewReader(tail))
	req, err := http.NewRequest("POST", f.url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(head) + size + len(tail))
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if objs := s.Objects(); len(objs) != 1 || objs[0].Size != size {
		t.Fatalf("Objects() = %+v", objs)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Errorf("allocated %d MiB to move a %d MiB upload", alloc>>20, size>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// multipartOf builds a multipart body from ordered name/value pairs; a
// value for "file" is sent as a file part.
func multipartOf(pairs ...string) ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.SetBoundary("velatestboundary")
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == "file" {
			w, _ := mw.CreateFormFile("file", "f.wav")
			io.WriteString(w, pairs[i+1])
			continue
		}
		mw.WriteField(pairs[i], pairs[i+1])
	}
	mw.Close()
	return buf.Bytes(), mw.Boundary()
}
