package watcher

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
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
