package agent

// OpenFile lets tests make a file unreadable even when they run as root.
var OpenFile = &openFile

// ProblemLinger is how long status shows a state file problem after it ended.
var ProblemLinger = &problemLinger
