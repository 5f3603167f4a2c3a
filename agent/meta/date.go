package meta

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxDateLen is the longest value Parse reads, in bytes after trimming.
const maxDateLen = 64

// Years outside minYear to maxYear are taken to be misread and are an error.
const (
	minYear = 1970
	maxYear = 2100
)

// Offsets outside minOffset to maxOffset (seconds east of UTC) exist in no
// zone and are an error.
const (
	minOffset = -12 * 3600
	maxOffset = 14 * 3600
)

// DateOrder says how an all-numeric day/month date such as 03/04/2025 is read.
type DateOrder int

const (
	// OrderUnset makes such dates an error ("set metadata.date_order: DMY or MDY").
	OrderUnset DateOrder = iota
	// DMY reads 03/04/2025 as 3 April 2025.
	DMY
	// MDY reads 03/04/2025 as 4 March 2025.
	MDY
)

// ParseDateOrder reads "", "DMY" or "MDY" (case-insensitive). The empty
// string is OrderUnset.
func ParseDateOrder(s string) (DateOrder, error) {
	switch strings.ToUpper(s) {
	case "":
		return OrderUnset, nil
	case "DMY":
		return DMY, nil
	case "MDY":
		return MDY, nil
	}
	return OrderUnset, fmt.Errorf("read date order %q: want DMY, MDY or nothing", s)
}

// String returns "DMY", "MDY" or "unset".
func (o DateOrder) String() string {
	switch o {
	case OrderUnset:
		return "unset"
	case DMY:
		return "DMY"
	case MDY:
		return "MDY"
	}
	return fmt.Sprintf("DateOrder(%d)", int(o))
}

// DateRules says how to read dates of one source.
type DateRules struct {
	Layouts []string       // Go time layouts, tried first, in order
	Order   DateOrder      // how day/month dates that no layout read are read
	Zone    *time.Location // zone of values without an offset; nil means Africa/Johannesburg
}

// DateError says which value could not be read and why. Reason reads as the
// rest of a sentence whose subject is the value, e.g. "is empty".
type DateError struct {
	Value, Reason string
}

// Error returns e.g. `date "03/04/2025" is day-first or month-first: set
// metadata.date_order to DMY or MDY`. A Value over 64 bytes is shortened.
func (e *DateError) Error() string {
	v := e.Value
	if len(v) > maxDateLen {
		v = v[:maxDateLen] + "..."
	}
	return fmt.Sprintf("date %q %s", v, e.Reason)
}

// reasonOrderUnset is the reason for a day/month date read with OrderUnset.
const reasonOrderUnset = "is day-first or month-first: set metadata.date_order to DMY or MDY"

// Parse reads s, trimmed of surrounding space, as a time. It never guesses:
// a value it cannot read in exactly one way is an error, and every error is a
// *DateError. The result never has a fraction of a second; fractions in the
// value are dropped (truncated, not rounded).
//
// The forms, in the order they are tried:
//
//  1. r.Layouts, in order, by time.ParseInLocation in r.Zone; a layout with an
//     offset element uses the value's own offset. A layout without a time of
//     day gives 00:00. A zone abbreviation that r.Zone does not know, other
//     than UTC and GMT, is an error (Go would read it as UTC), and so is
//     GMT+3 and the like (Go reads 10:30 GMT+3 as 10:30 UTC). When a value has
//     a layout's shape but a field out of range (month 13, say) and no later
//     layout reads it, that is the error: the forms below are not tried, so
//     such a value is never read as something else.
//  2. RFC 3339 and ISO 8601: YYYY-MM-DD or YYYY/MM/DD, alone (00:00) or
//     followed by "T" or a space and HH:MM, HH:MM:SS or HH:MM:SS.fraction,
//     then optionally Z, +HH:MM or +HHMM (or with -).
//  3. Unix time: exactly 10 digits are seconds, exactly 13 digits are
//     milliseconds. Other all-digit values (such as 20250115) are read only
//     by a layout.
//  4. Day/month dates: D/M/YYYY with one or two digit day and month and the
//     same separator, "/", "-" or ".", twice; alone (00:00) or followed by a
//     space, "T" or ", " and H:MM or H:MM:SS (one or two digit hour, seconds
//     may have a fraction), as in Vela's own "DD/MM/YYYY, HH:mm:ss". They are
//     read as r.Order says; with OrderUnset they are an error, even when the
//     day is over 12.
//
// Values without an offset are wall times in r.Zone. Around a daylight
// saving change Parse does what time.Date does, which Go documents only as
// "correct in one of the two zones involved". Tested with Go 1.26 on the 2025
// change days: a wall time in the skipped hour is moved by an hour, forward
// in Europe/London (01:30 on 30 March is read as 02:30 BST) and back in
// America/New_York (02:30 on 9 March is read as 01:30 EST); a wall time that
// happens twice is read as the later one in Europe/London (01:30 on 26
// October is 01:30 GMT) and as the earlier one in America/New_York (01:30 on
// 2 November is 01:30 EDT). Go's choice follows from the zone's side of UTC,
// so expect London's behaviour at or east of UTC and New York's west of it.
// Sources near such a change should write an offset.
//
// Errors: an empty value, one over 64 bytes, a year before 1970 or after
// 2100, a month, day, hour, minute, second or offset out of range (31 April,
// 29 February 2025, 24:00, +15:00), and any value none of the forms read.
func (r DateRules) Parse(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return time.Time{}, &DateError{Value: v, Reason: "is empty"}
	}
	if len(v) > maxDateLen {
		return time.Time{}, &DateError{Value: v, Reason: fmt.Sprintf("is longer than %d bytes", maxDateLen)}
	}
	zone := r.Zone
	if zone == nil {
		zone = velaZone
	}

	var rangeErr string // the first layout whose shape fit but whose fields did not
	for _, layout := range r.Layouts {
		t, err := time.ParseInLocation(layout, v, zone)
		if err != nil {
			var pe *time.ParseError
			if rangeErr == "" && errors.As(err, &pe) && strings.HasSuffix(pe.Message, " out of range") && sameShape(v, layout) {
				rangeErr = fmt.Sprintf("does not fit layout %q: %s", layout, strings.TrimPrefix(pe.Message, ": "))
			}
			continue
		}
		return fromLayout(v, layout, t, zone)
	}
	if rangeErr != "" {
		return time.Time{}, &DateError{Value: v, Reason: rangeErr}
	}

	if allDigits(v) {
		return fromEpoch(v, zone)
	}
	if f, ok := scanYearFirst(v); ok {
		return f.time(v, zone, "")
	}
	if a, b, f, ok := scanDayMonth(v); ok {
		var hint string
		switch r.Order {
		case DMY:
			f.day, f.month = a, b
			hint = " (read day-first, as metadata.date_order is DMY)"
		case MDY:
			f.month, f.day = a, b
			hint = " (read month-first, as metadata.date_order is MDY)"
		default:
			return time.Time{}, &DateError{Value: v, Reason: reasonOrderUnset}
		}
		return f.time(v, zone, hint)
	}
	return time.Time{}, &DateError{Value: v, Reason: "matches no date layout and no known date form"}
}

// sameShape reports whether v is written the way layout is: as long, with
// digits where the layout has digits and the same other characters. Only
// then is a field out of range an error of v rather than a sign that v is
// in another form (a 10-digit epoch against "20060102-150405").
func sameShape(v, layout string) bool {
	if len(v) != len(layout) {
		return false
	}
	for i := range len(v) {
		d, l := v[i] >= '0' && v[i] <= '9', layout[i] >= '0' && layout[i] <= '9'
		if d != l || !d && v[i] != layout[i] {
			return false
		}
	}
	return true
}

// fromLayout checks a time that layout read from v.
func fromLayout(v, layout string, t time.Time, zone *time.Location) (time.Time, error) {
	name, off := t.Zone()
	if loc := t.Location(); loc != zone && loc != time.UTC && name != "" && name != "GMT" && !hasNumericZone(layout) {
		// Go reads an abbreviation it cannot find in zone as UTC, and
		// 10:30 GMT+3 as 10:30 UTC shown at +03:00.
		return time.Time{}, &DateError{Value: v, Reason: fmt.Sprintf(
			"has zone %q, which %s does not know: write a numeric offset or set the source's zone", name, zone)}
	}
	if y := t.Year(); y < minYear || y > maxYear {
		return time.Time{}, &DateError{Value: v, Reason: yearReason(y)}
	}
	if off < minOffset || off > maxOffset {
		return time.Time{}, &DateError{Value: v, Reason: offsetReason(off)}
	}
	return t.Add(-time.Duration(t.Nanosecond())), nil
}

// hasNumericZone reports whether layout has a numeric offset element
// (-07, -0700, -07:00, Z07, Z0700, Z07:00 and the forms with seconds).
func hasNumericZone(layout string) bool {
	return strings.Contains(layout, "-07") || strings.Contains(layout, "Z07")
}

// fromEpoch reads v, all digits, as Unix seconds or milliseconds.
func fromEpoch(v string, zone *time.Location) (time.Time, error) {
	var sec int64
	switch len(v) {
	case 10, 13:
		// 13 digits cannot overflow an int64.
		for i := 0; i < len(v); i++ {
			sec = sec*10 + int64(v[i]-'0')
		}
		if len(v) == 13 {
			sec /= 1000
		}
	default:
		return time.Time{}, &DateError{Value: v, Reason: fmt.Sprintf(
			"has %d digits: without a date layout only 10 (Unix seconds) or 13 (Unix milliseconds) are read", len(v))}
	}
	t := time.Unix(sec, 0).In(zone)
	if y := t.Year(); y < minYear || y > maxYear {
		return time.Time{}, &DateError{Value: v, Reason: yearReason(y)}
	}
	return t, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// fields is a date and time as written, not yet checked.
type fields struct {
	year, month, day int
	hour, min, sec   int
	hasOffset, isUTC bool
	offset           int // seconds east of UTC, when hasOffset
	offsetMin        int // the offset's minutes as written
}

// time checks f and returns its time: at f's offset if it has one, else in
// zone. hint is added to a range error's reason.
func (f fields) time(v string, zone *time.Location, hint string) (time.Time, error) {
	if reason, dayMonth := f.check(); reason != "" {
		if !dayMonth {
			hint = ""
		}
		return time.Time{}, &DateError{Value: v, Reason: reason + hint}
	}
	loc := zone
	switch {
	case f.isUTC:
		loc = time.UTC
	case f.hasOffset:
		loc = time.FixedZone("", f.offset)
	}
	return time.Date(f.year, time.Month(f.month), f.day, f.hour, f.min, f.sec, 0, loc), nil
}

// check returns why f is not a real date and time, or "", and whether the
// reason is its month or day.
func (f fields) check() (reason string, dayMonth bool) {
	switch {
	case f.year < minYear || f.year > maxYear:
		return yearReason(f.year), false
	case f.month < 1 || f.month > 12:
		return fmt.Sprintf("has month %d, outside 1 to 12", f.month), true
	case f.day < 1 || f.day > 31:
		return fmt.Sprintf("has day %d, outside 1 to 31", f.day), true
	case f.day > daysIn(f.year, f.month):
		return fmt.Sprintf("has day %d, but %s %d has %d days",
			f.day, time.Month(f.month), f.year, daysIn(f.year, f.month)), true
	case f.hour > 23:
		return fmt.Sprintf("has hour %d, outside 0 to 23", f.hour), false
	case f.min > 59:
		return fmt.Sprintf("has minute %d, outside 0 to 59", f.min), false
	case f.sec > 59:
		return fmt.Sprintf("has second %d, outside 0 to 59", f.sec), false
	case f.hasOffset && f.offsetMin > 59:
		return fmt.Sprintf("has offset minute %d, outside 0 to 59", f.offsetMin), false
	case f.hasOffset && (f.offset < minOffset || f.offset > maxOffset):
		return offsetReason(f.offset), false
	}
	return "", false
}

func yearReason(y int) string {
	return fmt.Sprintf("has year %d, outside %d to %d", y, minYear, maxYear)
}

func offsetReason(off int) string {
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	return fmt.Sprintf("has offset %c%02d:%02d, outside -12:00 to +14:00", sign, off/3600, off/60%60)
}

// daysIn returns the number of days in month of year.
func daysIn(year, month int) int {
	// Day 0 of the next month is the last day of this one.
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// cursor reads a value from left to right.
type cursor struct {
	s string
	i int
}

func (c *cursor) done() bool { return c.i == len(c.s) }

// num reads min to max digits.
func (c *cursor) num(min, max int) (int, bool) {
	n, j := 0, c.i
	for j < len(c.s) && j-c.i < max && isDigit(c.s[j]) {
		n = n*10 + int(c.s[j]-'0')
		j++
	}
	if j-c.i < min {
		return 0, false
	}
	c.i = j
	return n, true
}

// one reads one byte that is in set and returns it.
func (c *cursor) one(set string) (byte, bool) {
	if c.done() || strings.IndexByte(set, c.s[c.i]) < 0 {
		return 0, false
	}
	c.i++
	return c.s[c.i-1], true
}

// is reads b if it is next.
func (c *cursor) is(b byte) bool {
	_, ok := c.one(string(b))
	return ok
}

// clock reads H:MM, H:MM:SS or H:MM:SS.fraction into f, with hourMin to two
// hour digits. The fraction is read and dropped.
func (c *cursor) clock(f *fields, hourMin int) bool {
	var ok bool
	if f.hour, ok = c.num(hourMin, 2); !ok || !c.is(':') {
		return false
	}
	if f.min, ok = c.num(2, 2); !ok {
		return false
	}
	if !c.is(':') {
		return true
	}
	if f.sec, ok = c.num(2, 2); !ok {
		return false
	}
	if c.is('.') {
		n := 0
		for !c.done() && isDigit(c.s[c.i]) {
			c.i++
			n++
		}
		return n > 0
	}
	return true
}

// scanYearFirst reads the RFC 3339 and ISO 8601 forms Parse describes.
func scanYearFirst(v string) (fields, bool) {
	var f fields
	c := cursor{s: v}
	var ok bool
	if f.year, ok = c.num(4, 4); !ok {
		return f, false
	}
	sep, ok := c.one("-/")
	if !ok {
		return f, false
	}
	if f.month, ok = c.num(2, 2); !ok || !c.is(sep) {
		return f, false
	}
	if f.day, ok = c.num(2, 2); !ok {
		return f, false
	}
	if c.done() {
		return f, true
	}
	if _, ok := c.one("Tt "); !ok || !c.clock(&f, 2) {
		return f, false
	}
	if c.done() {
		return f, true
	}
	if _, ok := c.one("Zz"); ok {
		f.hasOffset, f.isUTC = true, true
		return f, c.done()
	}
	sign, ok := c.one("+-")
	if !ok {
		return f, false
	}
	h, ok := c.num(2, 2)
	if !ok {
		return f, false
	}
	c.is(':')
	m, ok := c.num(2, 2)
	if !ok {
		return f, false
	}
	f.hasOffset, f.offset, f.offsetMin = true, h*3600+m*60, m
	if sign == '-' {
		f.offset = -f.offset
	}
	return f, c.done()
}

// scanDayMonth reads the day/month forms Parse describes. It returns the
// first and second numbers, which of them is the day is for the caller, and
// the year and time in f.
func scanDayMonth(v string) (a, b int, f fields, ok bool) {
	c := cursor{s: v}
	if a, ok = c.num(1, 2); !ok {
		return
	}
	sep, ok := c.one("/-.")
	if !ok {
		return
	}
	if b, ok = c.num(1, 2); !ok || !c.is(sep) {
		return a, b, f, false
	}
	if f.year, ok = c.num(4, 4); !ok {
		return
	}
	if c.done() {
		return a, b, f, true
	}
	if c.is(',') {
		if !c.is(' ') {
			return a, b, f, false
		}
	} else if _, ok := c.one(" Tt"); !ok {
		return a, b, f, false
	}
	if !c.clock(&f, 1) {
		return a, b, f, false
	}
	return a, b, f, c.done()
}

// checkSample is the time CheckLayout writes and reads back. Every field
// differs from every other and from its zero value, the day is over 12 and
// the hour is in the afternoon, so a missing or misplaced element shows.
var checkSample = time.Date(2025, time.November, 23, 13, 47, 59, 0, time.UTC)

// CheckLayout reports a layout that cannot describe a date (no year, month or
// day element, or that does not round-trip a sample time), for config
// validation. A layout may leave out the time of day, or its seconds, or its
// minutes and seconds; it may not leave out anything else.
func CheckLayout(layout string) error {
	if layout == "" {
		return errors.New("check date layout: layout is empty")
	}
	s := checkSample.Format(layout)
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return fmt.Errorf("check date layout %q: it cannot read back its own %q: %w", layout, s, err)
	}
	want := checkSample
	switch {
	case t.Year() != want.Year():
		return fmt.Errorf("check date layout %q: it has no year (2006 or 06)", layout)
	case t.Month() != want.Month():
		return fmt.Errorf("check date layout %q: it has no month (01, 1, Jan or January)", layout)
	case t.Day() != want.Day():
		return fmt.Errorf("check date layout %q: it has no day (02, 2, _2 or 002)", layout)
	}
	h, m, sec := t.Clock()
	wh, wm, wsec := want.Clock()
	switch [3]int{h, m, sec} {
	case [3]int{0, 0, 0}, [3]int{wh, 0, 0}, [3]int{wh, wm, 0}, [3]int{wh, wm, wsec}:
	default:
		return fmt.Errorf("check date layout %q: %s is written %q and read back as %s",
			layout, want.Format(time.DateTime), s, t.Format(time.DateTime))
	}
	return nil
}
