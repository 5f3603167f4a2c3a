package upload

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		status        int
		code, message string
		want          Kind
	}{
		{403, "AccessDenied", "Invalid according to Policy: Policy expired.", Represign},
		{403, "AccessDenied", "Request has expired", Represign},
		{403, "AccessDenied", "The provided token has expired.", Represign},
		{403, "AccessDenied", "Access Denied", Represign},
		{403, "AccessDenied", "Invalid according to Policy: Policy Condition failed: [\"starts-with\", \"$key\", \"org/\"]", Permanent},
		{403, "AccessDenied", "Invalid according to Policy: Extra input fields: x-amz-meta-a", Permanent},
		{400, "ExpiredToken", "The provided token has expired.", Represign},
		{403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", Represign},
		{403, "SignatureDoesNotMatch", "", Represign},
		{400, "InvalidToken", "The provided token is malformed or otherwise invalid.", Represign},
		{400, "EntityTooLarge", "", Permanent},
		{400, "EntityTooSmall", "", Permanent},
		{400, "InvalidArgument", "", Permanent},
		{400, "MalformedPOSTRequest", "", Permanent},
		{404, "NoSuchBucket", "", Permanent},
		{400, "", "", Permanent},
		{413, "", "", Permanent},
		{503, "SlowDown", "Please reduce your request rate.", Retry},
		{400, "RequestTimeout", "", Retry},
		{400, "IncompleteBody", "", Retry},
		{409, "OperationAborted", "", Retry},
		{500, "InternalError", "", Retry},
		{501, "NotImplemented", "", Retry},
		{502, "", "<html>", Retry},
		{408, "", "", Retry},
		{429, "", "", Retry},
		{307, "TemporaryRedirect", "", Retry},
		{202, "", "", Retry},
	}
	for _, tt := range tests {
		if got := classify(tt.status, tt.code, tt.message); got != tt.want {
			t.Errorf("classify(%d, %q, %q) = %v, want %v", tt.status, tt.code, tt.message, got, tt.want)
		}
	}
}

func TestParseError(t *testing.T) {
	tests := []struct {
		name                 string
		body                 string
		code, message, reqID string
	}{
		{
			name: "S3",
			body: `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>`,
			code: "AccessDenied", message: "Invalid according to Policy: Policy expired.", reqID: "4442587FB7D0A2F9",
		},
		{
			name: "namespaced, indented, escaped",
			body: "<Error xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n  <Code>\n    EntityTooLarge\n  </Code>\n  <Message>size &gt; 1 GB &amp;\r\n too big</Message>\n</Error>",
			code: "EntityTooLarge", message: "size > 1 GB & too big",
		},
		{
			name:    "S3-like but not an error",
			body:    "<PostResponse><Code>x</Code></PostResponse>",
			message: "<PostResponse><Code>x</Code></PostResponse>",
		},
		{
			name:    "plain text",
			body:    "upstream connect error or disconnect/reset before headers\n",
			message: "upstream connect error or disconnect/reset before headers",
		},
		{
			name:    "long text is cut",
			body:    strings.Repeat("é", 300),
			message: strings.Repeat("é", maxSnippet/2),
		},
		{
			name:    "control characters and bad UTF-8",
			body:    "bad\x00\x1b[31m\xff\xfered\u202e",
			message: "bad [31m\uFFFDred",
		},
		{name: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, message, reqID := parseError([]byte(tt.body))
			if code != tt.code || message != tt.message || reqID != tt.reqID {
				t.Errorf("got %q, %q, %q\nwant %q, %q, %q", code, message, reqID, tt.code, tt.message, tt.reqID)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{
			&Error{Name: "call_001.wav", Host: "b.s3.amazonaws.com", Status: 403, Code: "AccessDenied", Message: "Invalid according to Policy: Policy expired."},
			"upload call_001.wav to b.s3.amazonaws.com: 403 AccessDenied: Invalid according to Policy: Policy expired.",
		},
		{&Error{Name: "a.wav", Host: "h", Status: 502}, "upload a.wav to h: 502 Bad Gateway"},
		{&Error{Name: "a.wav", Host: "h", Status: 502, Message: "nginx"}, "upload a.wav to h: 502 Bad Gateway: nginx"},
		{&Error{Name: "a.wav", Host: "h", Status: 599}, "upload a.wav to h: 599"},
		{&Error{Name: "a.wav", Host: "h", Err: stallError(2 * time.Minute)}, "upload a.wav to h: no progress for 2m0s"},
		{&Error{Name: "a.wav", Err: errors.New("invalid form URL")}, "upload a.wav: invalid form URL"},
		{&Error{Name: "a.wav", Host: "h"}, "upload a.wav to h: failed"},
		{&Error{Name: "line\r\nbreak\x1b[0m\xff.wav", Host: "h", Status: 400}, `upload "line\r\nbreak\x1b[0m\xff.wav" to h: 400 Bad Request`},
		{&Error{Name: "café 日本.wav", Host: "h", Status: 400}, "upload café 日本.wav to h: 400 Bad Request"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got  %q\nwant %q", got, tt.want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Retry: "retry", Represign: "represign", Permanent: "permanent", 7: "Kind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

// FuzzParseError checks that any body, however broken, gives short, printable
// results on one line.
func FuzzParseError(f *testing.F) {
	for _, seed := range []string{
		`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>R</RequestId></Error>`,
		`<Error><Code>A</Code><Code>B</Code><Message><![CDATA[x]]></Message></Error>`,
		`<Error><Code><Nested>x</Nested></Code></Error>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><Error><Code>x</Code></Error>`,
		`<!DOCTYPE Error [<!ENTITY x "y">]><Error><Code>&x;</Code></Error>`,
		`<Error><Code>` + strings.Repeat("A", 300) + `</Code></Error>`,
		"<html><body>502</body></html>",
		"\xff\xfe\x00<\x00E",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, message, reqID := parseError(body)
		for _, s := range []struct {
			v   string
			max int
		}{{code, maxToken}, {message, max(maxMessage, maxSnippet)}, {reqID, maxToken}} {
			if len(s.v) > s.max || !utf8.ValidString(s.v) || s.v != strings.TrimSpace(s.v) {
				t.Fatalf("result %q: too long, bad UTF-8 or padded", s.v)
			}
			for _, r := range s.v {
				if r != ' ' && (unicode.IsSpace(r) || !unicode.IsPrint(r)) {
					t.Fatalf("result %q holds %U", s.v, r)
				}
			}
		}
		if code != "" && !strings.Contains(string(body), "Error") {
			t.Fatalf("code %q from a body without an Error element", code)
		}
	})
}

// FuzzParseErrorRoundTrip checks that the code and message of a well-formed
// S3 error come back as sent, cleaned.
func FuzzParseErrorRoundTrip(f *testing.F) {
	f.Add("AccessDenied", "Invalid according to Policy: Policy expired.")
	f.Add("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size & <more>")
	f.Add("", "  spaced\tout  ")
	f.Fuzz(func(t *testing.T, code, message string) {
		var b strings.Builder
		b.WriteString("<Error><Code>")
		xml.EscapeText(&b, []byte(code))
		b.WriteString("</Code><Message>")
		xml.EscapeText(&b, []byte(message))
		b.WriteString("</Message></Error>")
		gotCode, gotMessage, _ := parseError([]byte(b.String()))
		if !xmlSafe(code) || !xmlSafe(message) {
			return // EscapeText replaced characters that XML cannot hold
		}
		if gotCode != clean(code, maxToken) || gotMessage != clean(message, maxMessage) {
			t.Fatalf("got %q, %q from %q, %q", gotCode, gotMessage, code, message)
		}
	})
}

// xmlSafe reports whether s is valid UTF-8 of characters XML 1.0 can hold,
// without carriage returns, which XML turns into line feeds.
func xmlSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20 || r == '\r' || (r >= 0xD800 && r <= 0xDFFF) || r == 0xFFFE || r == 0xFFFF:
			return false
		}
	}
	return true
}
