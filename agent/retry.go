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
//
// A hold is about the remote, never about one job: a job's own backoff
// (backoff, with the attempts stored in the job) is kept apart from it.
// Three rules keep one remote failure from being counted many times:
//   - Requests that were in flight together fail together: a failure of a
//     request sent before the last counted failure is not a new probe, so
//     it neither raises the count nor lengthens the hold.
//   - A failure while the remote was seen working (a request succeeded
//     after this one was sent) is about that request, not the remote: it
//     holds nothing. One bad file cannot stall the others.
//   - A Retry-After is the remote's own word and is the hold when given.
type pacer struct {
	min, max time.Duration
	now      func() time.Time

	mu       sync.Mutex // guards the fields below
	failures int        // consecutive counted failures (probes that failed)
	lastFail time.Time  // when the last counted failure was recorded
	lastOK   time.Time  // when the last success was recorded
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

// Failed records the transient failure of a request sent at sent, with the
// remote's Retry-After hint (0 if none). It returns the hold now in force.
func (p *pacer) Failed(sent time.Time, retryAfter time.Duration) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if retryAfter > 0 {
		// The remote said how long: that is the hold, however many
		// requests it said it to.
		if !sent.Before(p.lastFail) {
			p.failures++
			p.lastFail = now
		}
		p.until = now.Add(min(retryAfter, p.max))
		return p.until
	}
	if p.lastOK.After(sent) || sent.Before(p.lastFail) {
		// The remote answered others meanwhile, or this request went out
		// with the one whose failure set the hold: no new probe failed.
		return p.until
	}
	p.failures++
	p.lastFail = now
	if t := now.Add(backoff(p.failures, p.min, p.max)); t.After(p.until) {
		p.until = t
	}
	return p.until
}

// Succeeded records a success of a request sent at sent. A probe's success
// ends the hold and the run of failures; a request sent before the last
// failure was counted says nothing about the remote since.
func (p *pacer) Succeeded(sent time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastOK = p.now()
	if sent.Before(p.lastFail) {
		return
	}
	p.failures = 0
	p.until = time.Time{}
}
