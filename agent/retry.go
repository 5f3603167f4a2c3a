package agent

import (
	"math/rand/v2"
	"sync"
	"time"
)

// backoff returns how long a job waits after its n-th consecutive failure
// (n >= 1): min doubled per failure, capped at max, with "equal jitter" (the
// wait is uniform in [d/2, d]) so that jobs that failed together do not come
// back together. The attempt count is persisted in the job, so the wait
// survives restarts; that is why this is a function of n rather than a
// stateful backoff object.
func backoff(n int, min, max time.Duration) time.Duration {
	if n < 1 {
		n = 1
	}
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// pacer decides when a remote (the Vela API, the upload service) may be
// called again. It is the one place that turns a remote's failures and its
// Retry-After hints into a hold that every job respects, so that a remote
// that is down sees one probe per backoff period instead of one request per
// queued job.
type pacer struct {
	min, max time.Duration
	now      func() time.Time

	mu       sync.Mutex // guards the fields below
	failures int        // consecutive transient failures
	until    time.Time  // no call before this
}

func newPacer(min, max time.Duration, now func() time.Time) *pacer {
	return &pacer{min: min, max: max, now: now}
}

// Hold reports until when calls must wait; zero if they may go now.
func (p *pacer) Hold() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.now().Before(p.until) {
		return p.until
	}
	return time.Time{}
}

// Failed records a transient failure. retryAfter, the remote's own hint, wins
// over the computed backoff when it is longer. It returns the new hold.
func (p *pacer) Failed(retryAfter time.Duration) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures++
	wait := backoff(p.failures, p.min, p.max)
	if retryAfter > wait {
		wait = retryAfter
	}
	if t := p.now().Add(wait); t.After(p.until) {
		p.until = t
	}
	return p.until
}

// Succeeded ends a run of failures.
func (p *pacer) Succeeded() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failures = 0
	p.until = time.Time{}
}
