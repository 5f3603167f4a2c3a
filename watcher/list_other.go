//go:build !linux || !(amd64 || arm64 || riscv64)

package watcher

// fastLister says that newLister reads folders with getdents64 and
// allocates nothing a file.
const fastLister = false

// newLister returns the portable lister, on os.ReadDir.
func newLister() lister { return newReadDirLister() }
