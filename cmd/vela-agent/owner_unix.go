//go:build unix

package main

import (
	"os"
	"os/user"
	"strconv"
)

// giveToServiceUser makes f the service user's when root writes it and the
// service user exists (the packages create it), so that a token written by
// `sudo vela-agent login` is readable by the service, and by nobody else.
func giveToServiceUser(f *os.File) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(serviceUser)
	if err != nil {
		return nil // not installed as a service: root keeps it
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil
	}
	return f.Chown(uid, gid)
}
