package retryafter

import (
	"net/http"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"-5", 0},
		{"soon", 0},
		{"1.5", 0},
		{"99999999999999", Max},
		{"99999999999999999", Max},
		{"999999999999999999999999", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(90 * time.Second).Format("Mon, 02 Jan 2006 15:04:05 GMT"), 90 * time.Second},
		{"Wed, 15 Jan 2025 10:00:30 GMT", 30 * time.Second},
		{"Wednesday, 15-Jan-25 10:01:00 GMT", time.Minute},
		{"Wed Jan 15 10:00:05 2025", 5 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{now.Add(400 * 24 * time.Hour).Format(http.TimeFormat), Max},
	}
	for _, tt := range tests {
		if got := Parse(tt.header, now); got != tt.want {
			t.Errorf("Parse(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("120")
	f.Add("Wed, 15 Jan 2025 10:00:30 GMT")
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, h string) {
		if d := Parse(h, now); d < 0 || d > Max {
			t.Fatalf("Parse(%q) = %v, outside [0, %v]", h, d, Max)
		}
	})
}
