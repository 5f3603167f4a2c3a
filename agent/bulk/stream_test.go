package bulk

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func TestOpenReadsEachEntryChecked(t *testing.T) {
	files := []file{
		{name: "stored.wav", method: zip.Store, body: text(300_000, 1)},
		{name: "deflated.wav", method: zip.Deflate, body: text(300_000, 2)},
		{name: "small.wav", method: zip.Deflate, body: text(10, 3)},
	}
	a := mustOpen(t, build(t, files...), Limits{})
	for _, e := range a.Entries() {
		rc, err := a.Open(e.Index)
		if err != nil {
			t.Fatalf("Open %s: %v", e.Name, err)
		}
		got, err := io.ReadAll(iotestHalf{rc})
		if err != nil || !bytes.Equal(got, files[e.Index].body) {
			t.Errorf("Open %s: %d bytes, %v; want the original %d", e.Name, len(got), err, e.Size)
		}
		if n, err := rc.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("Open %s: read after the end = %d, %v", e.Name, n, err)
		}
		if err := rc.Close(); err != nil {
			t.Error(err)
		}
	}
	if _, err := a.Open(len(files)); err == nil {
		t.Error("Open out of range succeeded")
	}
}

// iotestHalf reads through r in reads of at most 7,777 bytes, so that the
// last bytes come in a read of their own.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) { return h.r.Read(p[:min(len(p), 7777)]) }

func TestOpenNeverGivesABadEntryWhole(t *testing.T) {
	body := text(200_000, 4)
	for _, method := range []uint16{zip.Store, zip.Deflate} {
		// The headers say another CRC-32 than the data has.
		a := mustOpen(t, build(t, rawFile(t, "a.wav", method, body, func(fh *zip.FileHeader, _ *[]byte) { fh.CRC32 ^= 1 })), Limits{})
		rc, err := a.Open(0)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		_, err = io.Copy(&got, iotestHalf{rc})
		var ref *Refused
		if !errors.As(err, &ref) || got.Len() >= len(body) {
			t.Errorf("method %d: read %d of %d bytes, %v; want a refusal before the last byte", method, got.Len(), len(body), err)
		}
		if _, again := rc.Read(make([]byte, 1)); again != err {
			t.Errorf("method %d: the error is not sticky: %v then %v", method, err, again)
		}
		rc.Close()
	}
}

func TestReaderAt(t *testing.T) {
	files := []file{
		{name: "stored.wav", method: zip.Store, body: text(400_000, 5)},
		{name: "deflated.wav", method: zip.Deflate, body: text(400_000, 6)},
	}
	a := mustOpen(t, build(t, files...), Limits{})
	rng := rand.New(rand.NewPCG(1, 2))
	for _, e := range a.Entries() {
		body := files[e.Index].body
		ra, err := a.ReaderAt(e.Index)
		if err != nil {
			t.Fatal(err)
		}
		// Forward, backward, across the end and past it.
		offs := []int64{0, 10, 5, 300_000, 12, int64(len(body)) - 3, int64(len(body)), int64(len(body)) + 9}
		for range 20 {
			offs = append(offs, rng.Int64N(int64(len(body))))
		}
		for _, off := range offs {
			p := make([]byte, 1000)
			n, err := ra.ReadAt(p, off)
			want := body[min(off, int64(len(body))):min(off+1000, int64(len(body)))]
			if n != len(want) || !bytes.Equal(p[:n], want) {
				t.Fatalf("%s: ReadAt(%d) = %d bytes, want %d", e.Name, off, n, len(want))
			}
			if (n < len(p)) != (err == io.EOF) {
				t.Fatalf("%s: ReadAt(%d) = %d, %v", e.Name, off, n, err)
			}
		}
		if err := ra.Close(); err != nil {
			t.Error(err)
		}
	}
}
