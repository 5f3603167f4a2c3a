package store

import (
	"fmt"
	"time"
)

// fillBatch is how many jobs Fill writes per transaction.
const fillBatch = 25_000

// Fill adds n Queued call jobs of the given source to the state file at
// path, creating the file when missing. It is for benchmarks and tests: it
// writes in large transactions without fsync and syncs once at the end, so
// a crash during Fill can leave a damaged file.
//
// The jobs are the files fill/000000000.wav, fill/000000001.wav... with
// sizes and times derived from their number; calling Fill again for the
// same source adds only the numbers it has not seen.
func Fill(path string, n int, source string) (err error) {
	s, err := Open(path, Options{})
	if err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	defer func() {
		if cerr := s.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("fill: %w", cerr)
		}
	}()
	s.db.NoSync = true
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	found := make([]Found, 0, min(n, fillBatch))
	for i := 0; i < n; {
		found = found[:0]
		for ; i < n && len(found) < fillBatch; i++ {
			found = append(found, Found{
				Source:  source,
				Path:    fmt.Sprintf("fill/%09d.wav", i),
				Size:    1<<20 + int64(i),
				ModTime: base.Add(time.Duration(i) * time.Second),
				Kind:    Call,
			})
		}
		if _, err := s.Add(found); err != nil {
			return fmt.Errorf("fill: %w", err)
		}
	}
	s.db.NoSync = false
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("fill: sync %s: %w", path, err)
	}
	return nil
}
