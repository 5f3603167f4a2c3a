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
