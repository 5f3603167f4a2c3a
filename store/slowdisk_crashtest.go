//go:build crashtest

package store

import (
	"math/rand/v2"
	"os"
	"time"
)

// Built only with -tags crashtest: VELA_TEST_SLOW_DISK=200ms makes every
// commit wait a random time up to that long, as on a slow or busy disk, so
// that the crash tests meet the windows that fast disks hide.
func init() {
	d, err := time.ParseDuration(os.Getenv("VELA_TEST_SLOW_DISK"))
	if err != nil || d <= 0 {
		return
	}
	slowDisk = func() time.Duration { return rand.N(d) }
}
