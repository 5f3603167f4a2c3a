package chat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Years outside minYear to maxYear are taken to be misread.
const (
	minYear = 1970
	maxYear = 2100
)

// Offsets outside minOffset to maxOffset (seconds east of UTC) exist in no zone.
const (
	minOffset = -12 * 3600
	maxOffset = 14 * 3600
)

// maxTimeLen is the longest time value read, in bytes after trimming.
const maxTimeLen = 64

// readTime reads a message, start or metadata time, trimmed: RFC 3339 and
// ISO 8601 with an offset, Unix seconds (exactly 10 digits) or milliseconds
// (13), and the day-first forms DD/MM/YYYY HH:MM[:SS] (also with ", " as
// Vela writes it) and DD-MM-YYYY HH:MM:SS, whose zone parse supplies. Every
// other value goes to parse as it is. Fractions of a second are dropped. An
// empty value is errNoTime.
func readTime(raw string, parse func(string) (time.Time, error)) (time.Time, error) {
	v := strings.TrimSpace(raw)
	if v == "" {
		return time.Time{}, errNoTime
	}
	if len(v) > maxTimeLen {
		return time.Time{}, fmt.Errorf("time %s is longer than %d bytes", quote(v), maxTimeLen)
	}
	t, err := timeValue(v, parse)
	if err != nil {
		return time.Time{}, err
	}
	if y := t.Year(); y < minYear || y > maxYear {
		return time.Time{}, fmt.Errorf("time %s is in %d, outside %d to %d", quote(v), y, minYear, maxYear)
	}
	return t.Add(-time.Duration(t.Nanosecond())), nil
}

// errNoTime is readTime's error for an empty value.
var errNoTime = errors.New("has no time")

func timeValue(v string, parse func(string) (time.Time, error)) (time.Time, error) {
	if n := len(v); (n == 10 || n == 13) && allDigits(v) {
		sec, _ := strconv.ParseInt(v, 10, 64) // 13 digits cannot overflow
		if n == 13 {
			sec /= 1000
		}
		return time.Unix(sec, 0).UTC(), nil
	}
	if f, ok := scanISO(v); ok && f.hasOffset {
		if reason := f.check(); reason != "" {
			return time.Time{}, fmt.Errorf("time %s %s", quote(v), reason)
		}
		loc := time.UTC
		if f.offset != 0 {
			loc = time.FixedZone("", f.offset)
		}
		return time.Date(f.year, time.Month(f.month), f.day, f.hour, f.min, f.sec, 0, loc), nil
	}
	if parse == nil {
		return time.Time{}, fmt.Errorf("time %s has no offset, and no zone is set to read it in", quote(v))
	}
	if f, ok := scanDayFirst(v); ok {
		if reason := f.check(); reason != "" {
			return time.Time{}, fmt.Errorf("time %s %s (read day-first)", quote(v), reason)
		}
		return dayFirst(v, f, parse)
	}
	t, err := parse(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read time %s: %w", quote(v), err)
	}
	return t, nil
}

// dayFirst returns the time of f, read day-first from v, in parse's zone:
// parse is asked for the same wall time written year-first, which no parser
// can read two ways. A parse that cannot read that is given v itself, and
// its answer must be the day-first reading.
func dayFirst(v string, f fields, parse func(string) (time.Time, error)) (time.Time, error) {
	iso := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", f.year, f.month, f.day, f.hour, f.min, f.sec)
	if t, err := parse(iso); err == nil {
		return t, nil
	}
	t, err := parse(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot read time %s in the source's zone: %w", quote(v), err)
	}
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	if y != f.year || int(mo) != f.month || d != f.day || h != f.hour || mi != f.min || s != f.sec {
		return time.Time{}, fmt.Errorf("time %s is day-first, but the source's date rules read it as %s",
			quote(v), t.Format("2 January 2006 15:04:05"))
	}
	return t, nil
}

// fields is a date and time as written, not yet checked.
type fields struct {
	year, month, day int
	hour, min, sec   int
	hasOffset        bool
	offset           int // seconds east of UTC
	offsetMin        int // the offset's minutes as written
}

// check returns why f is not a real time, or "".
func (f fields) check() string {
	switch {
	case f.year < minYear || f.year > maxYear:
		return fmt.Sprintf("is in %d, outside %d to %d", f.year, minYear, maxYear)
	case f.month < 1 || f.month > 12:
		return fmt.Sprintf("has month %d", f.month)
	case f.day < 1 || f.day > daysIn(f.year, f.month):
		return fmt.Sprintf("has day %d, but %s %d has %d days", f.day, time.Month(f.month), f.year, daysIn(f.year, f.month))
	case f.hour > 23:
		return fmt.Sprintf("has hour %d", f.hour)
	case f.min > 59:
		return fmt.Sprintf("has minute %d", f.min)
	case f.sec > 59:
		return fmt.Sprintf("has second %d", f.sec)
	case f.hasOffset && (f.offsetMin > 59 || f.offset < minOffset || f.offset > maxOffset):
		return "has an offset no zone has"
	}
	return ""
}

// daysIn returns the number of days in month of year.
func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
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

// scanner reads a value from left to right.
type scanner struct {
	s string
	i int
}

func (c *scanner) done() bool { return c.i == len(c.s) }

// num reads min to max digits.
func (c *scanner) num(min, max int) (int, bool) {
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

// one reads a byte in set and returns it.
func (c *scanner) one(set string) (byte, bool) {
	if c.done() || strings.IndexByte(set, c.s[c.i]) < 0 {
		return 0, false
	}
	c.i++
	return c.s[c.i-1], true
}

// lit reads s if it is next.
func (c *scanner) lit(s string) bool {
	if strings.HasPrefix(c.s[c.i:], s) {
		c.i += len(s)
		return true
	}
	return false
}

// clock reads H:MM, HH:MM, either with :SS, and :SS with a fraction
// (dropped) into f. needSec says seconds must be given.
func (c *scanner) clock(f *fields, needSec bool) bool {
	var ok bool
	if f.hour, ok = c.num(1, 2); !ok || !c.lit(":") {
		return false
	}
	if f.min, ok = c.num(2, 2); !ok {
		return false
	}
	if !c.lit(":") {
		return !needSec
	}
	if f.sec, ok = c.num(2, 2); !ok {
		return false
	}
	if _, ok := c.one(".,"); ok {
		n := 0
		for !c.done() && isDigit(c.s[c.i]) {
			c.i++
			n++
		}
		return n > 0
	}
	return true
}

// scanISO reads YYYY-MM-DD, "T" or a space, the clock, and an optional
// offset: Z, +HH, +HH:MM or +HHMM (or with -).
func scanISO(v string) (fields, bool) {
	var f fields
	c := scanner{s: v}
	var ok bool
	if f.year, ok = c.num(4, 4); !ok || !c.lit("-") {
		return f, false
	}
	if f.month, ok = c.num(2, 2); !ok || !c.lit("-") {
		return f, false
	}
	if f.day, ok = c.num(2, 2); !ok {
		return f, false
	}
	if _, ok := c.one("Tt "); !ok || !c.clock(&f, false) {
		return f, false
	}
	if c.done() {
		return f, true
	}
	if _, ok := c.one("Zz"); ok {
		f.hasOffset = true
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
	m := 0
	if !c.done() {
		c.lit(":")
		if m, ok = c.num(2, 2); !ok {
			return f, false
		}
	}
	f.hasOffset, f.offset, f.offsetMin = true, h*3600+m*60, m
	if sign == '-' {
		f.offset = -f.offset
	}
	return f, c.done()
}

// scanDayFirst reads DD/MM/YYYY followed by a space or ", " and HH:MM or
// HH:MM:SS, and DD-MM-YYYY HH:MM:SS. Day, month and hour may have one digit.
func scanDayFirst(v string) (fields, bool) {
	var f fields
	c := scanner{s: v}
	var ok bool
	if f.day, ok = c.num(1, 2); !ok {
		return f, false
	}
	sep, ok := c.one("/-")
	if !ok {
		return f, false
	}
	if f.month, ok = c.num(1, 2); !ok || !c.lit(string(sep)) {
		return f, false
	}
	if f.year, ok = c.num(4, 4); !ok {
		return f, false
	}
	if !c.lit(" ") && !(sep == '/' && c.lit(", ")) {
		return f, false
	}
	if !c.clock(&f, sep == '-') {
		return f, false
	}
	return f, c.done()
}

// quote returns s quoted for an error, cut after 64 bytes.
func quote(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
