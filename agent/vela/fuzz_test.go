package vela

import (
	"math"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func FuzzParsePresign(f *testing.F) {
	f.Add([]byte(presignReply("https://bucket.s3.amazonaws.com/", "policy", time.Unix(1736935200, 0))))
	f.Add([]byte(presignReply("http://127.0.0.1:9000/b", "Policy", time.Unix(1736935200, 0))))
	f.Add([]byte(`{"url":"https://b","fields":{"n":1e400,"b":false,"s":"\ud800"}}`))
	f.Add([]byte(`{"url":"https://b","fields":{"policy":"eyJleHBpcmF0aW9uIjoxfQ=="}}`))
	f.Add([]byte(`{"url":"https://b","fields":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		form, err := parsePresign(body)
		if err != nil {
			return
		}
		u, err := url.Parse(form.URL)
		if err != nil || u.Host == "" || checkScheme(u) != nil {
			t.Errorf("accepted url %q", form.URL)
		}
		if form.Fields == nil {
			t.Error("accepted a reply without fields")
		}
	})
}

func FuzzErrorMessage(f *testing.F) {
	const secret = "tok-SECRET-42"
	f.Add([]byte(`{"message":"Allocation exceeded"}`))
	f.Add([]byte(`{"error":{"message":"token tok-SECRET-42 expired"}}`))
	f.Add([]byte(`{"detail":[{"msg":"field required"}]}`))
	f.Add([]byte(`"Missing fileName"`))
	f.Add([]byte("plain tok-SECRET-42\r\n"))
	f.Add([]byte("<html></html>"))
	f.Add([]byte(`{"message":"\u0000\u001b[31mred\ud800"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m := errorMessage(body, secret)
		if !utf8.ValidString(m) {
			t.Errorf("message %q is not valid UTF-8", m)
		}
		if n := utf8.RuneCountInString(m); n > maxMessageRunes+1 {
			t.Errorf("message has %d runes", n)
		}
		if strings.Contains(m, secret) {
			t.Errorf("message %q contains the secret", m)
		}
		if strings.ContainsFunc(m, func(r rune) bool { return unicode.IsControl(r) || r == '\n' }) {
			t.Errorf("message %q has control characters", m)
		}
		if m != strings.TrimSpace(m) {
			t.Errorf("message %q has surrounding space", m)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	f.Add([]byte(`{"token":"t","expires":"2025-01-15T10:15:00Z"}`))
	f.Add([]byte(`{"token":"t","expires":1736936100}`))
	f.Add([]byte(`{"token":"t","expires":"1736936100000"}`))
	f.Add([]byte(`{"token":"t","expires_in":"3600"}`))
	f.Add([]byte(`{"access_token":"t","expires":-1e308}`))
	f.Add([]byte(`{"token":"t","expires":"9999-12-31T23:59:59Z"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseToken(body, now)
		if err != nil {
			return
		}
		if checkToken(tok.value) != nil {
			t.Errorf("accepted token %q", tok.value)
		}
		if tok.refreshAt.Before(now.Add(minRefreshInterval)) {
			t.Errorf("refresh at %v, sooner than the minimum after %v", tok.refreshAt, now)
		}
		if tok.refreshAt.After(tok.expires) && tok.refreshAt.After(now.Add(minRefreshInterval)) {
			t.Errorf("refresh at %v, after expiry %v", tok.refreshAt, tok.expires)
		}
	})
}

func FuzzParseSession(f *testing.F) {
	f.Add([]byte(`{"token":"a","refresh_token":"r","org_id":"1234","id":42}`))
	f.Add([]byte(`{"token":"a","refresh_token":"r","org_id":1e999,"id":"x"}`))
	f.Add([]byte(`{"token":"a","refresh_token":"r","id":[1]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := parseSession(body)
		if err != nil {
			return
		}
		if checkToken(s.Token) != nil || checkToken(s.RefreshToken) != nil {
			t.Errorf("accepted session %+v", s)
		}
	})
}

func FuzzParseOrganisation(f *testing.F) {
	f.Add([]byte(`{"active":true,"monthlyAllocatedDuration":1000,"currentDurationUse":250.5,"stopWhenAllocationExceeded":true}`))
	f.Add([]byte(`{"active":"false","monthlyAllocatedDuration":"1e308","currentDurationUse":"-1e308"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		org, err := parseOrganisation(body)
		if err != nil {
			return
		}
		left := org.MinutesLeft()
		if math.IsNaN(left) || left < 0 {
			t.Errorf("MinutesLeft() = %v for %+v", left, org)
		}
	})
}
