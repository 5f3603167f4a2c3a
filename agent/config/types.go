package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// Duration is a time.Duration written in YAML as a Go duration string such
// as "10s", "5m" or "1h30m". A bare number is refused, because nobody can
// tell whether "10" means seconds or minutes.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration without trailing zero units:
// "5m" rather than "5m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with the rules of the
// configuration file.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d *Duration) decodeNode(n ast.Node) error {
	text, ok := scalarText(n)
	if !ok {
		return fmt.Errorf("must be a duration such as 10s or 5m, not %s", describe(n))
	}
	return d.UnmarshalText([]byte(text))
}

func parseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		if n := strings.Replace(s, ".", "", 1); n != "" && isDigits(n) {
			return 0, fmt.Errorf("%q is not a duration (use a Go duration such as %ss or %sm)", s, s, s)
		}
		if days, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && days > 0 && days < 1e6 {
			return 0, fmt.Errorf("%q is not a duration (Go durations have no days: write %dh)", s, days*24)
		}
		return 0, fmt.Errorf("%q is not a duration (use a Go duration such as 10s or 5m)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return Duration(d), nil
}

// ByteSize is a number of bytes. In YAML it is a whole number of bytes or a
// string with a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB
// (powers of 1024), with an optional space before the unit and an optional
// "/s" after it, such as "500KB", "2 MiB" or "2MB/s".
type ByteSize int64

var byteUnits = []struct {
	name string
	size int64
}{
	{"GiB", 1 << 30}, {"GB", 1e9},
	{"MiB", 1 << 20}, {"MB", 1e6},
	{"KiB", 1 << 10}, {"KB", 1e3},
	{"B", 1},
}

// String formats b with the largest unit that divides it exactly, such as
// "2MB" or "512KiB".
func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if b != 0 && int64(b)%u.size == 0 {
			return strconv.FormatInt(int64(b)/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with the rules of the
// configuration file.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := parseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

func (b *ByteSize) decodeNode(n ast.Node) error {
	if n, ok := n.(*ast.IntegerNode); ok {
		v, ok := intValue(n)
		switch {
		case !ok:
			return fmt.Errorf("%s is too large", n.Token.Value)
		case v < 0:
			return fmt.Errorf("%s is negative", n.Token.Value)
		}
		*b = ByteSize(v)
		return nil
	}
	text, ok := scalarText(n)
	if !ok {
		return fmt.Errorf("must be a size such as 2000000 or 2MB, not %s", describe(n))
	}
	return b.UnmarshalText([]byte(text))
}

func parseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	bad := func() error { return fmt.Errorf("%q is not a size (use bytes or a unit: 500KB, 2MB, 1GiB)", s) }
	num, _ := strings.CutSuffix(s, "/s")
	unit := ""
	if i := strings.IndexFunc(num, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i >= 0 {
		num, unit = num[:i], strings.TrimSpace(num[i:])
	}
	if num == "" {
		return 0, bad()
	}
	mult := int64(1)
	if unit != "" {
		mult = 0
		for _, u := range byteUnits {
			if !strings.EqualFold(unit, u.name) {
				continue
			}
			if u.size > 1 && unit[len(unit)-1] == 'b' && unit != strings.ToLower(unit) {
				// "Mb" and "Kib" are bits in network speak: make the writer say.
				return 0, fmt.Errorf("%q looks like bits; write bytes with a capital B, such as %s%s", s, num, u.name)
			}
			mult = u.size
		}
		if mult == 0 {
			return 0, bad()
		}
	}
	if strings.Contains(num, ".") {
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, bad()
		}
		f *= float64(mult)
		if f != math.Trunc(f) {
			return 0, fmt.Errorf("%q is not a whole number of bytes", s)
		}
		if f >= math.MaxInt64 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return ByteSize(f), nil
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if errors.Is(err, strconv.ErrRange) || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	if err != nil {
		return 0, bad()
	}
	return ByteSize(n * mult), nil
}
