//go:build !unix

package main

import "os"

// terminate is the signal that asks a process to stop: without signals,
// the process is killed.
var terminate = os.Kill

// rusageKnown says whether maxRSS can report anything here.
const rusageKnown = false

// maxRSS returns 0: the peak resident set size is not known here.
func maxRSS(*os.ProcessState) int64 { return 0 }

// syncDisks does nothing here.
func syncDisks() {}
