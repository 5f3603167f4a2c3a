package meta

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

func TestParseDateOrder(t *testing.T) {
	tests := []struct {
		in      string
		want    DateOrder
		wantErr bool
	}{
		{"", OrderUnset, false},
		{"DMY", DMY, false},
		{"dmy", DMY, false},
		{"MDY", MDY, false},
		{"Mdy", MDY, false},
		{"YMD", OrderUnset, true},
		{" DMY", OrderUnset, true},
		{"unset", OrderUnset, true},
	}
	for _, tt := range tests {
		got, err := ParseDateOrder(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDateOrder(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := ParseDateOrder("YMD"); err == nil || err.Error() != `read date order "YMD": want DMY, MDY or nothing` {
		t.Errorf("ParseDateOrder(YMD) error = %v", err)
	}
}

func TestDateOrderString(t *testing.T) {
	for o, want := range map[DateOrder]string{OrderUnset: "unset", DMY: "DMY", MDY: "MDY", 7: "DateOrder(7)"} {
		if got := o.String(); got != want {
			t.Errorf("DateOrder(%d).String() = %q, want %q", int(o), got, want)
		}
	}
	for _, o := range []DateOrder{DMY, MDY} {
		if got, err := ParseDateOrder(o.String()); err != nil || got != o {
			t.Errorf("ParseDateOrder(%q) = %v, %v; want %v", o.String(), got, err, o)
		}
	}
}

func TestParse(t *testing.T) {
	jhb := velaZone
	london := zone(t, "Europe/London")
	utc := time.UTC
	at := func(off int) *time.Location { return time.FixedZone("", off) }
	date := func(y int, m time.Month, d, h, mi, s int, loc *time.Location) time.Time {
		return time.Date(y, m, d, h, mi, s, 0, loc)
	}
	dmy := DateRules{Order: DMY}
	mdy := DateRules{Order: MDY}
	tests := []struct {
		name  string
		rules DateRules
		in    string
		want  time.Time
	}{
		// Rule 1: layouts, first, in order.
		{"layout with time", DateRules{Layouts: []string{"20060102_150405"}}, "20250115_103000", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"layout without time is midnight", DateRules{Layouts: []string{"20060102"}}, "20250115", date(2025, 1, 15, 0, 0, 0, jhb)},
		{"layout in zone", DateRules{Layouts: []string{"20060102"}, Zone: london}, "20250615", date(2025, 6, 15, 0, 0, 0, london)},
		{"layout with offset", DateRules{Layouts: []string{"2006-01-02 15:04 -0700"}}, "2025-01-15 10:30 -0500", date(2025, 1, 15, 10, 30, 0, at(-5*3600))},
		{"layout with zone's own offset", DateRules{Layouts: []string{"2006-01-02 15:04 -0700"}}, "2025-01-15 10:30 +0200", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"layout with known abbreviation", DateRules{Layouts: []string{"2006-01-02 15:04 MST"}}, "2025-01-15 10:30 SAST", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"layout with UTC", DateRules{Layouts: []string{"2006-01-02 15:04 MST"}}, "2025-01-15 10:30 UTC", date(2025, 1, 15, 10, 30, 0, utc)},
		{"layout with GMT", DateRules{Layouts: []string{"2006-01-02 15:04 MST"}}, "2025-01-15 10:30 GMT", date(2025, 1, 15, 10, 30, 0, utc)},
		{"layout with abbreviation of its zone", DateRules{Layouts: []string{"2006-01-02 15:04 MST"}, Zone: london}, "2025-06-15 10:30 BST", date(2025, 6, 15, 10, 30, 0, london)},
		{"layout with abbreviation and offset", DateRules{Layouts: []string{"2006-01-02 15:04 -0700 MST"}}, "2025-01-15 10:30 -0500 EST", date(2025, 1, 15, 10, 30, 0, at(-5*3600))},
		{"first layout wins", DateRules{Layouts: []string{"02/01/2006", "01/02/2006"}}, "03/04/2025", date(2025, 4, 3, 0, 0, 0, jhb)},
		{"later layout", DateRules{Layouts: []string{"2006-01-02", "01/02/2006"}}, "03/04/2025", date(2025, 3, 4, 0, 0, 0, jhb)},
		{"after a range error, a later layout", DateRules{Layouts: []string{"01/02/2006", "02/01/2006"}}, "15/01/2025", date(2025, 1, 15, 0, 0, 0, jhb)},
		{"layout before ISO", DateRules{Layouts: []string{"2006-02-01"}}, "2025-03-04", date(2025, 4, 3, 0, 0, 0, jhb)},
		{"layout before epoch", DateRules{Layouts: []string{"2006010215"}}, "2025011510", date(2025, 1, 15, 10, 0, 0, jhb)},
		{"layout before order", DateRules{Layouts: []string{"01/02/2006"}, Order: DMY}, "03/04/2025", date(2025, 3, 4, 0, 0, 0, jhb)},
		{"layout fraction truncated", DateRules{Layouts: []string{"20060102150405"}}, "20250115103000.987654", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"layout fraction element truncated", DateRules{Layouts: []string{"2006-01-02 15:04:05.000"}}, "2025-01-15 10:30:59.999", date(2025, 1, 15, 10, 30, 59, jhb)},
		{"unmatched layout falls through", DateRules{Layouts: []string{"20060102"}}, "2025-01-15", date(2025, 1, 15, 0, 0, 0, jhb)},

		// Rule 2: RFC 3339 and ISO 8601.
		{"RFC 3339 Z", DateRules{}, "2025-01-15T10:30:00Z", date(2025, 1, 15, 10, 30, 0, utc)},
		{"RFC 3339 lower case", DateRules{}, "2025-01-15t10:30:00z", date(2025, 1, 15, 10, 30, 0, utc)},
		{"RFC 3339 offset", DateRules{}, "2025-01-15T10:30:00+02:00", date(2025, 1, 15, 10, 30, 0, at(2*3600))},
		{"RFC 3339 negative offset", DateRules{}, "2025-01-15T10:30:00-05:00", date(2025, 1, 15, 10, 30, 0, at(-5*3600))},
		{"RFC 3339 half-hour offset", DateRules{}, "2025-01-15T10:30:00+05:30", date(2025, 1, 15, 10, 30, 0, at(5*3600+30*60))},
		{"RFC 3339 nanoseconds truncated", DateRules{}, "2025-01-15T10:30:00.123456789+02:00", date(2025, 1, 15, 10, 30, 0, at(2*3600))},
		{"RFC 3339 fraction not rounded", DateRules{}, "2025-01-15T10:30:59.999Z", date(2025, 1, 15, 10, 30, 59, utc)},
		{"offset without colon", DateRules{}, "2025-01-15T10:30:00+0200", date(2025, 1, 15, 10, 30, 0, at(2*3600))},
		{"offset at most", DateRules{}, "2025-01-15T10:30:00+14:00", date(2025, 1, 15, 10, 30, 0, at(14*3600))},
		{"offset at least", DateRules{}, "2025-01-15T10:30:00-12:00", date(2025, 1, 15, 10, 30, 0, at(-12*3600))},
		{"minus zero offset", DateRules{}, "2025-01-15T10:30:00-00:00", date(2025, 1, 15, 10, 30, 0, utc)},
		{"ISO minutes", DateRules{}, "2025-01-15T10:30", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"ISO seconds", DateRules{}, "2025-01-15T10:30:45", date(2025, 1, 15, 10, 30, 45, jhb)},
		{"ISO fraction", DateRules{}, "2025-01-15T10:30:45.5", date(2025, 1, 15, 10, 30, 45, jhb)},
		{"ISO space", DateRules{}, "2025-01-15 10:30:45", date(2025, 1, 15, 10, 30, 45, jhb)},
		{"ISO space offset", DateRules{}, "2025-01-15 10:30+0200", date(2025, 1, 15, 10, 30, 0, at(2*3600))},
		{"ISO space Z", DateRules{}, "2025-01-15 10:30:45.25Z", date(2025, 1, 15, 10, 30, 45, utc)},
		{"ISO in zone", DateRules{Zone: london}, "2025-07-01 10:30", date(2025, 7, 1, 10, 30, 0, london)},
		{"ISO date only", DateRules{}, "2025-01-15", date(2025, 1, 15, 0, 0, 0, jhb)},
		{"ISO date only in zone", DateRules{Zone: london}, "2025-01-15", date(2025, 1, 15, 0, 0, 0, london)},
		{"trimmed", DateRules{}, " \t2025-01-15\n ", date(2025, 1, 15, 0, 0, 0, jhb)},
		{"slashes date only", DateRules{}, "2025/01/15", date(2025, 1, 15, 0, 0, 0, jhb)},
		{"slashes time", DateRules{}, "2025/01/15 10:30", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"slashes T offset", DateRules{}, "2025/01/15T10:30:05.9-03:00", date(2025, 1, 15, 10, 30, 5, at(-3*3600))},
		{"leap day", DateRules{}, "2024-02-29", date(2024, 2, 29, 0, 0, 0, jhb)},
		{"leap day 2000", DateRules{}, "2000-02-29", date(2000, 2, 29, 0, 0, 0, jhb)},
		{"first year", DateRules{}, "1970-01-01", date(1970, 1, 1, 0, 0, 0, jhb)},
		{"last year", DateRules{}, "2100-12-31T23:59:59", date(2100, 12, 31, 23, 59, 59, jhb)},
		{"last minute of a day", DateRules{}, "2025-01-15T23:59:59Z", date(2025, 1, 15, 23, 59, 59, utc)},

		// Rule 2: Unix time.
		{"Unix seconds", DateRules{}, "1736937000", time.Unix(1736937000, 0).In(jhb)},
		{"Unix milliseconds truncated", DateRules{}, "1736937000999", time.Unix(1736937000, 0).In(jhb)},
		{"Unix zero", DateRules{}, "0000000000", time.Unix(0, 0).In(jhb)},
		{"Unix seconds in zone", DateRules{Zone: london}, "1736937000", time.Unix(1736937000, 0).In(london)},
		{"Unix seconds ignore order", dmy, "1736937000", time.Unix(1736937000, 0).In(jhb)},

		// Rule 3: day/month forms.
		{"DMY", dmy, "03/04/2025", date(2025, 4, 3, 0, 0, 0, jhb)},
		{"MDY", mdy, "03/04/2025", date(2025, 3, 4, 0, 0, 0, jhb)},
		{"DMY day over 12", dmy, "25/12/2025", date(2025, 12, 25, 0, 0, 0, jhb)},
		{"MDY day over 12", mdy, "12/25/2025", date(2025, 12, 25, 0, 0, 0, jhb)},
		{"DMY one digit", dmy, "3/4/2025", date(2025, 4, 3, 0, 0, 0, jhb)},
		{"MDY one digit", mdy, "3/4/2025", date(2025, 3, 4, 0, 0, 0, jhb)},
		{"DMY dashes", dmy, "03-04-2025", date(2025, 4, 3, 0, 0, 0, jhb)},
		{"MDY dots", mdy, "03.04.2025", date(2025, 3, 4, 0, 0, 0, jhb)},
		{"DMY Vela form", dmy, "15/01/2025, 10:30:00", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"MDY comma", mdy, "01/15/2025, 10:30", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"DMY space", dmy, "15/01/2025 10:30", date(2025, 1, 15, 10, 30, 0, jhb)},
		{"DMY T", dmy, "15.01.2025T10:30:05", date(2025, 1, 15, 10, 30, 5, jhb)},
		{"DMY one digit hour", dmy, "15-1-2025 9:05", date(2025, 1, 15, 9, 5, 0, jhb)},
		{"DMY fraction truncated", dmy, "15/01/2025 10:30:05.75", date(2025, 1, 15, 10, 30, 5, jhb)},
		{"DMY in zone", DateRules{Order: DMY, Zone: london}, "01/07/2025 10:30", date(2025, 7, 1, 10, 30, 0, london)},
		{"DMY leap day", dmy, "29/02/2024", date(2024, 2, 29, 0, 0, 0, jhb)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rules.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			// RFC 3339 shows both the instant and the offset.
			if !got.Equal(tt.want) || got.Format(time.RFC3339Nano) != tt.want.Format(time.RFC3339Nano) {
				t.Errorf("Parse(%q) = %s, want %s", tt.in, got.Format(time.RFC3339Nano), tt.want.Format(time.RFC3339Nano))
			}
			if got.Nanosecond() != 0 {
				t.Errorf("Parse(%q) has %d ns", tt.in, got.Nanosecond())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	long := "2025-01-15T10:30:00Z" + strings.Repeat(" x", 23) // 66 bytes
	exact := strings.Repeat("9", 64)
	dmy := DateRules{Order: DMY}
	mdy := DateRules{Order: MDY}
	unset := "is day-first or month-first: set metadata.date_order to DMY or MDY"
	noForm := "matches no date layout and no known date form"
	tests := []struct {
		rules  DateRules
		in     string
		value  string // DateError.Value
		reason string // DateError.Reason
	}{
		{DateRules{}, "", "", "is empty"},
		{DateRules{}, " \t\n", "", "is empty"},
		{DateRules{}, long, long, "is longer than 64 bytes"},
		{DateRules{}, exact, exact, "has 64 digits: without a date layout only 10 (Unix seconds) or 13 (Unix milliseconds) are read"},

		// Day/month dates without an order, whatever their numbers.
		{DateRules{}, "03/04/2025", "03/04/2025", unset},
		{DateRules{}, "25/12/2025", "25/12/2025", unset},
		{DateRules{}, "12/25/2025 10:00", "12/25/2025 10:00", unset},
		{DateRules{}, "15/01/2025, 10:30:00", "15/01/2025, 10:30:00", unset},
		{DateRules{}, "3.4.2025", "3.4.2025", unset},
		{DateRules{}, "45/45/2025", "45/45/2025", unset},
		{DateRules{Layouts: []string{"2006-01-02"}}, "03-04-2025", "03-04-2025", unset},

		// Out of range.
		{DateRules{}, "2025-13-01", "2025-13-01", "has month 13, outside 1 to 12"},
		{DateRules{}, "2025-00-01", "2025-00-01", "has month 0, outside 1 to 12"},
		{DateRules{}, "2025-01-32", "2025-01-32", "has day 32, outside 1 to 31"},
		{DateRules{}, "2025-01-00", "2025-01-00", "has day 0, outside 1 to 31"},
		{DateRules{}, "2025-04-31", "2025-04-31", "has day 31, but April 2025 has 30 days"},
		{DateRules{}, "2025-02-29", "2025-02-29", "has day 29, but February 2025 has 28 days"},
		{DateRules{}, "2100-02-29", "2100-02-29", "has day 29, but February 2100 has 28 days"},
		{DateRules{}, "2025-01-15T24:00", "2025-01-15T24:00", "has hour 24, outside 0 to 23"},
		{DateRules{}, "2025-01-15T10:60", "2025-01-15T10:60", "has minute 60, outside 0 to 59"},
		{DateRules{}, "2025-01-15T10:30:60Z", "2025-01-15T10:30:60Z", "has second 60, outside 0 to 59"},
		{DateRules{}, "1969-12-31T23:59:59", "1969-12-31T23:59:59", "has year 1969, outside 1970 to 2100"},
		{DateRules{}, "2101-01-01", "2101-01-01", "has year 2101, outside 1970 to 2100"},
		{DateRules{}, "0000-01-01", "0000-01-01", "has year 0, outside 1970 to 2100"},
		{DateRules{}, "2025-01-15T10:30+15:00", "2025-01-15T10:30+15:00", "has offset +15:00, outside -12:00 to +14:00"},
		{DateRules{}, "2025-01-15T10:30-1230", "2025-01-15T10:30-1230", "has offset -12:30, outside -12:00 to +14:00"},
		{DateRules{}, "2025-01-15T10:30+02:75", "2025-01-15T10:30+02:75", "has offset minute 75, outside 0 to 59"},
		{dmy, "31/04/2025", "31/04/2025", "has day 31, but April 2025 has 30 days (read day-first, as metadata.date_order is DMY)"},
		{dmy, "01/13/2025", "01/13/2025", "has month 13, outside 1 to 12 (read day-first, as metadata.date_order is DMY)"},
		{mdy, "15/01/2025", "15/01/2025", "has month 15, outside 1 to 12 (read month-first, as metadata.date_order is MDY)"},
		{mdy, "02/29/2025", "02/29/2025", "has day 29, but February 2025 has 28 days (read month-first, as metadata.date_order is MDY)"},
		{dmy, "01/01/1969", "01/01/1969", "has year 1969, outside 1970 to 2100"},
		{dmy, "15/01/2025 24:00", "15/01/2025 24:00", "has hour 24, outside 0 to 23"},

		// All digits, not 10 or 13 of them.
		{DateRules{}, "20250115", "20250115", "has 8 digits: without a date layout only 10 (Unix seconds) or 13 (Unix milliseconds) are read"},
		{DateRules{}, "173693700", "173693700", "has 9 digits: without a date layout only 10 (Unix seconds) or 13 (Unix milliseconds) are read"},
		{DateRules{}, "17369370000", "17369370000", "has 11 digits: without a date layout only 10 (Unix seconds) or 13 (Unix milliseconds) are read"},
		{DateRules{}, "173693700000", "173693700000", "has 12 digits: without a date layout only 10 (Unix seconds) or 13 (Unix milliseconds) are read"},
		{DateRules{}, "17369370000000", "17369370000000", "has 14 digits: without a date layout only 10 (Unix seconds) or 13 (Unix milliseconds) are read"},
		{DateRules{}, "9999999999", "9999999999", "has year 2286, outside 1970 to 2100"},
		{DateRules{}, "9999999999999", "9999999999999", "has year 2286, outside 1970 to 2100"},

		// Layouts.
		{DateRules{Layouts: []string{"20060102"}}, "20251315", "20251315", `does not fit layout "20060102": month out of range`},
		{DateRules{Layouts: []string{"2006010215"}}, "2025131510", "2025131510", `does not fit layout "2006010215": month out of range`},
		{DateRules{Layouts: []string{"2006-01-02"}}, "2025-02-29", "2025-02-29", `does not fit layout "2006-01-02": day out of range`},
		{DateRules{Layouts: []string{"20060102_150405"}}, "20250115_240000", "20250115_240000", `does not fit layout "20060102_150405": hour out of range`},
		{DateRules{Layouts: []string{"2006-01-02"}}, "1969-12-31", "1969-12-31", "has year 1969, outside 1970 to 2100"},
		{DateRules{Layouts: []string{"02.01.06"}}, "31.12.69", "31.12.69", "has year 1969, outside 1970 to 2100"},
		{DateRules{Layouts: []string{"01/02"}}, "01/15", "01/15", "has year 0, outside 1970 to 2100"},
		{DateRules{Layouts: []string{"2006-01-02 15:04 -0700"}}, "2025-01-15 10:30 +2300", "2025-01-15 10:30 +2300", "has offset +23:00, outside -12:00 to +14:00"},
		{DateRules{Layouts: []string{"2006-01-02 15:04 MST"}}, "2025-01-15 10:30 EST", "2025-01-15 10:30 EST",
			`has zone "EST", which Africa/Johannesburg does not know: write a numeric offset or set the source's zone`},
		{DateRules{Layouts: []string{"2006-01-02 15:04 MST"}}, "2025-01-15 10:30 GMT+3", "2025-01-15 10:30 GMT+3",
			`has zone "GMT+3", which Africa/Johannesburg does not know: write a numeric offset or set the source's zone`},
		{DateRules{Layouts: []string{"2006-01-02 15:04 MST"}, Zone: zone(t, "Europe/London")}, "2025-01-15 10:30 CET", "2025-01-15 10:30 CET",
			`has zone "CET", which Europe/London does not know: write a numeric offset or set the source's zone`},

		// No form.
		{DateRules{}, "yesterday", "yesterday", noForm},
		{DateRules{}, "15 January 2025", "15 January 2025", noForm},
		{DateRules{}, "2025-1-5", "2025-1-5", noForm},
		{DateRules{}, "2025-01/15", "2025-01/15", noForm},
		{dmy, "03.04/2025", "03.04/2025", noForm},
		{dmy, "03/04/25", "03/04/25", noForm},
		{dmy, "03/04/2025,10:30", "03/04/2025,10:30", noForm},
		{dmy, "03/04/2025 10:30+02:00", "03/04/2025 10:30+02:00", noForm},
		{dmy, "003/04/2025", "003/04/2025", noForm},
		{DateRules{}, "2025-01-15T", "2025-01-15T", noForm},
		{DateRules{}, "2025-01-15Z", "2025-01-15Z", noForm},
		{DateRules{}, "2025-01-15T10", "2025-01-15T10", noForm},
		{DateRules{}, "2025-01-15T1:30", "2025-01-15T1:30", noForm},
		{DateRules{}, "2025-01-15T10:30:00.", "2025-01-15T10:30:00.", noForm},
		{DateRules{}, "2025-01-15T10:30:00,5", "2025-01-15T10:30:00,5", noForm},
		{DateRules{}, "2025-01-15 10:30:00 +0200", "2025-01-15 10:30:00 +0200", noForm},
		{DateRules{}, "2025-01-15T10:30:00+02", "2025-01-15T10:30:00+02", noForm},
		{DateRules{}, "2025-01-15T10:30:00Z+02:00", "2025-01-15T10:30:00Z+02:00", noForm},
		{DateRules{}, "2025-0115", "2025-0115", noForm},
		{DateRules{}, "2025-01-1", "2025-01-1", noForm},
		{DateRules{}, "2025-01-15T10:3", "2025-01-15T10:3", noForm},
		{DateRules{}, "2025-01-15T10:30:5", "2025-01-15T10:30:5", noForm},
		{DateRules{}, "2025-01-15T10:30+", "2025-01-15T10:30+", noForm},
		{DateRules{}, "2025-01-15T10:30+02:", "2025-01-15T10:30+02:", noForm},
		{dmy, "3/4/2025 10:3", "3/4/2025 10:3", noForm},
		{dmy, "3/4/2025 x", "3/4/2025 x", noForm},
		{dmy, "3/4/", "3/4/", noForm},
		{DateRules{}, "-1736937000", "-1736937000", noForm},
		{DateRules{}, "１７３６９３７０００", "１７３６９３７０００", noForm},
		{DateRules{Layouts: []string{"20060102"}}, "2025-01-15x", "2025-01-15x", noForm},
	}
	for _, tt := range tests {
		got, err := tt.rules.Parse(tt.in)
		var de *DateError
		if !errors.As(err, &de) {
			t.Errorf("Parse(%q) = %v, %v; want a *DateError", tt.in, got, err)
			continue
		}
		if !got.IsZero() {
			t.Errorf("Parse(%q) returned %v with its error", tt.in, got)
		}
		if de.Value != tt.value || de.Reason != tt.reason {
			t.Errorf("Parse(%q) error = {%q, %q}, want {%q, %q}", tt.in, de.Value, de.Reason, tt.value, tt.reason)
		}
	}
}

func TestDateErrorMessage(t *testing.T) {
	_, err := DateRules{}.Parse("03/04/2025")
	want := `date "03/04/2025" is day-first or month-first: set metadata.date_order to DMY or MDY`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	long := strings.Repeat("a", 100)
	_, err = DateRules{}.Parse(long)
	want = `date "` + long[:64] + `..." is longer than 64 bytes`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = DateRules{}.Parse("")
	if err == nil || err.Error() != `date "" is empty` {
		t.Errorf("error = %v", err)
	}
}

// TestParseDST pins what Parse does with wall times around the 2025 daylight
// saving changes in two zones, one each side of UTC. Go leaves the gap and
// overlap cases unspecified beyond "one of the two offsets"; a change here
// means Go changed and the Parse doc comment must follow.
func TestParseDST(t *testing.T) {
	london := zone(t, "Europe/London")
	newYork := zone(t, "America/New_York")
	tests := []struct {
		name     string
		zone     *time.Location
		wall     string // YYYY-MM-DD HH:MM in zone
		wantUTC  string
		wantZone string
	}{
		// London springs forward at 01:00 GMT on 30 March: 01:00-01:59 never happen.
		{"London before gap", london, "2025-03-30 00:59", "2025-03-30T00:59:00Z", "GMT"},
		{"London gap start", london, "2025-03-30 01:00", "2025-03-30T01:00:00Z", "BST"},
		{"London in gap", london, "2025-03-30 01:30", "2025-03-30T01:30:00Z", "BST"}, // read as 02:30 BST
		{"London after gap", london, "2025-03-30 02:00", "2025-03-30T01:00:00Z", "BST"},
		{"London after gap 02:30", london, "2025-03-30 02:30", "2025-03-30T01:30:00Z", "BST"},
		// London falls back at 02:00 BST on 26 October: 01:00-01:59 happen twice.
		{"London before overlap", london, "2025-10-26 00:59", "2025-10-25T23:59:00Z", "BST"},
		{"London overlap start", london, "2025-10-26 01:00", "2025-10-26T01:00:00Z", "GMT"},
		{"London in overlap", london, "2025-10-26 01:30", "2025-10-26T01:30:00Z", "GMT"}, // the later one
		{"London after overlap", london, "2025-10-26 02:00", "2025-10-26T02:00:00Z", "GMT"},
		// New York springs forward at 02:00 EST on 9 March: 02:00-02:59 never happen.
		{"New York before gap", newYork, "2025-03-09 01:59", "2025-03-09T06:59:00Z", "EST"},
		{"New York gap start", newYork, "2025-03-09 02:00", "2025-03-09T06:00:00Z", "EST"},
		{"New York in gap", newYork, "2025-03-09 02:30", "2025-03-09T06:30:00Z", "EST"}, // read as 01:30 EST
		{"New York after gap", newYork, "2025-03-09 03:00", "2025-03-09T07:00:00Z", "EDT"},
		// New York falls back at 02:00 EDT on 2 November: 01:00-01:59 happen twice.
		{"New York before overlap", newYork, "2025-11-02 00:59", "2025-11-02T04:59:00Z", "EDT"},
		{"New York overlap start", newYork, "2025-11-02 01:00", "2025-11-02T05:00:00Z", "EDT"},
		{"New York in overlap", newYork, "2025-11-02 01:30", "2025-11-02T05:30:00Z", "EDT"}, // the earlier one
		{"New York after overlap", newYork, "2025-11-02 02:00", "2025-11-02T07:00:00Z", "EST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wall, err := time.Parse("2006-01-02 15:04", tt.wall)
			if err != nil {
				t.Fatal(err)
			}
			// The same wall time through each way Parse builds a time.
			forms := []struct {
				rules DateRules
				in    string
			}{
				{DateRules{Zone: tt.zone}, tt.wall},
				{DateRules{Zone: tt.zone}, wall.Format("2006/01/02T15:04:05")},
				{DateRules{Zone: tt.zone, Order: DMY}, wall.Format("02/01/2006, 15:04")},
				{DateRules{Zone: tt.zone, Layouts: []string{"20060102_1504"}}, wall.Format("20060102_1504")},
			}
			for _, f := range forms {
				got, err := f.rules.Parse(f.in)
				if err != nil {
					t.Fatalf("Parse(%q): %v", f.in, err)
				}
				if u := got.UTC().Format(time.RFC3339); u != tt.wantUTC {
					t.Errorf("Parse(%q) = %s UTC, want %s", f.in, u, tt.wantUTC)
				}
				if name, _ := got.Zone(); name != tt.wantZone {
					t.Errorf("Parse(%q) zone = %s, want %s", f.in, name, tt.wantZone)
				}
				if got.Location() != tt.zone {
					t.Errorf("Parse(%q) location = %v, want %v", f.in, got.Location(), tt.zone)
				}
			}
		})
	}
}

func TestParseCrossesMidnight(t *testing.T) {
	london := zone(t, "Europe/London")
	for _, tt := range []struct {
		rules DateRules
		in    string
	}{
		{DateRules{Zone: london}, "2025-03-01 23:30"},
		{DateRules{Zone: london, Order: DMY}, "01/03/2025 23:30"},
		{DateRules{Zone: london, Order: MDY}, "03/01/2025 23:30"},
		{DateRules{Zone: london, Layouts: []string{"20060102-150405"}}, "20250301-233000"},
	} {
		got, err := tt.rules.Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if s := FormatDate(got); s != "02/03/2025, 01:30:00" {
			t.Errorf("FormatDate(Parse(%q)) = %q, want 02/03/2025, 01:30:00", tt.in, s)
		}
	}
}

// TestParseReadsFormatDate checks that Vela's own form, as the agent writes
// it, reads back as the same time.
func TestParseReadsFormatDate(t *testing.T) {
	for _, want := range []time.Time{
		time.Date(2025, 1, 15, 22, 30, 5, 0, time.UTC),
		time.Date(2025, 3, 4, 8, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC),
	} {
		s := FormatDate(want)
		got, err := DateRules{Order: DMY}.Parse(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
}

func TestCheckLayout(t *testing.T) {
	good := []string{
		"2006-01-02",
		"20060102_150405",
		DateLayout,
		"Jan 2 2006 3:04 PM",
		"January _2, 2006",
		time.RFC3339,
		time.RFC1123Z,
		"060102",
		"2006-002",
		"2006-01-02 15",
		"2006-01-02 15:04",
		"2006-01-02 15:04:05.000",
		"2006-01-02 15:04 MST",
		"rec-20060102-150405.wav",
	}
	for _, l := range good {
		if err := CheckLayout(l); err != nil {
			t.Errorf("CheckLayout(%q) = %v, want nil", l, err)
		}
	}
	bad := []struct{ layout, want string }{
		{"", "check date layout: layout is empty"},
		{"15:04:05", `check date layout "15:04:05": it has no year (2006 or 06)`},
		{"01/02", `check date layout "01/02": it has no year (2006 or 06)`},
		{"2006-02", `check date layout "2006-02": it has no month (01, 1, Jan or January)`},
		{"2006-04-02", `check date layout "2006-04-02": it has no month (01, 1, Jan or January)`},
		{"2006-01", `check date layout "2006-01": it has no day (02, 2, _2 or 002)`},
		{"2006-01-02 3:04", `check date layout "2006-01-02 3:04": 2025-11-23 13:47:59 is written "2025-11-23 1:47" and read back as 2025-11-23 01:47:00`},
		{"2006-01-02 04:05", `check date layout "2006-01-02 04:05": 2025-11-23 13:47:59 is written "2025-11-23 47:59" and read back as 2025-11-23 00:47:59`},
		{"2006-01-02 PM", `check date layout "2006-01-02 PM": 2025-11-23 13:47:59 is written "2025-11-23 PM" and read back as 2025-11-23 12:00:00`},
		{"yyyy-mm-dd", `check date layout "yyyy-mm-dd": it has no year (2006 or 06)`},
	}
	for _, tt := range bad {
		err := CheckLayout(tt.layout)
		if err == nil || err.Error() != tt.want {
			t.Errorf("CheckLayout(%q) = %v, want %s", tt.layout, err, tt.want)
		}
	}
	// Hour, minute and hour again run together: what it writes it cannot read.
	err := CheckLayout("2006-01-02303")
	if want := `check date layout "2006-01-02303": it cannot read back its own "2025-11-23101": `; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("CheckLayout(2006-01-02303) = %v, want %s...", err, want)
	}
}
