package bulk

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// writeBenchArchive writes a ZIP of n recordings of size bytes each to a
// file in dir: 16-bit PCM, a tone under noise, about as compressible as a
// call.
func writeBenchArchive(b *testing.B, dir string, method uint16, n, size int) (string, int64) {
	b.Helper()
	p := filepath.Join(dir, fmt.Sprintf("bulk-%d-%d.zip", method, n*size))
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := zip.NewWriter(bw)
	w.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	pcm := make([]byte, size)
	x := uint32(1)
	for i := range n {
		for j := 0; j+1 < len(pcm); j += 2 {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			s := int16(6000*math.Sin(float64(j)/40+float64(i))) + int16(x%512) - 256
			pcm[j], pcm[j+1] = byte(s), byte(s>>8)
		}
		fw, err := w.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("calls/call_%03d.wav", i), Method: method, Modified: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fw.Write(pcm); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p, fi.Size()
}

// heapPeak samples the heap until stop is called, and returns the most it
// held above what it held when heapPeak was called.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	base := s[0].Value.Uint64()
	done := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(s)
				peak = max(peak, s[0].Value.Uint64())
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, base) - base
	}
}

// BenchmarkOpenVerifyExtract opens a bulk ZIP of 100 recordings from a file,
// verifies it and extracts every entry to io.Discard. MB/s counts the
// archive once, though each op reads it twice.
func BenchmarkOpenVerifyExtract(b *testing.B) {
	benchArchives(b, func(b *testing.B, f *os.File, size int64) {
		ctx := context.Background()
		for b.Loop() {
			a, err := Open(f, size, Limits{})
			if err != nil {
				b.Fatal(err)
			}
			if err := a.Verify(ctx); err != nil {
				b.Fatal(err)
			}
			for _, e := range a.Entries() {
				if _, err := a.Extract(ctx, e.Index, io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkVerify is Verify alone: for Stored entries, a CRC-32 over the
// file read through one small buffer.
func BenchmarkVerify(b *testing.B) {
	benchArchives(b, func(b *testing.B, f *os.File, size int64) {
		a, err := Open(f, size, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := a.Verify(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchArchives runs bench on archives of 100 Deflate and 100 Stored
// recordings, 20 MB and 200 MB in all, reporting the heap's peak growth
// and the throughput per CPU second (which includes the heap sampler and
// the garbage collector).
func benchArchives(b *testing.B, bench func(b *testing.B, f *os.File, size int64)) {
	dir := b.TempDir()
	for _, m := range []struct {
		name   string
		method uint16
	}{{"deflate", zip.Deflate}, {"store", zip.Store}} {
		for _, total := range []int{20 << 20, 200 << 20} {
			p, size := writeBenchArchive(b, dir, m.method, 100, total/100)
			b.Run(fmt.Sprintf("%s/%dMB", m.name, total>>20), func(b *testing.B) {
				f, err := os.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				b.SetBytes(size)
				b.ReportAllocs()
				stop := heapPeak()
				cpu := cpuTime()
				bench(b, f, size)
				if cpu := cpuTime() - cpu; cpu > 0 {
					// Throughput per CPU second, which a busy machine
					// does not change as it does MB/s.
					b.ReportMetric(float64(size)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
				}
				b.ReportMetric(float64(stop()), "peak-heap-B")
				b.ReportMetric(float64(size), "archive-B")
			})
			os.Remove(p)
		}
	}
}
