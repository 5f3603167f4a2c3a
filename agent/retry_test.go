package agent

import (
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	min, max := time.Second, time.Minute
	for n := 0; n < 40; n++ {
		want := min
		for i := 1; i < n && want < max; i++ {
			want *= 2
		}
		if want > max {
			want = max
		}
		for i := 0; i < 50; i++ {
			d := backoff(n, min, max)
			if d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestPacerHonoursRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newPacer(time.Second, time.Minute, func() time.Time { return now })
	if !p.Hold().IsZero() {
		t.Fatal("a fresh pacer holds")
	}
	until := p.Failed(30 * time.Second)
	if got := until.Sub(now); got != 30*time.Second {
		t.Errorf("hold after Retry-After 30s = %v", got)
	}
	if p.Hold() != until {
		t.Errorf("Hold() = %v, want %v", p.Hold(), until)
	}
	// A shorter hint never shortens an existing hold.
	if u := p.Failed(0); u.Before(until) {
		t.Errorf("hold shrank to %v", u)
	}
	now = until.Add(time.Minute)
	if !p.Hold().IsZero() {
		t.Error("hold outlived its time")
	}
	p.Succeeded()
	if p.failures != 0 {
		t.Error("Succeeded kept the failure count")
	}
}
