package agent

// OpenFile lets tests make a file unreadable even when they run as root.
var OpenFile = &openFile
