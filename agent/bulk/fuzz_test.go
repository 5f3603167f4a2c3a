package bulk

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"runtime/metrics"
	"testing"
)

// allocated returns the bytes the heap allocated while f ran.
func allocated(f func()) uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	before := s[0].Value.Uint64()
	f()
	metrics.Read(s)
	return s[0].Value.Uint64() - before
}

// verifyAllocCap is the most Verify may allocate on any input (its
// streamer, the section readers of a few hundred entries).
const verifyAllocCap = 1 << 20

func FuzzOpen(f *testing.F) {
	f.Add(build(f, smallGoodFiles(f, true)...))
	f.Add(build(f, file{name: "a.wav", body: []byte("RIFF")}, file{name: "b/metadata.csv", method: zip.Deflate, body: []byte("\ufefffilename\n")}))
	f.Add(overlapBomb(2))
	f.Add(handZip64(f))
	f.Add(handZip64As(f, false, 0))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	for _, tt := range hostileCases() {
		if tt.setup != nil || tt.name == "real ratio 1030:1" {
			continue // too big for a seed
		}
		f.Add(tt.zip(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Open(bytes.NewReader(b), int64(len(b)), Limits{})
		if err != nil {
			var ref *Refused
			if !errors.As(err, &ref) {
				t.Fatalf("Open of bytes failed with %v (%T), not a refusal", err, err)
			}
			if a != nil {
				t.Fatal("Open refused and returned an archive")
			}
			return
		}
		es := a.Entries()
		var verr error
		if n := allocated(func() { verr = a.Verify(context.Background()) }); n > verifyAllocCap {
			t.Fatalf("Verify allocated %d bytes", n)
		}
		if verr != nil {
			var ref *Refused
			if !errors.As(verr, &ref) {
				t.Fatalf("Verify of bytes failed with %v, not a refusal", verr)
			}
		}
		for _, e := range es {
			n, err := a.Extract(context.Background(), e.Index, io.Discard)
			if n > e.Size {
				t.Fatalf("Extract %q wrote %d bytes of %d", e.Name, n, e.Size)
			}
			if verr == nil && (err != nil || n != e.Size) {
				t.Fatalf("Verify passed but Extract %q = %d of %d, %v", e.Name, n, e.Size, err)
			}
			if err != nil && n >= e.Size && e.Size > 0 {
				t.Fatalf("Extract %q gave all %d bytes of a bad entry", e.Name, n)
			}
			// Open's reader and ReaderAt agree with Extract.
			var want, got bytes.Buffer
			_, xerr := a.Extract(context.Background(), e.Index, &want)
			rc, err := a.Open(e.Index)
			if err != nil {
				t.Fatalf("Open %q: %v", e.Name, err)
			}
			_, rerr := io.Copy(&got, rc)
			rc.Close()
			if (xerr == nil) != (rerr == nil) || !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("Open %q read %d bytes, %v; Extract %d, %v", e.Name, got.Len(), rerr, want.Len(), xerr)
			}
			ra, err := a.ReaderAt(e.Index)
			if err != nil {
				t.Fatalf("ReaderAt %q: %v", e.Name, err)
			}
			p := make([]byte, 64)
			k, err := ra.ReadAt(p, 3)
			ra.Close()
			if xerr == nil && (int64(k) != min(64, max(e.Size-3, 0)) || k > 0 && !bytes.Equal(p[:k], want.Bytes()[3:3+k])) {
				t.Fatalf("ReaderAt %q at 3 = %d bytes, %v, not what Extract gave", e.Name, k, err)
			}
		}
	})
}
