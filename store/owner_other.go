//go:build !unix

package store

import "os"

// sameOwner is a no-op where files have no Unix owner.
func sameOwner(string, os.FileInfo) error { return nil }
