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
// These rules keep one failure from being counted many times:
//   - Requests in flight together fail together: a failure of a request
//     sent before the last counted failure is no new probe, and neither
//     raises the count nor lengthens the hold.
//   - The same job failing again, with no other job failing in between, is
//     evidence about that job (one bad file), not the remote: it counts
//     once. A hold needs two different jobs failing with no success in
//     between, so one bad file never stalls the others.
//   - A Retry-After is the remote's own word and is the hold when given.
type pacer struct {
	now   func() time.Time
	timed *timing // the requests' latency, for /metrics; set once, before use

	mu       sync.Mutex // guards the fields below
	min, max time.Duration
	failures int       // counted failures since the last success
	lastFail time.Time // when the last counted failure was recorded
	lastJob  uint64    // whose failure that was
	until    time.Time // no call before this
	stats    PacerStats
}

// PacerStats are figures of one remote's pacing, for monitoring. The
// counters only grow.
type PacerStats struct {
	Holds           uint64        // holds started by failures: the remote was down
	RetryAfterHolds uint64        // holds the remote asked for with Retry-After
	HeldCalls       uint64        // calls that met a hold and waited it out
	Failures        uint64        // transient failures reported, counted or not
	Counted         uint64        // of those, the ones that counted as a failed probe
	HoldTime        time.Duration // the holds' total length as set
	Holding         bool          // a hold is in force now
}

func newPacer(min, max time.Duration, now func() time.Time) *pacer {
	return &pacer{min: min, max: max, now: now}
}

// setBounds changes the backoff's bounds (a reload of upload.retry_min and
// retry_max); the hold in force stays.
func (p *pacer) setBounds(min, max time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.min, p.max = min, max
}

// Hold reports until when calls must wait; zero if they may go now. A
// caller that gets a time waits it out: it is counted as a held call.
func (p *pacer) Hold() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.now().Before(p.until) {
		p.stats.HeldCalls++
		return p.until
	}
	return time.Time{}
}

// Stats returns the pacer's figures.
func (p *pacer) Stats() PacerStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.stats
	st.Holding = p.now().Before(p.until)
	return st
}

// setUntil starts or extends the hold to t and counts it.
func (p *pacer) setUntil(now, t time.Time, retryAfter bool) {
	if retryAfter {
		p.stats.RetryAfterHolds++
	} else {
		p.stats.Holds++
	}
	from := now
	if p.until.After(now) {
		from = p.until
	}
	p.stats.HoldTime += max(t.Sub(from), 0)
	p.until = t
}

// Failed records the transient failure of job's request sent at sent, with
// the remote's Retry-After hint (0 if none). It returns the hold now in
// force.
func (p *pacer) Failed(job uint64, sent time.Time, retryAfter time.Duration) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	p.stats.Failures++
	probe := !sent.Before(p.lastFail) && (p.failures == 0 || job != p.lastJob)
	if probe {
		p.failures++
		p.stats.Counted++
		p.lastFail, p.lastJob = now, job
	}
	switch {
	case retryAfter > 0:
		// The remote said how long: that is the hold, however many
		// requests it said it to.
		p.setUntil(now, now.Add(min(retryAfter, p.max)), true)
	case probe && p.failures >= 2:
		if t := now.Add(backoff(p.failures-1, p.min, p.max)); t.After(p.until) {
			p.setUntil(now, t, false)
		}
	}
	return p.until
}

// Succeeded records a success of a request sent at sent. It ends the hold
// and the run of failures, unless the request went out before the last
// counted failure: then it says nothing about the remote since.
func (p *pacer) Succeeded(sent time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sent.Before(p.lastFail) {
		return
	}
	p.failures, p.lastJob = 0, 0
	p.until = time.Time{}
}
