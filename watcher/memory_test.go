package watcher

import (
	"math/rand/v2"
	"testing"
)

// TestOfferedSet drives an offered set and a plain map side by side with
// random operations: few keys, so that many records share one, and small
// sets, so that probes wrap around the end.
func TestOfferedSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		keys, fps  uint32
		ops        int
		sweepEvery int
	}{
		{"shared keys", 8, 4, 20000, 50},
		{"mostly distinct", 1 << 20, 1 << 20, 6000, 500},
		{"one key", 1, 64, 5000, 30},
		{"keys at the edges", 0, 8, 5000, 40}, // keys 1 and 2^32-1: home slots first and last
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, uint64(tc.keys)))
			key := func() uint32 {
				if tc.keys == 0 {
					return []uint32{1, 1<<32 - 1}[rng.IntN(2)]
				}
				return 1 + rng.Uint32N(tc.keys)
			}
			var s offered
			model := map[uint64]bool{} // record without mark -> marked
			for op := range tc.ops {
				k, fp := key(), rng.Uint32N(tc.fps)
				rec := record(k, fp)
				switch rng.IntN(10) {
				case 0, 1, 2, 3:
					if _, ok := model[rec]; !ok {
						s.add(k, fp)
						model[rec] = true
					}
				case 4, 5, 6:
					i := s.find(k, fp)
					if _, ok := model[rec]; ok != (i >= 0) {
						t.Fatalf("op %d: find(%d, %d) = %d, model has it: %v", op, k, fp, i, ok)
					}
					if i >= 0 {
						s.mark(i)
						model[rec] = true
					}
				case 7:
					want := 0
					for r := range model {
						if uint32(r>>32) == k {
							delete(model, r)
							want++
						}
					}
					if got := s.dropKey(k); got != want {
						t.Fatalf("op %d: dropKey(%d) = %d, want %d", op, k, got, want)
					}
				case 8:
					if op%tc.sweepEvery < 10 {
						want := 0
						for r, marked := range model {
							if !marked {
								delete(model, r)
								want++
							}
						}
						if got := s.sweep(); got != want {
							t.Fatalf("op %d: sweep() = %d, want %d", op, got, want)
						}
					}
				case 9:
					if op%tc.sweepEvery < 10 {
						s.startRead()
						for r := range model {
							model[r] = false
						}
					}
				}
				checkOffered(t, &s, model)
			}
		})
	}
}

// checkOffered compares s with model, record by record.
func checkOffered(t *testing.T, s *offered, model map[uint64]bool) {
	t.Helper()
	got, marked := 0, 0
	for _, rec := range s.slots {
		if rec == 0 {
			continue
		}
		got++
		m, ok := model[rec&^markBit]
		if !ok || m != (rec&markBit != 0) {
			t.Fatalf("set holds %#x, model has it: %v (marked %v)", rec, ok, m)
		}
		if rec&markBit != 0 {
			marked++
		}
		if s.find(uint32(rec>>32), uint32(rec>>1)&fpMask) < 0 {
			t.Fatalf("record %#x is in the set but find misses it", rec)
		}
	}
	if got != len(model) || s.n != got || s.seen != marked {
		t.Fatalf("set holds %d records (n %d, seen %d, marked %d), model %d", got, s.n, s.seen, marked, len(model))
	}
	if len(s.slots) > 0 && float64(s.n) > loadMax*float64(len(s.slots)) {
		t.Fatalf("%d records in %d slots: over the load limit", s.n, len(s.slots))
	}
}

// TestOfferedCompact checks the bytes a record costs as a set grows to a
// million, and after most of them go.
func TestOfferedCompact(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(2, 3))
	var s offered
	worst := 0.0
	for i := range 1_000_000 {
		s.add(1+rng.Uint32N(1<<32-1), rng.Uint32())
		if i >= 1000 {
			worst = max(worst, float64(8*len(s.slots))/float64(s.n))
		}
	}
	if limit := 8/loadNew + 0.1; worst > limit {
		t.Errorf("a record took up to %.1f bytes, want at most %.1f", worst, limit)
	}
	s.startRead()
	for i, rec := range s.slots {
		if rec != 0 && i%10 == 0 {
			s.mark(i)
		}
	}
	s.sweep()
	if per := float64(8*len(s.slots)) / float64(s.n); per > 8/loadNew+0.1 {
		t.Errorf("after a sweep left %d records, one takes %.1f bytes", s.n, per)
	}
}

// TestKeys checks that a record depends on the name and the version, and
// the key on the name alone.
func TestKeys(t *testing.T) {
	t.Parallel()
	ks := newKeys()
	k, fp := ks.of("call-0001.wav", 100, 1e18)
	tests := []struct {
		name        string
		size, mtime int64
		sameKey     bool
	}{
		{"call-0001.wav", 101, 1e18, true},
		{"call-0001.wav", 100, 1e18 + 1, true},
		{"call-0002.wav", 100, 1e18, false},
		{"Call-0001.wav", 100, 1e18, false},
	}
	for _, tc := range tests {
		k2, fp2 := ks.of(tc.name, tc.size, tc.mtime)
		if (k2 == k) != tc.sameKey || record(k2, fp2) == record(k, fp) {
			t.Errorf("of(%q, %d, %d) = %d, %d; of the first file %d, %d", tc.name, tc.size, tc.mtime, k2, fp2, k, fp)
		}
		if ks.key(tc.name) != k2 {
			t.Errorf("key(%q) = %d, of gives %d", tc.name, ks.key(tc.name), k2)
		}
	}
	if keyOf(0) == 0 || keyOf(1<<32-1) == 0 {
		t.Error("a key of 0, the empty slot")
	}
}
