package meta

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// FuzzParseDate reads any value with each date order, with the fuzzed layout
// and with none. Parse must not panic, must fail only with a *DateError, and
// any time it returns must have no fraction of a second and survive
// FormatDate unchanged.
func FuzzParseDate(f *testing.F) {
	for _, seed := range []struct{ value, layout string }{
		{"2025-01-15T10:30:00.123456789+02:00", ""},
		{"2025-01-15 10:30", "2006-01-02 15:04"},
		{"2025/01/15T10:30:05Z", ""},
		{"15/01/2025, 10:30:00", DateLayout},
		{"03/04/2025", "02/01/2006"},
		{"3.4.2025 9:05:07.5", ""},
		{"1736937000", ""},
		{"1736937000999", ""},
		{"9999999999999", ""},
		{"20250115_103000", "20060102_150405"},
		{"20251315", "20060102"},
		{"2025-01-15 10:30 EST", "2006-01-02 15:04 MST"},
		{"2025-01-15 10:30 GMT+3", "2006-01-02 15:04 MST"},
		{"2025-01-15 10:30 +2400", "2006-01-02 15:04 -0700"},
		{"2025-03-30 01:30", "2006-01-02 15:04"},
		{"2100-12-31T23:59:59-12:00", ""},
		{"1970-01-01T00:00:00+14:00", ""},
		{"31.12.69", "02.01.06"},
		{"2025-327", "2006-002"},
		{"", ""},
		{"   ", "Mon"},
	} {
		f.Add(seed.value, seed.layout)
	}
	london, err := time.LoadLocation("Europe/London")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, value, layout string) {
		_ = CheckLayout(layout)
		for _, layouts := range [][]string{nil, {layout}} {
			for _, order := range []DateOrder{OrderUnset, DMY, MDY} {
				for _, zone := range []*time.Location{nil, london} {
					r := DateRules{Layouts: layouts, Order: order, Zone: zone}
					rs := fmt.Sprintf("DateRules{Layouts: %q, Order: %v, Zone: %v}", layouts, order, zone)
					if zone == nil {
						rs = fmt.Sprintf("DateRules{Layouts: %q, Order: %v}", layouts, order)
					}
					got, err := r.Parse(value)
					if err != nil {
						var de *DateError
						if !errors.As(err, &de) {
							t.Fatalf("%s.Parse(%q) error %T %v, want a *DateError", rs, value, err, err)
						}
						_ = de.Error()
						continue
					}
					if got.Nanosecond() != 0 {
						t.Fatalf("%s.Parse(%q) = %v, with %d ns", rs, value, got, got.Nanosecond())
					}
					s := FormatDate(got)
					back, err := time.ParseInLocation(DateLayout, s, velaZone)
					if err != nil || !back.Equal(got) {
						t.Fatalf("%s.Parse(%q) = %v, FormatDate %q reads back as %v, %v", rs, value, got, s, back, err)
					}
					// The year limits apply to the year as written, which can be
					// a year off Johannesburg's at the ends of the range.
					if y := back.Year(); y < minYear || y > maxYear {
						continue
					}
					if again, err := (DateRules{Order: DMY}).Parse(s); err != nil || !again.Equal(got) {
						t.Fatalf("%s.Parse(%q) = %v, FormatDate %q parses as %v, %v", rs, value, got, s, again, err)
					}
				}
			}
		}
	})
}
