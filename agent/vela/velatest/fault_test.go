package velatest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

func TestFaultStatus(t *testing.T) {
	s := startServer(t, Options{})
	token := accessToken(t, s)
	s.Inject(Fault{Op: OpPresign, Status: http.StatusServiceUnavailable, RetryAfter: 1500 * time.Millisecond, Message: "busy", Times: 2})
	s.Inject(Fault{Op: OpPresign, Status: http.StatusTooManyRequests})
	body := map[string]string{"org_id": s.o.OrgID, "fileName": "a.wav"}
	for i := range 2 {
		req, _ := http.NewRequest("POST", s.URL()+"/asr/async/upload/vela", bytes.NewReader([]byte(`{"org_id":"org-test","fileName":"a.wav"}`)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "2" {
			t.Errorf("request %d: %d Retry-After %q", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if status, out := apiCall(t, s, "POST", "/asr/async/upload/vela", token, body); status != http.StatusTooManyRequests || out["message"] != "Too Many Requests" {
		t.Errorf("second fault: %d %v", status, out)
	}
	if status, _ := apiCall(t, s, "POST", "/asr/async/upload/vela", token, body); status != http.StatusOK {
		t.Errorf("after the faults: %d", status)
	}
	if got := s.Count(OpPresign); got != 4 {
		t.Errorf("Count(OpPresign) = %d, want 4", got)
	}
	if got := len(s.Presigns()); got != 1 {
		t.Errorf("%d presigns recorded, want 1", got)
	}

	s.Inject(Fault{Op: OpOrganisation, Status: http.StatusInternalServerError})
	s.ClearFaults()
	if status, _ := apiCall(t, s, "GET", "/organisations/vela/"+s.o.OrgID, token, nil); status != http.StatusOK {
		t.Errorf("after ClearFaults: %d", status)
	}
}

func TestFaultUploadStatus(t *testing.T) {
	s := startServer(t, Options{})
	f := presignVia(t, s, accessToken(t, s), "a.wav")
	s.Inject(Fault{Op: OpUpload, Status: http.StatusServiceUnavailable})
	s.Inject(Fault{Op: OpUpload, Status: http.StatusForbidden, Code: "AccessDenied", Message: "Invalid according to Policy: Policy expired."})
	want := []s3Reply{
		{http.StatusServiceUnavailable, "SlowDown", "Service Unavailable"},
		{http.StatusForbidden, "AccessDenied", "Invalid according to Policy: Policy expired."},
		{Status: http.StatusNoContent},
	}
	for i, w := range want {
		if got := f.send(t); got != w {
			t.Errorf("upload %d: got %+v, want %+v", i, got, w)
		}
	}
	if objs := s.Objects(); len(objs) != 1 || objs[0].Uploads != 1 {
		t.Errorf("Objects() = %+v", objs)
	}
}

func TestFaultDelay(t *testing.T) {
	rec := newLogRecorder()
	s := startServer(t, Options{Logger: slog.New(rec)})
	token := accessToken(t, s)
	rec.waitRequest(t, OpGenerate)

	// A delay the client does not wait for: the handler notices the client
	// leaving and returns.
	s.Inject(Fault{Op: OpOrganisation, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL()+"/organisations/vela/"+s.o.OrgID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("delayed request: %v, want a timeout", err)
	}
	if attrs := rec.waitRequest(t, OpOrganisation); !attrs["fault"].Bool() {
		t.Errorf("log of the delayed request: %v", attrs)
	}

	// A short delay, then the request goes on normally.
	s.Inject(Fault{Op: OpOrganisation, Delay: time.Millisecond})
	if status, _ := apiCall(t, s, "GET", "/organisations/vela/"+s.o.OrgID, token, nil); status != http.StatusOK {
		t.Errorf("after a short delay: %d", status)
	}

	// An upload delayed past the client's patience; Close ends the handler.
	f := presignVia(t, s, token, "a.wav")
	s.Inject(Fault{Op: OpUpload, Delay: time.Hour})
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.try(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("delayed upload: %v, want a timeout", err)
	}
}

func TestFaultReset(t *testing.T) {
	rec := newLogRecorder()
	s := startServer(t, Options{Logger: slog.New(rec)})
	token := accessToken(t, s)
	f := presignVia(t, s, token, "a.wav")
	f.file = bytes.Repeat([]byte("x"), 1<<20)

	s.Inject(Fault{Op: OpUpload, ResetAfter: 64 << 10})
	if got, err := f.try(context.Background()); err == nil {
		t.Fatalf("upload reset mid-body: got %+v, want an error", got)
	}
	if attrs := rec.waitRequest(t, OpUpload); !attrs["reset"].Bool() {
		t.Errorf("log of the reset upload: %v", attrs)
	}
	if objs := s.Objects(); len(objs) != 0 {
		t.Fatalf("a reset upload stored %+v", objs)
	}
	if got := f.send(t); got.Status != http.StatusNoContent {
		t.Fatalf("upload after the reset: %+v", got)
	}

	s.Inject(Fault{Op: OpGenerate, ResetAfter: 1})
	req, _ := http.NewRequest("POST", s.URL()+"/auth/generate", bytes.NewReader([]byte(`{"refresh_token":"x"}`)))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("reset API request: got %d, want an error", resp.StatusCode)
	}
	if got := s.Count(OpUpload); got != 2 {
		t.Errorf("Count(OpUpload) = %d, want 2", got)
	}
}
