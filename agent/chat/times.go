package chat

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta"
)

// dates returns the rules Read reads times by: the source's layouts and
// zone, and day-first for the all-numeric day/month forms, whatever the
// source's metadata.date_order says of its call metadata.
func (o Options) dates() meta.DateRules {
	return meta.DateRules{Layouts: o.Layouts, Order: meta.DMY, Zone: o.Zone}
}

// readTime reads a message, start or metadata time by dates.Parse; an empty
// or blank value is errNoTime. Its other errors wrap a *meta.DateError, which
// names the value.
func readTime(raw string, dates meta.DateRules) (time.Time, error) {
	if strings.TrimSpace(raw) == "" {
		return time.Time{}, errNoTime
	}
	t, err := dates.Parse(raw)
	if err != nil {
		var de *meta.DateError
		if errors.As(err, &de) && strings.HasSuffix(de.Reason, metaDMYHint) {
			err = &meta.DateError{Value: de.Value, Reason: strings.TrimSuffix(de.Reason, metaDMYHint) + dayFirstHint}
		}
		return time.Time{}, fmt.Errorf("read time: %w", err)
	}
	return t, nil
}

// metaDMYHint ends meta's reason for a day/month value out of range read
// with meta.DMY. Chat times are day-first whatever metadata.date_order is,
// so readTime says so instead.
const (
	metaDMYHint  = " (read day-first, as metadata.date_order is DMY)"
	dayFirstHint = " (read day-first, as chat times always are)"
)

// errNoTime is readTime's error for an empty value.
var errNoTime = errors.New("has no time")

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
