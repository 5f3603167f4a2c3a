package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// writeFiles writes n files of size bytes into dir, named
// call_000001.wav and so on. Their content is one random MiB repeated, with
// a WAV header and each file's number at its start so that each is a
// recording and no two are alike: quick to write, and not sparse.
func writeFiles(dir string, n int, size int64) error {
	block := make([]byte, 1<<20)
	if _, err := rand.Read(block); err != nil {
		return err
	}
	first := make([]byte, len(block))
	for i := 1; i <= n; i++ {
		copy(first, block)
		copy(first, audiotest.Header(size))
		copy(first[audiotest.HeaderLen:], fmt.Sprintf("vela-bench file %06d\n", i))
		if err := writeRepeated(filepath.Join(dir, fmt.Sprintf("call_%06d.wav", i)), size, first, block); err != nil {
			return err
		}
	}
	return nil
}

// writeRepeated writes size bytes to a new file: first, then block again
// and again, the last one cut short.
func writeRepeated(path string, size int64, first, block []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	for off, chunk := int64(0), first; off < size; off, chunk = off+int64(len(chunk)), block {
		if left := size - off; left < int64(len(chunk)) {
			chunk = chunk[:left]
		}
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// writeTree writes n small files spread evenly over dirs folders under
// root: root/d0000/call_0000001.wav and so on.
func writeTree(root string, n, dirs int) error {
	dirs = min(dirs, n)
	return eachFolder(dirs, max(runtime.NumCPU(), 2), func(d int) error { return writeFolder(root, d, n, dirs) })
}

// eachFolder runs write for each folder number below dirs, workers at a
// time, and returns the first error.
func eachFolder(dirs, workers int, write func(d int) error) error {
	work := make(chan int)
	errs := make(chan error, dirs)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range work {
				errs <- write(d)
			}
		}()
	}
	for d := 0; d < dirs; d++ {
		work <- d
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// writeFolder writes folder d's share of writeTree's files: the files whose
// number modulo dirs is d.
func writeFolder(root string, d, n, dirs int) error {
	dir := filepath.Join(root, fmt.Sprintf("d%04d", d))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := d; i < n; i += dirs {
		data := audiotest.Stamp(fmt.Appendf(make([]byte, audiotest.HeaderLen), "vela-bench discovery file %07d\n", i))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("call_%07d.wav", i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// walkTree counts the regular files under root the cheapest way there is:
// os.ReadDir of every folder and Info of every entry, as a watcher must.
func walkTree(root string) (int, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			m, err := walkTree(filepath.Join(root, e.Name()))
			if err != nil {
				return 0, err
			}
			n += m
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return 0, err
		}
		if fi.Mode().IsRegular() {
			n++
		}
	}
	return n, nil
}
