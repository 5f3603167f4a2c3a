package agent

// OpenFile lets tests make a file unreadable even when they run as root.
var OpenFile = &openFile

// ProblemLinger is how long status shows a state file problem after it ended.
var ProblemLinger = &problemLinger

// OrphanRecheck is how long a job of a removed source waits.
var OrphanRecheck = &orphanRecheck

// Workers reports the upload workers wanted and running.
func (a *Agent) Workers() (want, live int) { return a.workers.size() }

// BandwidthLimit is the upload limit in force now, in bytes/s.
func (a *Agent) BandwidthLimit() int64 { return a.limiter.Current() }

// SpoolReserve is the space a download leaves free in the spool.
var SpoolReserve = &spoolReserve

// SpoolRecheck is how often a download waiting for room is tried again.
var SpoolRecheck = &spoolRecheck

// NewInstallFiles is how many files a new install queues before it says so.
var NewInstallFiles = &newInstallFiles
