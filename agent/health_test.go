package agent

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A state file that fails 25 times in 8 s, working now and then in
// between, is logged once, and shown in status while it lasts and for
// problemLinger after.
func TestCommitHealthLogsOncePerRun(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	woken := 0
	h := &commitHealth{log: slog.New(slog.NewTextHandler(&buf, nil)), now: c.now, wake: func() { woken++ }}
	full := errors.New("write queue.db: no space left on device")
	for i := 0; i < 25; i++ {
		h.failed(full)
		if !h.broken() || !strings.Contains(h.problem(), "no space left") {
			t.Fatalf("failure %d: broken %v, problem %q", i, h.broken(), h.problem())
		}
		if i%5 == 4 {
			h.ok() // a commit that fitted in free pages
		}
		c.add(320 * time.Millisecond)
	}
	if n := strings.Count(buf.String(), "cannot write the state file"); n != 1 {
		t.Errorf("logged %d times in 8s, want once:\n%s", n, buf.String())
	}
	h.ok()
	if h.broken() || h.problem() == "" || woken == 0 {
		t.Errorf("after recovery: broken %v, problem %q (want still shown), woken %d", h.broken(), h.problem(), woken)
	}
	c.add(problemLinger)
	if p := h.problem(); p != "" {
		t.Errorf("problem still shown %v after recovery: %q", problemLinger, p)
	}
}

// A failure repeated on every retry is logged once a minute, with the
// number of repeats left out.
func TestLimitedLog(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	c := &clock{time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := limitedLog{every: time.Minute, now: c.now}
	for i := 0; i < 120; i++ { // every second for two minutes
		l.Error(log, "claim a job", "err", "disk I/O error")
		c.add(time.Second)
	}
	if n := strings.Count(buf.String(), "claim a job"); n != 2 {
		t.Errorf("logged %d times in two minutes, want 2:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "repeats_not_logged=59") {
		t.Errorf("the second line does not count the repeats:\n%s", buf.String())
	}
}
