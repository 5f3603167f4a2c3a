package store

import (
	"testing"
	"time"
)

func TestKnown(t *testing.T) {
	s := openTest(t, newClock())
	f := found("a/b.wav", 100)
	mustAdd(t, s, f)
	for _, tt := range []struct {
		name   string
		source string
		path   string
		size   int64
		mtime  time.Time
		want   bool
	}{
		{"the version added", f.Source, f.Path, f.Size, f.ModTime, true},
		{"another size", f.Source, f.Path, f.Size + 1, f.ModTime, false},
		{"another time", f.Source, f.Path, f.Size, f.ModTime.Add(time.Nanosecond), false},
		{"another path", f.Source, "a/c.wav", f.Size, f.ModTime, false},
		{"another source", "other", f.Path, f.Size, f.ModTime, false},
	} {
		if got, err := s.Known(tt.source, tt.path, tt.size, tt.mtime); err != nil || got != tt.want {
			t.Errorf("%s: Known = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	// A newer version is the one known; a pruned job's version stays known.
	g := f
	g.Size = 200
	mustAdd(t, s, g)
	if got, _ := s.Known(f.Source, f.Path, f.Size, f.ModTime); got {
		t.Error("the old version is still known after a newer one was added")
	}
	if got, _ := s.Known(g.Source, g.Path, g.Size, g.ModTime); !got {
		t.Error("the newer version is not known")
	}
}

func BenchmarkKnown(b *testing.B) {
	s := openTest(b, newClock())
	var fs []Found
	for i := range 10000 {
		fs = append(fs, found(time.Duration(i).String()+".wav", int64(i)))
	}
	mustAdd(b, s, fs...)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := fs[i%len(fs)]
		if ok, err := s.Known(f.Source, f.Path, f.Size, f.ModTime); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
