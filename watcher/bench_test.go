package watcher

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkScan100k measures the first scan of a nested tree of 100,000
// files (10×10×10 folders of 100), with Settle 0, until every file is sent.
func BenchmarkScan100k(b *testing.B) {
	root := b.TempDir()
	const perDir = 100
	n := 0
	for i := range 10 {
		for j := range 10 {
			for k := range 10 {
				dir := filepath.Join(root, fmt.Sprint("a", i), fmt.Sprint("b", j), fmt.Sprint("c", k))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				for f := range perDir {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("call-%04d.wav", f)), nil, 0o644); err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
		}
	}

	for _, mode := range []struct {
		name string
		poll bool
	}{{"events", false}, {"polling", true}} {
		b.Run(mode.name, func(b *testing.B) {
			for b.Loop() {
				w, err := New(Options{Name: "bench", Root: root, Recursive: true, Poll: mode.poll, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				out := make(chan []File)
				done := make(chan error, 1)
				go func() { done <- w.Run(ctx, out) }()
				for got := 0; got < n; {
					got += len(<-out)
				}
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
		})
	}
}

// makeFolders creates folders of empty files under root, named as a call
// recorder names them, and returns how many files it made.
func makeFolders(tb testing.TB, root string, folders, perFolder int) int {
	tb.Helper()
	for i := range folders {
		dir := filepath.Join(root, fmt.Sprintf("2024-%04d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		for j := range perFolder {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("call-%04d-%06d.wav", i, j)), nil, 0o644); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return folders * perFolder
}

// scanned runs the first full scan of a run on root, polling, Settle 0,
// with a receiver that drops what it gets.
func scannedRun(tb testing.TB, root string, o Options) *run {
	tb.Helper()
	o.Name, o.Root, o.Recursive, o.Poll = "bench", root, true, true
	o.Logger = slog.New(slog.DiscardHandler)
	w, err := New(o)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	out := make(chan []File)
	go func() {
		for {
			select {
			case <-out:
			case <-ctx.Done():
				return
			}
		}
	}()
	r := w.newRun(out)
	fullScan(tb, r)
	return r
}

// fullScan runs one full scan of r to its end, without its rests.
func fullScan(tb testing.TB, r *run) {
	tb.Helper()
	ctx := context.Background()
	err := r.fullScan(ctx)
	for err == nil && r.scan != nil {
		err = r.continueScan(ctx)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

// cpuTime is the CPU time this process has used, or 0 where unknown.
var cpuTime = func() time.Duration { return 0 }

// BenchmarkRescan100k measures a full scan of 100,000 files in 100 folders,
// all offered already and unchanged: what a periodic rescan of an archive
// costs, per file. Rests are left out (see scanRest).
func BenchmarkRescan100k(b *testing.B) {
	root := b.TempDir()
	n := makeFolders(b, root, 100, 1000)
	r := scannedRun(b, root, Options{})
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		fullScan(b, r)
	}
	cpu = cpuTime() - cpu
	perScan := float64(n) * float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/perScan, "ns/file")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/perScan, "cpu-ns/file")
	}
	b.ReportMetric(testing.AllocsPerRun(3, func() { fullScan(b, r) })/float64(n), "allocs/file")
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkRemembered1M measures the memory of 1,000,000 files offered
// (1,000 folders of 1,000): the heap in use after a collection, per file.
func BenchmarkRemembered1M(b *testing.B) {
	w, err := New(Options{Name: "bench", Root: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 1000)
	for b.Loop() {
		before := heapInUse()
		r := w.newRun(nil)
		for i := range 1000 {
			d := r.dir(fmt.Sprintf("2024-%04d", i))
			for j := range names {
				names[j] = fmt.Sprintf("call-%04d-%06d.wav", i, j)
				_, fp := r.keys.of(names[j], int64(j), int64(i*j))
				d.files.add(r.keys.key(names[j]), fp)
			}
		}
		clear(names)
		after := heapInUse()
		b.ReportMetric(float64(after-before)/1e6, "bytes/file")
		runtime.KeepAlive(r)
	}
}

// BenchmarkTree scans the tree at $VELA_BENCH_TREE (say 1,000 folders of
// 1,000 files), first as at a start with every file new, then again with
// every file offered, rests included, and logs the wall and CPU times and
// the heap.
func BenchmarkTree(b *testing.B) {
	root := os.Getenv("VELA_BENCH_TREE")
	if root == "" {
		b.Skip("VELA_BENCH_TREE is not set")
	}
	heap := heapInUse()
	start, cpu := time.Now(), cpuTime()
	r := scannedRun(b, root, Options{})
	files := r.w.Stats().LastScanFiles
	b.Logf("first scan: %d files, %v wall, %v CPU; heap +%.1f MB, %.1f bytes/file", files, time.Since(start), cpuTime()-cpu,
		float64(heapInUse()-heap)/1e6, float64(heapInUse()-heap)/float64(files))
	ctx := context.Background()
	for b.Loop() {
		start, cpu := time.Now(), cpuTime()
		var rested time.Duration
		err := r.fullScan(ctx)
		for err == nil && r.scan != nil {
			t := time.Now()
			<-r.restT.C
			rested += time.Since(t)
			err = r.continueScan(ctx)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("rescan: %v wall (%v of it resting), %v CPU", time.Since(start), rested, cpuTime()-cpu)
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.Logf("heap in use %.1f MB, from the system %.1f MB", float64(m.HeapInuse)/1e6, float64(m.Sys)/1e6)

	// A restart on the tree, every file known already (Known answers at
	// once here; the store's answer costs more).
	r = nil
	start, cpu = time.Now(), cpuTime()
	r = scannedRun(b, root, Options{Settle: time.Minute, Known: func(string, int64, time.Time) bool { return true }})
	settling := 0
	for _, d := range r.dirs {
		settling += len(d.settling)
	}
	b.Logf("first scan with Known, without rests: %d known, %d settling, %d sent; %v wall, %v CPU; heap in use %.1f MB",
		r.w.Stats().Known, settling, r.w.Stats().Found, time.Since(start), cpuTime()-cpu, float64(heapInUse())/1e6)
	runtime.KeepAlive(r)
}
