package upload

import (
	"testing"
	"time"
	_ "time/tzdata" // the schedule tests need Europe/Berlin everywhere
)

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLimiterSchedule(t *testing.T) {
	sast := time.FixedZone("SAST", 2*60*60)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	office := []Window{
		{Days: weekdays, From: 8 * time.Hour, To: 17 * time.Hour, Limit: 100},
		{Days: []time.Weekday{time.Friday}, From: 22 * time.Hour, To: 6 * time.Hour, Limit: 0}, // into Saturday
		{Days: []time.Weekday{time.Monday}, From: 0, To: time.Hour, Limit: 7},
		{From: 12 * time.Hour, To: 13 * time.Hour, Limit: 5},                                                                    // every day, but office hours come first
		{Days: []time.Weekday{time.Saturday}, From: 13*time.Hour + 30*time.Minute, To: 13*time.Hour + 30*time.Minute, Limit: 9}, // 24 hours
	}
	utc := func(day, hour, min int) time.Time { // day of January 2024; the 1st is a Monday
		return time.Date(2024, time.January, day, hour, min, 0, 0, time.UTC)
	}
	tests := []struct {
		name     string
		def      int64
		schedule []Window
		loc      *time.Location
		at       time.Time
		want     int64
	}{
		{"no schedule", 50, nil, sast, utc(1, 12, 0), 50},
		{"no limit at all", 0, nil, sast, utc(1, 12, 0), 0},
		{"negative default is unlimited", -1, nil, sast, utc(1, 12, 0), 0},
		{"Monday before office hours", 50, office, sast, utc(1, 5, 59), 50},
		{"Monday office hours start", 50, office, sast, utc(1, 6, 0), 100},
		{"Monday office hours, noon overlap: first window wins", 50, office, sast, utc(1, 10, 30), 100},
		{"Monday office hours end", 50, office, sast, utc(1, 15, 0), 50},
		{"Saturday noon window", 50, office, sast, utc(6, 10, 30), 5},
		{"Friday night", 50, office, sast, utc(5, 20, 0), 0},
		{"Saturday morning, window from Friday", 50, office, sast, utc(6, 3, 59), 0},
		{"Saturday 06:00 local", 50, office, sast, utc(6, 4, 0), 50},
		{"Thursday night is no Friday", 50, office, sast, utc(4, 21, 0), 50},
		{"Sunday 23:30 UTC is Monday 01:30 local", 50, office, sast, utc(7, 23, 30), 50},
		{"Sunday 22:30 UTC is Monday 00:30 local", 50, office, sast, utc(7, 22, 30), 7},
		{"same instant in UTC is still Sunday", 50, office, time.UTC, utc(7, 22, 30), 50},
		{"24-hour window from Saturday", 50, office, time.UTC, utc(6, 13, 30), 9},
		{"24-hour window into Sunday", 50, office, time.UTC, utc(7, 13, 29), 9},
		{"24-hour window ends", 50, office, time.UTC, utc(7, 13, 30), 50},
		{"Berlin winter: 08:30 UTC is 09:30 CET", 50, office, berlin, utc(2, 8, 30), 100},
		{"Berlin winter: 06:30 UTC is 07:30 CET", 50, office, berlin, utc(2, 6, 30), 50},
		{"Berlin summer: 06:30 UTC is 08:30 CEST", 50, office, berlin, time.Date(2024, time.July, 2, 6, 30, 0, 0, time.UTC), 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLimiter(tt.def, tt.schedule, tt.loc)
			l.now = (&fakeClock{tt.at}).now
			if got := l.Current(); got != tt.want {
				t.Errorf("Current() at %s = %d, want %d", tt.at.In(tt.loc).Format("Mon 15:04 MST"), got, tt.want)
			}
		})
	}
}

// TestLimiterFollowsTime checks that the limit changes within a second of a
// window starting or ending, and at once when the clock goes back.
func TestLimiterFollowsTime(t *testing.T) {
	start := time.Date(2024, time.January, 1, 7, 59, 59, 500e6, time.UTC) // a Monday
	clock := &fakeClock{start}
	l := NewLimiter(0, []Window{{From: 8 * time.Hour, To: 9 * time.Hour, Limit: 1000}}, time.UTC)
	l.now = clock.now
	steps := []struct {
		step time.Duration
		want int64
	}{
		{0, 0},
		{600 * time.Millisecond, 0}, // 08:00:00.1: within a second of the last look
		{500 * time.Millisecond, 1000},
		{time.Hour, 0},
		{-time.Hour, 1000}, // the clock went back
		{-2 * time.Second, 0},
	}
	for _, s := range steps {
		clock.t = clock.t.Add(s.step)
		if got := l.Current(); got != s.want {
			t.Errorf("Current() at %s = %d, want %d", clock.t.Format("15:04:05.0"), got, s.want)
		}
	}
}

func TestLimiterTake(t *testing.T) {
	tests := []struct {
		limit    int64
		n        int
		want     int
		schedule []Window
	}{
		{0, 1 << 20, 1 << 20, nil},                        // unlimited: all at once
		{1 << 30, 1 << 20, maxChunk, nil},                 // at most a chunk
		{80 << 10, 32 << 10, 10 << 10, nil},               // at most an eighth of a second's worth
		{4, 100, 1, nil},                                  // at least a byte
		{1 << 30, 0, 0, nil},                              // nothing to send
		{1 << 20, 1 << 20, 1 << 20, []Window{{Limit: 0}}}, // an all-day unlimited window, not the default
	}
	for _, tt := range tests {
		l := NewLimiter(tt.limit, tt.schedule, time.UTC)
		got, err := l.take(t.Context(), tt.n)
		if err != nil || got != tt.want {
			t.Errorf("limit %d: take(%d) = %d, %v; want %d", tt.limit, tt.n, got, err, tt.want)
		}
	}
	var nilLimiter *Limiter
	if nilLimiter.Current() != 0 {
		t.Error("a nil Limiter is not unlimited")
	}
}
