package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
)

// profileEnv names a file to write a CPU profile of the whole process to,
// for benchmarks: `VELA_CPUPROFILE=cpu.out vela-agent run`, then
// `go tool pprof`; "%p" in the name is replaced by the process id. The profile is written when the command returns
// without error (a run stopped by SIGTERM does).
const profileEnv = "VELA_CPUPROFILE"

// startProfile starts the CPU profile profileEnv asks for, if any, and
// returns the function that stops it.
func startProfile() func() {
	name := os.Getenv(profileEnv)
	if name == "" {
		return func() {}
	}
	name = strings.ReplaceAll(name, "%p", strconv.Itoa(os.Getpid()))
	f, err := os.Create(name)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vela-agent: %s: %v\n", profileEnv, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
