//go:build unix

package main

import (
	"os"
	"runtime"
	"syscall"
)

// terminate is the signal that asks a process to stop.
var terminate os.Signal = syscall.SIGTERM

// rusageKnown says whether maxRSS can report anything here.
const rusageKnown = true

// maxRSS returns the peak resident set size of a reaped process in bytes,
// or 0 if unknown.
func maxRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) // bytes there
	}
	return int64(ru.Maxrss) << 10 // KiB on Linux and the BSDs
}

// syncDisks flushes dirty pages, so that one run's writes are not written
// back during the next.
func syncDisks() { syscall.Sync() }
