package agent

import (
	"context"
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

	mu      sync.Mutex // guards the fields below
	err     error      // the last commit error; nil while commits work
	since   time.Time  // when commits started failing
	last    time.Time  // when a failure was last logged; kept across runs, so a flapping disk logs little
	fails   int        // commit failures not logged yet
	logged  bool       // a failure of this run was logged
	lastErr time.Time  // when a commit last failed
}

// problemLinger is how long status keeps showing a commit failure after
// commits work again: a nearly full disk fails some commits and not
// others, and a problem that comes and goes must still be seen.
var problemLinger = time.Minute

// commitLogEvery is how often a run of commit failures is logged.
var commitLogEvery = time.Minute

// failed records a failed commit, logging the first of a run and then at
// most one line per commitLogEvery.
func (h *commitHealth) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if h.err == nil {
		h.since = now
	}
	h.err, h.lastErr = err, now
	h.fails++
	if h.last.IsZero() || now.Sub(h.last) >= commitLogEvery {
		h.log.Error("cannot write the state file: taking no new work until it can; uploads already confirmed are kept in memory and recorded once it works again",
			"failures", h.fails, "since", h.since.Format(time.RFC3339), "err", err)
		h.last, h.fails, h.logged = now, 0, true
	}
}

// ok records a commit that landed.
func (h *commitHealth) ok() {
	h.mu.Lock()
	if h.err == nil {
		h.mu.Unlock()
		return
	}
	if h.logged {
		h.log.Info("the state file can be written again", "after", h.now().Sub(h.since).Round(time.Second))
	}
	h.err, h.logged = nil, false
	h.mu.Unlock()
	h.wake()
}

// problem describes the failure for status: "" once commits have worked
// for problemLinger.
func (h *commitHealth) problem() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.err != nil:
		return "cannot write the state file since " + h.since.Format(time.RFC3339) + ": " + h.err.Error() +
			" (free space or fix the disk under state_dir; no new uploads start until then)"
	case !h.lastErr.IsZero() && h.now().Sub(h.lastErr) < problemLinger:
		return "the state file could not be written at " + h.lastErr.Format(time.RFC3339) +
			" (works again now; check the free space under state_dir)"
	}
	return ""
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

// Error logs at error level, as limited.
func (l *limitedLog) Error(log *slog.Logger, msg string, args ...any) {
	l.log(log, slog.LevelError, msg, args...)
}

// Warn logs at warning level, as limited.
func (l *limitedLog) Warn(log *slog.Logger, msg string, args ...any) {
	l.log(log, slog.LevelWarn, msg, args...)
}

func (l *limitedLog) log(log *slog.Logger, level slog.Level, msg string, args ...any) {
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
	log.Log(context.Background(), level, msg, args...)
}
