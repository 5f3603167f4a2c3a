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

// clock is a settable clock for pacer tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                { return c.t }
func (c *clock) add(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

func TestPacerRetryAfterIsTheHold(t *testing.T) {
	c := &clock{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newPacer(5*time.Second, 10*time.Minute, c.now)
	if !p.Hold().IsZero() {
		t.Fatal("a fresh pacer holds")
	}
	// Four requests in flight together get 503s; then a 429 says 1s.
	sent := c.now()
	c.add(time.Millisecond)
	for i := 0; i < 4; i++ {
		p.Failed(sent, 0)
	}
	probe := c.add(5 * time.Second)
	c.add(time.Millisecond)
	until := p.Failed(probe, time.Second)
	if got := until.Sub(c.now()); got != time.Second {
		t.Errorf("hold after Retry-After: 1 = %v, want 1s", got)
	}
	if p.Hold() != until {
		t.Errorf("Hold() = %v, want %v", p.Hold(), until)
	}
	c.add(time.Second)
	if !p.Hold().IsZero() {
		t.Error("hold outlived its Retry-After")
	}
	p.Succeeded(c.now())
	if p.failures != 0 {
		t.Error("Succeeded kept the failure count")
	}
}

// Failures of requests that were in flight together count once: the hold
// grows one step per probe, not per concurrent failure.
func TestPacerCountsOneFailurePerProbe(t *testing.T) {
	c := &clock{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	min := 5 * time.Second
	p := newPacer(min, 10*time.Minute, c.now)
	sent := c.now()
	c.add(time.Millisecond)
	var until time.Time
	for i := 0; i < 4; i++ {
		until = p.Failed(sent, 0)
		c.add(time.Millisecond)
	}
	if d := until.Sub(sent); d > min+10*time.Millisecond {
		t.Fatalf("hold after 4 concurrent failures = %v, want at most retry_min (%v)", d, min)
	}
	if p.failures != 1 {
		t.Errorf("failures = %d, want 1", p.failures)
	}
	// The probe after the hold fails: now two.
	probe := c.add(min)
	c.add(time.Millisecond)
	until = p.Failed(probe, 0)
	if d := until.Sub(c.now()); d < min/2*2 || d > 2*min || p.failures != 2 {
		t.Errorf("after the failed probe: hold %v, failures %d; want in [%v, %v], 2", d, p.failures, min, 2*min)
	}
	// A success of a request sent before that failure does not end the hold.
	p.Succeeded(probe.Add(-time.Second))
	if p.Hold().IsZero() {
		t.Error("a stale success ended the hold")
	}
	p.Succeeded(c.now())
	if !p.Hold().IsZero() || p.failures != 0 {
		t.Error("a probe's success did not end the hold")
	}
}

// A failure while other requests succeed is about that request (one bad
// file): it holds nobody.
func TestPacerIgnoresAFailureAmidSuccesses(t *testing.T) {
	c := &clock{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newPacer(5*time.Second, 10*time.Minute, c.now)
	for i := 0; i < 20; i++ {
		bad := c.now()
		c.add(10 * time.Millisecond)
		p.Succeeded(c.now().Add(-5 * time.Millisecond)) // a healthy upload sent after the bad one
		c.add(10 * time.Millisecond)
		p.Failed(bad, 0)
		if !p.Hold().IsZero() {
			t.Fatalf("round %d: one file's failure holds the remote", i)
		}
	}
}
