package agent

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The clock check reads the API's Date header: a server ten minutes ahead
// shows as this machine ten minutes behind.
func TestClockSkew(t *testing.T) {
	for _, off := range []time.Duration{0, 10 * time.Minute, -10 * time.Minute} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Date", time.Now().Add(off).UTC().Format(http.TimeFormat))
		}))
		skew, ok := clockSkew(context.Background(), srv.URL, 5*time.Second)
		srv.Close()
		if !ok {
			t.Fatalf("offset %v: no skew read", off)
		}
		if d := skew + off; d < -2*time.Second || d > 2*time.Second {
			t.Errorf("server %v ahead: skew %v, want about %v", off, skew, -off)
		}
	}
}

// The status listener answers only to loopback names.
func TestLoopbackOnly(t *testing.T) {
	h := loopbackOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for host, want := range map[string]int{
		"127.0.0.1:7844": 200, "localhost:7844": 200, "[::1]:7844": 200, "LOCALHOST": 200,
		"evil.example:7844": http.StatusMisdirectedRequest, "10.0.0.1:7844": http.StatusMisdirectedRequest, "": http.StatusMisdirectedRequest,
	} {
		r := httptest.NewRequest(http.MethodGet, "/status", nil)
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("Host %q: %d, want %d", host, w.Code, want)
		}
	}
}
