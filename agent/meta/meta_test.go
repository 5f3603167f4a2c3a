package meta

import (
	"testing"
	"time"
)

func TestFormatDate(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		// 22:30 UTC is already the next day in Johannesburg (UTC+2).
		{time.Date(2025, 1, 15, 22, 30, 5, 0, time.UTC), "16/01/2025, 00:30:05"},
		// A day of 12 or less must still come first.
		{time.Date(2025, 3, 4, 8, 0, 0, 0, time.UTC), "04/03/2025, 10:00:00"},
		{time.Date(2024, 12, 31, 23, 59, 59, 0, time.FixedZone("x", 2*3600)), "31/12/2024, 23:59:59"},
	}
	for _, tt := range tests {
		if got := FormatDate(tt.in); got != tt.want {
			t.Errorf("FormatDate(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCallAlwaysHasDate(t *testing.T) {
	defaults := map[string]any{"team": "Support", "date_of_call": "stale"}
	when := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	m := Call(defaults, when)
	if m["team"] != "Support" {
		t.Errorf("team = %v, want the default", m["team"])
	}
	if m["date_of_call"] != "01/06/2025, 14:00:00" {
		t.Errorf("date_of_call = %v", m["date_of_call"])
	}
	if defaults["date_of_call"] != "stale" {
		t.Error("Call modified the defaults map")
	}
}
