//go:build windows

package agent

import win "golang.org/x/sys/windows"

// freeBytes is the space free for this process on the volume of dir.
func freeBytes(dir string) (uint64, error) {
	p, err := win.UTF16PtrFromString(dir)
	if err != nil {
		return 0, err
	}
	var free uint64
	if err := win.GetDiskFreeSpaceEx(p, &free, nil, nil); err != nil {
		return 0, err
	}
	return free, nil
}
