package watcher

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// maxWatches reports the number of inotify watches a user may hold, and
// false where there is no such limit or it cannot be read. Tests replace it.
var maxWatches = readMaxUserWatches

func readMaxUserWatches() (int, bool) {
	if runtime.GOOS != "linux" {
		return 0, false
	}
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches")
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}

// watchBudget is how many folders one watcher may watch under a limit of
// limit watches: the limit is shared by every process of the user, so a
// tenth of it is left to the others. -1 means no limit.
func watchBudget(limit int, known bool) int {
	if !known {
		return -1
	}
	return limit - limit/10
}

// raiseWatchesHint says how to lift the inotify watch limit.
const raiseWatchesHint = "raise fs.inotify.max_user_watches, e.g. sysctl -w fs.inotify.max_user_watches=524288 and the same line in /etc/sysctl.d/90-vela-agent.conf"

// isWatchLimit reports whether err from adding a watch means the inotify
// watch limit is reached.
func isWatchLimit(err error) bool {
	return errors.Is(err, syscall.ENOSPC)
}

// isInstanceLimit reports whether err from creating a watcher means the
// limit of inotify instances (fs.inotify.max_user_instances) is reached.
func isInstanceLimit(err error) bool {
	return errors.Is(err, syscall.EMFILE)
}
