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
