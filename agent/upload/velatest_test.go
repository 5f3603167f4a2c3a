package upload_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent/upload"
	"github.com/vela-agent/vela-agent/agent/vela"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// startVela starts the in-process Vela API and policy-verifying S3 store,
// and returns a client for it.
// presign asks the emulator for a form, as the uploader takes it.
func presign(t *testing.T, c *vela.Client) (*upload.Form, error) {
	ps, err := c.Presign(t.Context(), "call.wav", nil)
	if err != nil {
		return nil, err
	}
	f := &upload.Form{URL: ps.URL, Expires: ps.Expires}
	for _, fd := range ps.Fields {
		f.Fields = append(f.Fields, upload.Field{Name: fd.Name, Value: fd.Value})
	}
	return f, nil
}

func startVela(t *testing.T) (*velatest.Server, *vela.Client) {
	t.Helper()
	srv, err := velatest.Start(velatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := vela.New(vela.Config{
		BaseURL: srv.URL(),
		OrgID:   "org-test",
		Credential: func() (vela.CredentialKind, string, error) {
			return vela.RefreshToken, srv.RefreshToken(), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// TestVerifiedFileNames uploads files whose names hold control characters
// and invalid UTF-8 to a store that checks forms as S3 does: each is
// stored, byte for byte.
func TestVerifiedFileNames(t *testing.T) {
	srv, c := startVela(t)
	names := []string{"line\rbreak.wav", "line\nfeed.wav", "\x1b[31mred.wav", "nul\x00.wav", "bad\xff\xfe.wav", "café é.wav", "日本.wav", `quote ".wav`}
	want := map[string]string{}
	for i, name := range names {
		form, err := presign(t, c)
		if err != nil {
			t.Fatal(err)
		}
		data := "RIFF " + strings.Repeat("x", i+1) + name
		sum := sha256.Sum256([]byte(data))
		b := upload.Body{Name: name, Size: int64(len(data)), Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }}
		if _, err := new(upload.Uploader).Post(t.Context(), form, b, nil); err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		want[hex.EncodeToString(sum[:])] = name
	}
	for _, o := range srv.Objects() {
		delete(want, o.SHA256)
	}
	for _, name := range want {
		t.Errorf("%q was not stored as sent", name)
	}
}

// TestVerifiedReadyFails checks that a store checking forms as S3 does
// stores nothing when Ready fails, and stores the file when it is sent
// again with the same form.
func TestVerifiedReadyFails(t *testing.T) {
	srv, c := startVela(t)
	form, err := presign(t, c)
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Repeat("RIFF", 64<<10)
	errCommit := errors.New("commit failed")
	b := upload.Body{Name: "call.wav", Size: int64(len(data)), Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }}
	b.Ready = func(context.Context) error { return errCommit }
	_, err = new(upload.Uploader).Post(t.Context(), form, b, nil)
	var e *upload.Error
	if !errors.As(err, &e) || e.Kind != upload.Retry || !errors.Is(err, errCommit) {
		t.Fatalf("got %v, want a Retry error wrapping Ready's", err)
	}
	if objs := srv.Objects(); len(objs) != 0 {
		t.Fatalf("stored %+v after Ready failed", objs)
	}
	b.Ready = func(context.Context) error { return nil }
	if _, err := new(upload.Uploader).Post(t.Context(), form, b, nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(data))
	if objs := srv.Objects(); len(objs) != 1 || objs[0].SHA256 != hex.EncodeToString(sum[:]) || objs[0].Uploads != 1 {
		t.Errorf("stored %+v", objs)
	}
}
