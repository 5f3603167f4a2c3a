package velatest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
	"time"
)

// testVerifier verifies for the built-in credentials at the real time.
func testVerifier() *postVerifier {
	return &postVerifier{
		cred: credential{
			accessKey:    builtinAccessKey,
			secretKey:    builtinSecretKey,
			sessionToken: builtinSessionToken,
			region:       builtinRegion,
		},
		bucket: builtinBucket,
		now:    time.Now,
	}
}

// signedBody returns the multipart body of a form presigned with the SDK
// for the built-in credentials, with pairs appended after the fields
// ("file" pairs become the file part).
func signedBody(t testing.TB, pairs ...string) []byte {
	t.Helper()
	target := ExternalS3{Endpoint: "http://127.0.0.1:1", Region: builtinRegion, AccessKey: builtinAccessKey, SecretKey: builtinSecretKey, Bucket: builtinBucket}
	_, fields, err := presignPost(context.Background(), newPresigner(target, builtinSessionToken), builtinBucket, "org/call.wav", time.Hour, 64)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		all = append(all, k, fields[k])
	}
	body, _ := multipartOf(append(all, pairs...)...)
	return body
}

func TestVerifierReadsSDKForm(t *testing.T) {
	var dst bytes.Buffer
	u, err := testVerifier().read(bytes.NewReader(signedBody(t, "file", "RIFF")), "velatestboundary", &dst)
	if err != nil {
		t.Fatal(err)
	}
	if u.key != "org/call.wav" || u.size != 4 || dst.String() != "RIFF" {
		t.Errorf("got key %q size %d file %q", u.key, u.size, dst.String())
	}
}

func TestVerifierBody(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		code string
	}{
		{"truncated in the file", bytes.TrimSuffix(signedBody(t, "file", "RIFF"), []byte("--velatestboundary--\r\n")), "IncompleteBody"},
		{"truncated in the fields", signedBody(t, "file", "RIFF")[:200], "IncompleteBody"},
		{"not multipart", []byte("key=value"), "MalformedPOSTRequest"},
		{"duplicate field", signedBody(t, "key", "other", "file", "RIFF"), "InvalidArgument"},
		{"fields too large", signedBody(t, "x-ignore-pad", strings.Repeat("x", int(maxPreData)), "file", "RIFF"), "MaxPostPreDataLengthExceeded"},
		{"two files", signedBody(t, "file", "RIFF", "file", "RIFF"), "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testVerifier().read(bytes.NewReader(tt.body), "velatestboundary", io.Discard)
			var se *s3Error
			if !errors.As(err, &se) || se.code != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
		})
	}
}

func TestVerifierSpoolError(t *testing.T) {
	_, err := testVerifier().read(bytes.NewReader(signedBody(t, "file", "RIFF")), "velatestboundary", failWriter{})
	var se *s3Error
	if err == nil || errors.As(err, &se) {
		t.Fatalf("got %v, want the server's own error", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name, json string
		ok         bool
	}{
		{"minimal", `{"expiration": "2030-01-01T00:00:00Z", "conditions": []}`, true},
		{"milliseconds", `{"expiration": "2030-01-01T00:00:00.000Z", "conditions": [{"key": "a"}]}`, true},
		{"no expiration", `{"conditions": []}`, false},
		{"no conditions", `{"expiration": "2030-01-01T00:00:00Z"}`, false},
		{"bad expiration", `{"expiration": "tomorrow", "conditions": []}`, false},
		{"unknown field", `{"expiration": "2030-01-01T00:00:00Z", "conditions": [], "x": 1}`, false},
		{"trailing data", `{"expiration": "2030-01-01T00:00:00Z", "conditions": []} {}`, false},
		{"two properties", `{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": "1", "b": "2"}]}`, false},
		{"number value", `{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"a": 1}]}`, false},
		{"short list", `{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$a"]]}`, false},
		{"no dollar", `{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "a", "b"]]}`, false},
		{"negative range", `{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", -1, 5]]}`, false},
		{"float range", `{"expiration": "2030-01-01T00:00:00Z", "conditions": [["content-length-range", 1.5, 5]]}`, false},
		{"scalar condition", `{"expiration": "2030-01-01T00:00:00Z", "conditions": [7]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePolicy(b64(tt.json))
			if (err == nil) != tt.ok {
				t.Fatalf("parsePolicy: %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if _, err := parsePolicy("not base64!"); err == nil {
		t.Error("parsePolicy accepted bad base64")
	}
}

// FuzzVerifier feeds arbitrary bodies to the verifier. It must never panic,
// and whatever it accepts must carry a policy correctly signed with the
// secret, that has not expired and whose conditions the form meets.
func FuzzVerifier(f *testing.F) {
	f.Add(signedBody(f, "file", "RIFF"))
	f.Add(signedBody(f, "file", ""))
	f.Add(signedBody(f, "x-ignore-a", "b", "file", "RIFFRIFF"))
	f.Add(signedBody(f, "file", "RIFF", "x-ignore-late", "1"))
	f.Add(signedBody(f, "x-amz-meta-a", "b", "file", "RIFF"))
	f.Add([]byte("--velatestboundary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--velatestboundary--\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		v := testVerifier()
		u, err := v.read(bytes.NewReader(body), "velatestboundary", io.Discard)
		if err != nil {
			var se *s3Error
			if !errors.As(err, &se) {
				t.Fatalf("read failed with a non-S3 error: %v", err)
			}
			return
		}
		// Accepted: check the form independently.
		fields := map[string]string{}
		mr := multipart.NewReader(bytes.NewReader(body), "velatestboundary")
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				break
			}
			name := strings.ToLower(p.FormName())
			if name == "file" {
				break
			}
			b, _ := io.ReadAll(p)
			fields[name] = string(b)
		}
		date := strings.Split(fields["x-amz-credential"], "/")[1]
		sig, _ := hex.DecodeString(fields["x-amz-signature"])
		if !hmac.Equal(sig, testSign(builtinSecretKey, date, builtinRegion, fields["policy"])) {
			t.Fatalf("accepted a form whose signature is not ours: %q", body)
		}
		p, err := parsePolicy(fields["policy"])
		if err != nil || !time.Now().Before(p.expiration) {
			t.Fatalf("accepted a bad or expired policy: %v", err)
		}
		sizes, err := p.check(builtinBucket, fields)
		if err != nil || u.size < sizes.min || u.size > sizes.max {
			t.Fatalf("accepted a form the policy refuses (size %d): %v", u.size, err)
		}
		if fields["x-amz-security-token"] != builtinSessionToken {
			t.Fatalf("accepted a form without our session token")
		}
	})
}

// FuzzPolicy signs arbitrary policy documents correctly and checks them
// against a form: it must never panic.
func FuzzPolicy(f *testing.F) {
	f.Add(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [{"key": "a"}, ["content-length-range", 1, 5], ["starts-with", "$x-amz-date", ""]]}`, "a")
	f.Add(`{"expiration": "2030-01-01T00:00:00Z", "conditions": [["eq", "$key", 5], ["content-length-range", "1", "9"]]}`, "5")
	f.Fuzz(func(t *testing.T, policy, key string) {
		v := testVerifier()
		date := time.Now().UTC().Format(scopeDate)
		b := b64(policy)
		fields := map[string]string{
			"key":                  key,
			"policy":               b,
			"x-amz-algorithm":      algorithmV4,
			"x-amz-credential":     builtinAccessKey + "/" + date + "/" + builtinRegion + "/s3/aws4_request",
			"x-amz-date":           date + "T000000Z",
			"x-amz-security-token": builtinSessionToken,
			"x-amz-signature":      hex.EncodeToString(testSign(builtinSecretKey, date, builtinRegion, b)),
		}
		sizes, err := v.authorize(fields)
		if err == nil && sizes.min < 0 {
			t.Fatalf("negative size bound %+v", sizes)
		}
	})
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
