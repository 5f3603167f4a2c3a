package upload

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Window is a weekly period with its own bandwidth limit.
type Window struct {
	Days     []time.Weekday // days the window starts on; none = every day
	From, To time.Duration  // wall-clock offsets from local midnight; a To not after From ends on the next day
	Limit    int64          // bytes/s, 0 = unlimited
}

// Limiter caps the total upload bandwidth across all uploads, following an
// optional weekly schedule. It counts the files' bytes, not the few bytes of
// form fields. Its methods may be called concurrently; a nil *Limiter is
// unlimited.
type Limiter struct {
	loc  *time.Location
	now  func() time.Time // the schedule's clock, replaced in tests
	rate *rate.Limiter    // burst maxChunk; its limit is set while limit > 0

	mu       sync.Mutex // guards the fields below
	def      int64
	schedule []Window
	limit    int64     // bytes/s now, 0 = unlimited
	checked  time.Time // when limit was last evaluated; zero = never
}

// Limits of the waits for bandwidth.
const (
	maxChunk   = 32 << 10        // most bytes let through per wait; the bucket's size
	chunkTime  = time.Second / 8 // one chunk is at most this long at the current limit
	recheckGap = time.Second     // how often the schedule is evaluated again
)

// NewLimiter returns a Limiter that allows defaultLimit bytes/s outside the
// schedule's windows, and a window's Limit inside it; 0 or less means
// unlimited. When windows overlap, the first in the schedule applies. The
// windows are in loc; nil means the local time zone. The limit is evaluated
// again once a second has passed, so a window starting during an upload
// takes effect within about a second.
func NewLimiter(defaultLimit int64, schedule []Window, loc *time.Location) *Limiter {
	if loc == nil {
		loc = time.Local
	}
	return &Limiter{
		def:      max(defaultLimit, 0),
		schedule: append([]Window(nil), schedule...),
		loc:      loc,
		now:      time.Now,
		rate:     rate.NewLimiter(rate.Inf, maxChunk),
	}
}

// Set replaces the default limit and the schedule, as NewLimiter takes
// them. Uploads in progress follow the new limit from their next chunk.
func (l *Limiter) Set(defaultLimit int64, schedule []Window) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.def = max(defaultLimit, 0)
	l.schedule = append([]Window(nil), schedule...)
	l.checked = time.Time{}
}

// Current returns the limit now in bytes/s, 0 for unlimited.
func (l *Limiter) Current() int64 {
	if l == nil {
		return 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.checked.IsZero() && !now.Before(l.checked) && now.Sub(l.checked) < recheckGap {
		return l.limit
	}
	l.checked = now
	if limit := l.limitAt(now); limit != l.limit {
		l.limit = limit
		if limit > 0 {
			l.rate.SetLimit(rate.Limit(limit))
		}
	}
	return l.limit
}

// take waits until up to n bytes may be sent and returns how many. It lets
// through at most about chunkTime's worth of bytes at a time, so that a
// change of limit applies quickly.
func (l *Limiter) take(ctx context.Context, n int) (int, error) {
	limit := l.Current()
	if limit == 0 || n == 0 {
		return n, nil
	}
	chunk := min(limit/int64(time.Second/chunkTime), maxChunk) // in int64: int may be 32 bits
	n = min(n, max(int(chunk), 1))
	if err := l.rate.WaitN(ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}

// limitAt returns the limit that the schedule sets at t. l.mu is held.
func (l *Limiter) limitAt(t time.Time) int64 {
	t = t.In(l.loc)
	y, m, d := t.Date()
	for _, w := range l.schedule {
		// A window that ends on the next day may have started yesterday.
		for day := d - 1; day <= d; day++ {
			if !w.on(time.Date(y, m, day, 0, 0, 0, 0, l.loc).Weekday()) {
				continue
			}
			start := at(y, m, day, w.From, l.loc)
			end := at(y, m, day, w.To, l.loc)
			if w.To <= w.From {
				end = at(y, m, day+1, w.To, l.loc)
			}
			if !t.Before(start) && t.Before(end) {
				return max(w.Limit, 0)
			}
		}
	}
	return l.def
}

func (w *Window) on(day time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, d := range w.Days {
		if d == day {
			return true
		}
	}
	return false
}

// at returns the wall-clock time off after midnight of the given day.
func at(y int, m time.Month, d int, off time.Duration, loc *time.Location) time.Time {
	h, rest := off/time.Hour, off%time.Hour
	return time.Date(y, m, d, int(h), int(rest/time.Minute), int(rest%time.Minute/time.Second), int(rest%time.Second), loc)
}
