// Package retryafter reads the Retry-After header, for the API client and
// the uploader alike, and names the interface of errors that carry it.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max caps a server's Retry-After, so that a broken proxy cannot hold the
// queue for months.
const Max = 24 * time.Hour

// Error is implemented by errors that carry a server's Retry-After: the
// wait it asked for, 0 if it gave none.
type Error interface {
	error
	RetryAfter() time.Duration
}

// Parse reads a Retry-After header, in seconds or as an HTTP date, as a
// wait from now, at most Max. It returns 0 for none, a bad value or a time
// in the past.
func Parse(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if s, err := strconv.ParseInt(h, 10, 64); err == nil {
		if s > int64(Max/time.Second) {
			return Max
		}
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), Max)
}
