//go:build !unix

package bulk

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
