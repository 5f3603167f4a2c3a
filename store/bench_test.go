package store

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// addBatch is the size of a watcher's rescan batch in the benchmarks.
const addBatch = 2000

// BenchmarkAdd measures adding new files, per file, in batches of addBatch
// committed (and fsynced) one transaction each.
func BenchmarkAdd(b *testing.B) {
	s, err := Open(testPath(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	pending := make([]Found, 0, addBatch)
	mtime := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		pending = append(pending, Found{
			Source:  "recordings",
			Path:    "2025/03/agent_" + strconv.Itoa(i) + ".wav",
			Size:    int64(i),
			ModTime: mtime,
		})
		i++
		if len(pending) == addBatch {
			if _, err := s.Add(pending); err != nil {
				b.Fatal(err)
			}
			pending = pending[:0]
		}
	}
}

// BenchmarkClaimRelease measures a worker's round trip: claim a due job and
// release it due again, one worker and eight at once.
func BenchmarkClaimRelease(b *testing.B) {
	for _, bc := range []struct {
		name    string
		workers int
	}{{"1worker", 1}, {"8workers", 8}} {
		b.Run(bc.name, func(b *testing.B) {
			path := testPath(b)
			if err := Fill(path, 10_000, "recordings"); err != nil {
				b.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetParallelism(bc.workers)
			round := func() {
				j, err := s.Claim(LaneCalls)
				if err != nil || j == nil {
					b.Fatalf("Claim() = %v, %v", j, err)
				}
				j.Attempts++
				j.NextAttempt = time.Now()
				if err := s.Release(j); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			if bc.workers == 1 {
				for b.Loop() {
					round()
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					round()
				}
			})
		})
	}
}

// BenchmarkOpen1M measures what the agent does at start-up on a state file
// of a million jobs: Open, Counts and the first Claim. Filling the file
// takes a few seconds, once.
func BenchmarkOpen1M(b *testing.B) {
	if testing.Short() {
		b.Skip("fills a state file of a million jobs")
	}
	path := filepath.Join(b.TempDir(), "queue.db")
	start := time.Now()
	if err := Fill(path, 1_000_000, "recordings"); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("filled 1M jobs in %v: %.0f MB", time.Since(start).Round(time.Millisecond), float64(fi.Size())/1e6)
	b.ReportMetric(float64(fi.Size())/1e6, "MB")
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		counts, err := s.Counts()
		if err != nil || counts[Queued] != 1_000_000 {
			b.Fatalf("Counts() = %v, %v", counts, err)
		}
		if j, err := s.Claim(LaneCalls); err != nil || j == nil {
			b.Fatalf("Claim() = %v, %v", j, err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpand measures expanding a ZIP of 1,000 recordings, one
// transaction per ZIP, and the ChildrenLeft that follows a child's end.
func BenchmarkExpand(b *testing.B) {
	const children = 1000
	s, err := Open(testPath(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	mtime := time.Now()
	recs := make([]Found, children)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		zip := "2025/03/bulk_" + strconv.Itoa(i) + ".zip"
		if _, err := s.Add([]Found{{Source: "recordings", Path: zip, Size: 1 << 30, ModTime: mtime, Kind: Zip}}); err != nil {
			b.Fatal(err)
		}
		parent, err := s.Latest("recordings", zip)
		if err != nil {
			b.Fatal(err)
		}
		for k := range recs {
			recs[k] = Found{Source: "recordings", Path: zip + "/rec_" + strconv.Itoa(k) + ".wav", Size: int64(k), ModTime: mtime}
		}
		if n, err := s.Expand(parent.ID, recs); err != nil || n != children {
			b.Fatalf("Expand = %d, %v", n, err)
		}
		if n, err := s.ChildrenLeft(parent.ID); err != nil || n != children {
			b.Fatalf("ChildrenLeft = %d, %v", n, err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*children), "ns/child")
}
