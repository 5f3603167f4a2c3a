package chat

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReadTime(t *testing.T) {
	local := func(y int, mo time.Month, d, h, mi, s int) time.Time { return time.Date(y, mo, d, h, mi, s, 0, zone) }
	tests := []struct {
		in   string
		want time.Time
		err  string // the whole error; "" = none
	}{
		{"2024-01-15T10:30:00Z", utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-01-15T10:30:00.123456789Z", utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-01-15T10:30:00,5+02:00", utc(2024, 1, 15, 8, 30, 0), ""},
		{"2024-01-15T12:30+0200", utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-01-15 05:30:00-05:00", utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-02-29T00:00:00Z", utc(2024, 2, 29, 0, 0, 0), ""},
		{"1705314600", utc(2024, 1, 15, 10, 30, 0), ""},
		{"1705314600999", utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-01-15T10:30:00", local(2024, 1, 15, 10, 30, 0), ""},
		{"15/01/2024 10:30", local(2024, 1, 15, 10, 30, 0), ""},
		{"15/01/2024, 10:30:59", local(2024, 1, 15, 10, 30, 59), ""},
		{"15-01-2024 10:30:59", local(2024, 1, 15, 10, 30, 59), ""},
		{"", time.Time{}, "has no time"},
		{strings.Repeat("1", 65), time.Time{}, `time "` + strings.Repeat("1", 64) + `"... is longer than 64 bytes`},
		{"2025-02-29T00:00:00Z", time.Time{}, `time "2025-02-29T00:00:00Z" has day 29, but February 2025 has 28 days`},
		{"2025-01-15T24:00:00Z", time.Time{}, `time "2025-01-15T24:00:00Z" has hour 24`},
		{"2025-01-15T10:60:00Z", time.Time{}, `time "2025-01-15T10:60:00Z" has minute 60`},
		{"2025-01-15T10:00:60Z", time.Time{}, `time "2025-01-15T10:00:60Z" has second 60`},
		{"2025-01-15T10:00:00+02:60", time.Time{}, `time "2025-01-15T10:00:00+02:60" has an offset no zone has`},
		{"1969-12-31T23:59:59Z", time.Time{}, `time "1969-12-31T23:59:59Z" is in 1969, outside 1970 to 2100`},
		{"15/13/2024 10:30", time.Time{}, `time "15/13/2024 10:30" has month 13 (read day-first)`},
		{"00/01/2024 10:30", time.Time{}, `time "00/01/2024 10:30" has day 0, but January 2024 has 31 days (read day-first)`},
		// Forms that are not the day-first ones go to ParseTime as they are.
		{"15-01-2024 10:30", time.Time{}, `cannot read time "15-01-2024 10:30": date "15-01-2024 10:30" matches no layout`},
		{"15/01/2024", time.Time{}, `cannot read time "15/01/2024": date "15/01/2024" matches no layout`},
		{"15/01-2024 10:30", time.Time{}, `cannot read time "15/01-2024 10:30": date "15/01-2024 10:30" matches no layout`},
		{"15/01/2024 10:30:5", time.Time{}, `cannot read time "15/01/2024 10:30:5": date "15/01/2024 10:30:5" matches no layout`},
		{"15/01/2024 10:30:05.", time.Time{}, `cannot read time "15/01/2024 10:30:05.": date "15/01/2024 10:30:05." matches no layout`},
		{"2024-01-15T10:30:00+2", time.Time{}, `cannot read time "2024-01-15T10:30:00+2": date "2024-01-15T10:30:00+2" matches no layout`},
		{"2024-01-15T10:30:00+02:0", time.Time{}, `cannot read time "2024-01-15T10:30:00+02:0": date "2024-01-15T10:30:00+02:0" matches no layout`},
		{"2024-01-15T10:30:00Zx", time.Time{}, `cannot read time "2024-01-15T10:30:00Zx": date "2024-01-15T10:30:00Zx" matches no layout`},
		{"2024-01-15T10:30:00 UTC", time.Time{}, `cannot read time "2024-01-15T10:30:00 UTC": date "2024-01-15T10:30:00 UTC" matches no layout`},
		{"2024-1-15T10:30:00Z", time.Time{}, `cannot read time "2024-1-15T10:30:00Z": date "2024-1-15T10:30:00Z" matches no layout`},
		{"20240115103000", time.Time{}, `cannot read time "20240115103000": date "20240115103000" matches no layout`},
	}
	for _, tt := range tests {
		got, err := readTime(tt.in, parseLocal)
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("readTime(%q) = %v, %v; want error %s", tt.in, got, err, tt.err)
			}
		case err != nil || !got.Equal(tt.want):
			t.Errorf("readTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := readTime(" ", nil); !errors.Is(err, errNoTime) {
		t.Errorf("readTime of a blank value = %v, want errNoTime", err)
	}
	if got, err := readTime("2024-01-15T10:30:00Z", nil); err != nil || !got.Equal(utc(2024, 1, 15, 10, 30, 0)) {
		t.Errorf("readTime without ParseTime = %v, %v", got, err)
	}
	failing := func(string) (time.Time, error) { return time.Time{}, errors.New("no zone") }
	if _, err := readTime("15/01/2024 10:30", failing); err == nil ||
		err.Error() != `cannot read time "15/01/2024 10:30" in the source's zone: no zone` {
		t.Errorf("readTime with a failing ParseTime = %v", err)
	}
	far := func(string) (time.Time, error) { return time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), nil }
	if _, err := readTime("2024-01-15 10:30", far); err == nil || err.Error() != `time "2024-01-15 10:30" is in 2200, outside 1970 to 2100` {
		t.Errorf("readTime of a ParseTime far off = %v", err)
	}
}
