package agent

import (
	"log/slog"
	"sync"
	"time"
)

// commitHealth tracks whether commits to the state file work. While they
// fail (a full disk, an I/O error), the agent takes no new work: an upload
// it cannot record would only be repeated later. It keeps the confirmations
// it already has in memory and retries their commits until they land.
type commitHealth struct {
	log  *slog.Logger
	now  func() time.Time
	wake func() // told when commits work again

	mu    sync.Mutex // guards the fields below
	err   error      // the last commit error; nil while commits work
	since time.Time  // when commits started failing
	fails int        // commit failures since then
	last  time.Time  // when a failure was last logged
}

// commitLogEvery is how often a run of commit failures is logged.
var commitLogEvery = time.Minute

// failed records a failed commit, logging the first of a run and then at
// most one line per commitLogEvery.
func (h *commitHealth) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if h.err == nil {
		h.since, h.fails = now, 0
	}
	h.err = err
	h.fails++
	if h.fails == 1 || now.Sub(h.last) >= commitLogEvery {
		h.last = now
		h.log.Error("cannot write the state file: taking no new work until it can; uploads already confirmed are kept in memory and recorded once it works again",
			"failures", h.fails, "since", h.since.Format(time.RFC3339), "err", err)
	}
}

// ok records a commit that landed.
func (h *commitHealth) ok() {
	h.mu.Lock()
	if h.err == nil {
		h.mu.Unlock()
		return
	}
	h.log.Info("the state file can be written again", "failures", h.fails, "after", h.now().Sub(h.since).Round(time.Second))
	h.err = nil
	h.mu.Unlock()
	h.wake()
}

// problem describes the failure for status; "" while commits work.
func (h *commitHealth) problem() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		return ""
	}
	return "cannot write the state file since " + h.since.Format(time.RFC3339) + ": " + h.err.Error() +
		" (free space or fix the disk under state_dir; no new uploads start until then)"
}

// broken reports whether commits are failing.
func (h *commitHealth) broken() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err != nil
}

// limitedLog logs a repeated failure once, then at most once per interval
// with the number of repeats, so that a failure on every retry does not
// flood the log.
type limitedLog struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex // guards last and n
	last time.Time
	n    int // repeats not logged since last
}

func (l *limitedLog) Error(log *slog.Logger, msg string, args ...any) {
	l.mu.Lock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.n++
		l.mu.Unlock()
		return
	}
	n := l.n
	l.last, l.n = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "repeats_not_logged", n)
	}
	log.Error(msg, args...)
}
