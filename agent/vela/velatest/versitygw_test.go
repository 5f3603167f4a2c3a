package velatest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestVersitygwAgrees(t *testing.T) {
	ext := StartVersitygw(t)
	s := startServer(t, Options{})
	vgwPresign := func(t *testing.T, key string, ttl time.Duration, maxSize int64) *postForm {
		t.Helper()
		url, fields, err := PresignPost(context.Background(), ext, key, ttl, maxSize)
		if err != nil {
			t.Fatal(err)
		}
		return &postForm{url: url, fields: fields, fileName: "call.wav", file: []byte("RIFF....WAVEfmt ")}
	}

	for i, c := range uploadCases {
		t.Run(c.name, func(t *testing.T) {
			key := fmt.Sprintf("cases/%02d/call.wav", i)
			ours := runUploadCase(t, builtinPresign(s), key, c)
			if ours.Status != c.want.status || ours.Code != c.want.code {
				t.Errorf("built-in: got %d %s (%s), want %d %s", ours.Status, ours.Code, ours.Message, c.want.status, c.want.code)
			}
			theirs, err := tryUploadCase(t, vgwPresign, key, c)
			if err != nil && c.vgwMayBreak {
				t.Skipf("versitygw broke the connection (%v): %s", err, c.vgwWhy)
			}
			if err != nil {
				t.Fatalf("POST to versitygw: %v", err)
			}
			t.Logf("built-in: %d %s %q; versitygw: %d %s %q", ours.Status, ours.Code, ours.Message, theirs.Status, theirs.Code, theirs.Message)

			want := c.want
			if c.vgw != nil {
				want = *c.vgw
				t.Logf("versitygw differs here: %s", c.vgwWhy)
			}
			if theirs.Status != want.status || theirs.Code != want.code {
				t.Errorf("versitygw: got %d %s, want %d %s", theirs.Status, theirs.Code, want.status, want.code)
			}
			if (ours.Status < 300) != (theirs.Status < 300) && (want.status < 300) == (c.want.status < 300) {
				t.Errorf("disagree: built-in %d, versitygw %d", ours.Status, theirs.Status)
			}

			if _, found := ReadObject(t, ext, key); found != (theirs.Status < 300) {
				t.Errorf("versitygw stored the object: %v, after a %d reply", found, theirs.Status)
			}
		})
	}
}

func TestExternalVersitygw(t *testing.T) {
	ext := StartVersitygw(t)
	s := startServer(t, Options{External: &ext})
	if s.S3URL() != ext.Endpoint {
		t.Errorf("S3URL() = %q, want %q", s.S3URL(), ext.Endpoint)
	}
	f := presignVia(t, s, accessToken(t, s), "call_001.wav")
	if got := f.send(t); got.Status != http.StatusNoContent {
		t.Fatalf("upload to versitygw: %+v", got)
	}
	if data, found := ReadObject(t, ext, f.field("key")); !found || !bytes.Equal(data, f.file) {
		t.Errorf("versitygw has %q (found %v), want %q", data, found, f.file)
	}
	if objs := s.Objects(); len(objs) != 0 {
		t.Errorf("Objects() = %+v with an external store", objs)
	}
}
