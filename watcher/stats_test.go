package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The counters of Stats move with the work done on a real folder: scans,
// events, files handed over, entries skipped and folders unreadable.
func TestStats(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	makeTree(t, root, "a.wav", "sub/b.wav", "notes.txt")
	links := os.Symlink(filepath.Join(root, "a.wav"), filepath.Join(root, "link.wav")) == nil
	fail := &failDirs{}
	var w *Local
	h := startWith(t, Options{Root: root, Recursive: true, Include: []string{"*.wav"}, Settle: 50 * time.Millisecond}, func(l *Local) {
		if s := l.Stats(); s != (Stats{}) {
			t.Errorf("Stats() before Run = %+v, want zeros", s)
		}
		l.failDir = fail.fail
		w = l
	})
	h.waitPaths("a.wav", "sub/b.wav")

	// stats waits until cond holds for w.Stats().
	stats := func(what string, cond func(Stats) bool) Stats {
		t.Helper()
		var s Stats
		waitUntil(t, what, func() bool { s = w.Stats(); return cond(s) })
		return s
	}
	s := stats("a first scan", func(s Stats) bool { return s.Scans >= 1 && s.Found == 2 })
	if s.Scans != 1 || s.LastScanFiles != 2 {
		t.Errorf("after the first scan: Scans %d, LastScanFiles %d; want 1, 2 (notes.txt and link.wav left out)", s.Scans, s.LastScanFiles)
	}
	if s.LastScanDuration <= 0 || s.ScanTime != s.LastScanDuration {
		t.Errorf("after the first scan: LastScanDuration %v, ScanTime %v; want equal and positive", s.LastScanDuration, s.ScanTime)
	}
	if links && s.Skipped != 1 {
		t.Errorf("Skipped = %d, want 1 (link.wav)", s.Skipped)
	}
	if s.Unreadable != 0 || s.Overflows != 0 || s.WatchErrors != 0 || s.PollingSwitches != 0 {
		t.Errorf("Stats() = %+v; want no unreadable folder, overflow, watch error or switch to polling", s)
	}

	// A new file is found by its event (rescans are an hour apart).
	events := s.Events
	write(t, filepath.Join(root, "c.wav"), "c")
	h.waitPaths("c.wav")
	s = stats("c.wav handed over", func(s Stats) bool { return s.Found == 3 })
	if mode, _ := w.Mode(); mode == ModeEvents && s.Events <= events {
		t.Errorf("Events = %d after writing c.wav, want more than %d", s.Events, events)
	}
	if s.Scans != 1 {
		t.Errorf("Scans = %d after an event, want still 1", s.Scans)
	}

	// A rescan with sub unreadable: one more scan, fewer files seen, one
	// folder unreadable, the link not counted again.
	fail.set(filepath.Join(root, "sub"))
	first := s.ScanTime
	w.Rescan()
	s = stats("a second scan", func(s Stats) bool { return s.Scans == 2 && s.Unreadable == 1 })
	if s.LastScanFiles != 2 {
		t.Errorf("LastScanFiles = %d with sub unreadable, want 2 (a.wav, c.wav)", s.LastScanFiles)
	}
	if s.ScanTime != first+s.LastScanDuration {
		t.Errorf("ScanTime = %v, want %v + %v", s.ScanTime, first, s.LastScanDuration)
	}
	if links && s.Skipped != 1 {
		t.Errorf("Skipped = %d after a rescan, want still 1", s.Skipped)
	}
	if s.Found != 3 {
		t.Errorf("Found = %d, want 3: nothing new was handed over", s.Found)
	}

	fail.set()
	w.Rescan()
	s = stats("sub readable again", func(s Stats) bool { return s.Scans == 3 })
	if s.Unreadable != 0 || s.LastScanFiles != 3 {
		t.Errorf("sub readable again: Unreadable %d, LastScanFiles %d; want 0, 3", s.Unreadable, s.LastScanFiles)
	}
}

// Reading Stats while the watcher works is safe (run with -race).
func TestStatsConcurrent(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	h := start(t, Options{Root: root})
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				_ = h.w.Stats()
			}
		}
	}()
	var want []string
	for i := range 20 {
		name := fmt.Sprintf("f%d.wav", i)
		write(t, filepath.Join(root, name), "x")
		want = append(want, name)
		if i%5 == 0 {
			h.w.Rescan()
		}
	}
	h.waitPaths(want...)
	close(stop)
	<-done
	waitUntil(t, "every file sent counted", func() bool { return h.w.Stats().Found == uint64(len(h.files())) })
	waitUntil(t, "a scan done", func() bool { return h.w.Stats().Scans > 0 }) // files may come by events first
	if s := h.w.Stats(); s.ScanTime < s.LastScanDuration {
		t.Errorf("Stats() = %+v; want ScanTime >= LastScanDuration", s)
	}
}
