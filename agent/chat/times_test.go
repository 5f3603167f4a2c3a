package chat

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta"
)

func TestReadTime(t *testing.T) {
	local := func(y int, mo time.Month, d, h, mi, s int) time.Time { return time.Date(y, mo, d, h, mi, s, 0, zone) }
	const noForm = "matches no date layout and no known date form"
	tests := []struct {
		in      string
		layouts []string
		want    time.Time
		err     string // the whole error; "" = none
	}{
		{"2024-01-15T10:30:00Z", nil, utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-01-15T10:30:00.123456789Z", nil, utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-01-15T10:30:00.5+02:00", nil, utc(2024, 1, 15, 8, 30, 0), ""},
		{"2024-01-15T12:30+0200", nil, utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-01-15 05:30:00-05:00", nil, utc(2024, 1, 15, 10, 30, 0), ""},
		{" 2024-02-29T00:00:00Z\t", nil, utc(2024, 2, 29, 0, 0, 0), ""},
		{"1705314600", nil, utc(2024, 1, 15, 10, 30, 0), ""},
		{"1705314600999", nil, utc(2024, 1, 15, 10, 30, 0), ""},
		{"2024-01-15T10:30:00", nil, local(2024, 1, 15, 10, 30, 0), ""},
		{"15/01/2024 10:30", nil, local(2024, 1, 15, 10, 30, 0), ""},
		{"15/01/2024, 10:30:59", nil, local(2024, 1, 15, 10, 30, 59), ""},
		{"15-01-2024 10:30:59", nil, local(2024, 1, 15, 10, 30, 59), ""},
		{"04/03/2025 10:30", nil, local(2025, 3, 4, 10, 30, 0), ""}, // day-first, with no date_order
		// Forms the chat reader once left to the source's rules, which
		// meta reads day-first.
		{"15-01-2024 10:30", nil, local(2024, 1, 15, 10, 30, 0), ""},
		{"15/01/2024", nil, local(2024, 1, 15, 0, 0, 0), ""},
		// The source's layouts come first.
		{"04/03/2025 10:30", []string{"01/02/2006 15:04"}, local(2025, 4, 3, 10, 30, 0), ""},
		{"2024-01-15T10:30:00+02", []string{"2006-01-02T15:04:05Z07"}, utc(2024, 1, 15, 8, 30, 0), ""},
		{"", nil, time.Time{}, "has no time"},
		{" \t", nil, time.Time{}, "has no time"},
		{strings.Repeat("1", 65), nil, time.Time{}, `read time: date "` + strings.Repeat("1", 64) + `..." is longer than 64 bytes`},
		{"2025-02-29T00:00:00Z", nil, time.Time{}, `read time: date "2025-02-29T00:00:00Z" has day 29, but February 2025 has 28 days`},
		{"2025-01-15T24:00:00Z", nil, time.Time{}, `read time: date "2025-01-15T24:00:00Z" has hour 24, outside 0 to 23`},
		{"2025-01-15T10:60:00Z", nil, time.Time{}, `read time: date "2025-01-15T10:60:00Z" has minute 60, outside 0 to 59`},
		{"2025-01-15T10:00:60Z", nil, time.Time{}, `read time: date "2025-01-15T10:00:60Z" has second 60, outside 0 to 59`},
		{"2025-01-15T10:00:00+02:60", nil, time.Time{}, `read time: date "2025-01-15T10:00:00+02:60" has offset minute 60, outside 0 to 59`},
		{"2025-01-15T10:00:00-12:30", nil, time.Time{}, `read time: date "2025-01-15T10:00:00-12:30" has offset -12:30, outside -12:00 to +14:00`},
		{"1969-12-31T23:59:59Z", nil, time.Time{}, `read time: date "1969-12-31T23:59:59Z" has year 1969, outside 1970 to 2100`},
		{"15/13/2024 10:30", nil, time.Time{}, `read time: date "15/13/2024 10:30" has month 13, outside 1 to 12 (read day-first, as chat times always are)`},
		{"00/01/2024 10:30", nil, time.Time{}, `read time: date "00/01/2024 10:30" has day 0, outside 1 to 31 (read day-first, as chat times always are)`},
		{"30/02/2024 10:30", nil, time.Time{}, `read time: date "30/02/2024 10:30" has day 30, but February 2024 has 29 days (read day-first, as chat times always are)`},
		{"01.01.2200 10:00", []string{"02.01.2006 15:04"}, time.Time{}, `read time: date "01.01.2200 10:00" has year 2200, outside 1970 to 2100`},
		{"13/03/2025 10:30", []string{"01/02/2006 15:04"}, time.Time{}, `read time: date "13/03/2025 10:30" does not fit layout "01/02/2006 15:04": month out of range`},
		{"15/01-2024 10:30", nil, time.Time{}, `read time: date "15/01-2024 10:30" ` + noForm},
		{"15/01/2024 10:30:5", nil, time.Time{}, `read time: date "15/01/2024 10:30:5" ` + noForm},
		{"15/01/2024 10:30:05.", nil, time.Time{}, `read time: date "15/01/2024 10:30:05." ` + noForm},
		{"2024-01-15T10:30:00,5+02:00", nil, time.Time{}, `read time: date "2024-01-15T10:30:00,5+02:00" ` + noForm},
		{"2024-01-15T10:30:00+2", nil, time.Time{}, `read time: date "2024-01-15T10:30:00+2" ` + noForm},
		{"2024-01-15T10:30:00+02", nil, time.Time{}, `read time: date "2024-01-15T10:30:00+02" ` + noForm},
		{"2024-01-15T10:30:00+02:0", nil, time.Time{}, `read time: date "2024-01-15T10:30:00+02:0" ` + noForm},
		{"2024-01-15T10:30:00Zx", nil, time.Time{}, `read time: date "2024-01-15T10:30:00Zx" ` + noForm},
		{"2024-01-15T10:30:00 UTC", nil, time.Time{}, `read time: date "2024-01-15T10:30:00 UTC" ` + noForm},
		{"2024-1-15T10:30:00Z", nil, time.Time{}, `read time: date "2024-1-15T10:30:00Z" ` + noForm},
		{"20240115103000", nil, time.Time{},
			`read time: date "20240115103000" has 14 digits: without a date layout only 10 (Unix seconds) or 13 (Unix milliseconds) are read`},
	}
	for _, tt := range tests {
		got, err := readTime(tt.in, Options{Zone: zone, Layouts: tt.layouts}.dates())
		switch {
		case tt.err != "":
			if err == nil || err.Error() != tt.err {
				t.Errorf("readTime(%q, %q) = %v, %v; want error %s", tt.in, tt.layouts, got, err, tt.err)
			}
		case err != nil || !got.Equal(tt.want):
			t.Errorf("readTime(%q, %q) = %v, %v; want %v", tt.in, tt.layouts, got, err, tt.want)
		case got.Nanosecond() != 0:
			t.Errorf("readTime(%q) = %v, which has a fraction", tt.in, got)
		}
	}
}

func TestReadTimeErrors(t *testing.T) {
	if _, err := readTime(" ", opts.dates()); !errors.Is(err, errNoTime) {
		t.Errorf("readTime of a blank value = %v, want errNoTime", err)
	}
	for _, in := range []string{"soon", "31/04/2025 10:00"} {
		_, err := readTime(in, opts.dates())
		var de *meta.DateError
		if !errors.As(err, &de) || de.Value != in {
			t.Errorf("readTime(%q) error = %v (%T); want a *meta.DateError of the value", in, err, err)
		}
	}
}

func TestReadTimeZone(t *testing.T) {
	tests := []struct {
		name string
		zone *time.Location
		in   string
		want time.Time
	}{
		{"no zone is Africa/Johannesburg", nil, "15/01/2025, 10:30:00", utc(2025, 1, 15, 8, 30, 0)},
		{"a fixed zone", zone, "2025-01-15 10:30", utc(2025, 1, 15, 7, 30, 0)},
		{"a real zone in summer time", mustZone("Europe/London"), "15/07/2025 10:30", utc(2025, 7, 15, 9, 30, 0)},
		{"an offset wins over the zone", mustZone("Europe/London"), "2025-07-15T10:30:00+02:00", utc(2025, 7, 15, 8, 30, 0)},
	}
	for _, tt := range tests {
		got, err := readTime(tt.in, Options{Zone: tt.zone}.dates())
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("%s: readTime(%q) = %v, %v; want %v", tt.name, tt.in, got, err, tt.want)
		}
	}
}
