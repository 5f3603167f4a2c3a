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
	for i := uint64(1); i <= 4; i++ {
		p.Failed(i, sent, 0)
	}
	probe := c.add(5 * time.Second)
	c.add(time.Millisecond)
	until := p.Failed(5, probe, time.Second)
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
	for i := uint64(1); i <= 4; i++ {
		p.Failed(i, sent, 0)
		c.add(time.Millisecond)
	}
	if p.failures != 1 || !p.Hold().IsZero() {
		t.Fatalf("after 4 concurrent failures: failures %d, hold %v; want 1, none", p.failures, p.Hold())
	}
	// The next request, of another job, fails too: the remote is down.
	probe := c.now()
	c.add(time.Millisecond)
	until := p.Failed(5, probe, 0)
	if d := until.Sub(c.now()); d < min/2 || d > min {
		t.Errorf("hold after the second failed probe = %v, want in [%v, %v]", d, min/2, min)
	}
	// And the one after the hold: the hold doubles, once.
	probe = c.add(min)
	c.add(time.Millisecond)
	until = p.Failed(6, probe, 0)
	if d := until.Sub(c.now()); d < min || d > 2*min || p.failures != 3 {
		t.Errorf("after the third failed probe: hold %v, failures %d; want in [%v, %v], 3", d, p.failures, min, 2*min)
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

// One job failing again and again is about that job (one bad file): it
// holds nobody, however often it fails.
func TestPacerOneBadJobHoldsNobody(t *testing.T) {
	c := &clock{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	p := newPacer(5*time.Second, 10*time.Minute, c.now)
	for i := 0; i < 20; i++ {
		sent := c.now()
		c.add(10 * time.Millisecond)
		p.Failed(7, sent, 0)
		if !p.Hold().IsZero() {
			t.Fatalf("failure %d of one job holds the remote", i+1)
		}
		if i%3 == 0 {
			p.Succeeded(c.add(10 * time.Millisecond)) // sometimes a healthy upload in between
		}
		c.add(time.Second)
	}
}
