package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is a weekly period with its own bandwidth limit, in the time zone
// of Metadata.Timezone. A window does not wrap past midnight: write two.
type Window struct {
	// Days are three-letter day names or ranges, case-insensitive, such as
	// [mon, wed] or [mon-fri]; a range may wrap, as in fri-mon. Required.
	Days []string `yaml:"days"`
	// From is when the window opens, "HH:MM". Default "00:00".
	From string `yaml:"from"`
	// To is when it closes, "HH:MM" after From; "24:00" is midnight at the
	// end of the day. Default "24:00".
	To string `yaml:"to"`
	// Limit is bytes per second while the window is open; 0 is no limit.
	Limit ByteSize `yaml:"limit"`
}

func (w *Window) setDefaults() {
	w.From, w.To = "00:00", "24:00"
}

// Weekdays returns the days of the window in order from Sunday, each once.
// Names that do not parse (which Load refuses) are left out.
func (w Window) Weekdays() []time.Weekday {
	var on [7]bool
	for _, s := range w.Days {
		days, _ := parseDays(s)
		for _, d := range days {
			on[d] = true
		}
	}
	var days []time.Weekday
	for d, ok := range on {
		if ok {
			days = append(days, time.Weekday(d))
		}
	}
	return days
}

// Span returns when the window opens and closes, as offsets from midnight.
// An empty From is midnight and an empty To the end of the day; a value
// that does not parse (which Load refuses) gives an empty span.
func (w Window) Span() (from, to time.Duration) {
	from, err1 := parseClock(w.From, "00:00")
	to, err2 := parseClock(w.To, "24:00")
	if err1 != nil || err2 != nil {
		return 0, 0
	}
	return from, to
}

var weekdays = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// parseDays parses "mon" or a range such as "mon-fri" or "fri-mon".
func parseDays(s string) ([]time.Weekday, error) {
	first, last, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "-")
	if !isRange {
		last = first
	}
	a, ok1 := weekday(first)
	b, ok2 := weekday(last)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%q is not a day (use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)", s)
	}
	days := []time.Weekday{a}
	for d := a; d != b; {
		d = (d + 1) % 7
		days = append(days, d)
	}
	return days, nil
}

func weekday(s string) (time.Weekday, bool) {
	for i, name := range weekdays {
		if strings.TrimSpace(s) == name {
			return time.Weekday(i), true
		}
	}
	return 0, false
}

// parseClock parses "HH:MM" (24:00 included) as an offset from midnight;
// empty is def.
func parseClock(s, def string) (time.Duration, error) {
	if s == "" {
		s = def
	}
	bad := fmt.Errorf("%q is not a time of day (use HH:MM, such as 08:00 or 17:30)", s)
	hh, mm, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(mm) != 2 || len(hh) < 1 || len(hh) > 2 {
		return 0, bad
	}
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	if err1 != nil || err2 != nil || !isDigits(hh+mm) || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, bad
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func isDigits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}
