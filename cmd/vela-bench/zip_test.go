package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vela-agent/vela-agent/agent/bulk"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

// TestWriteZip checks that the bench's ZIP is one the agent expands: bulk
// accepts and verifies it, it holds the manifest and every recording with
// the loose file's bytes, half of them stored and half deflated.
func TestWriteZip(t *testing.T) {
	for _, tc := range []struct {
		n    int
		size int64
	}{{1, 10_000}, {4, 3 << 20}, {9, 1000}} {
		dir := t.TempDir()
		if err := writeFiles(dir, tc.n, tc.size); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), zipName)
		recs, err := writeZip(path, dir, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != tc.n || recordingsSize(recs, tc.n) != int64(tc.n)*tc.size {
			t.Fatalf("%d files: %d recordings of %d bytes in all, want %d of %d each", tc.n, len(recs), recordingsSize(recs, tc.n), tc.n, tc.size)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		a, err := bulk.Open(f, fi.Size(), bulk.Defaults())
		if err != nil {
			t.Fatalf("%d files: bulk refuses the ZIP: %v", tc.n, err)
		}
		if err := a.Verify(context.Background()); err != nil {
			t.Fatalf("%d files: the ZIP does not verify: %v", tc.n, err)
		}
		zr, err := zip.NewReader(f, fi.Size())
		if err != nil {
			t.Fatal(err)
		}
		methods := map[string]uint16{}
		for _, zf := range zr.File {
			methods[zf.Name] = zf.Method
		}
		var recordings int
		for _, e := range a.Entries() {
			var buf bytes.Buffer
			if _, err := a.Extract(context.Background(), e.Index, &buf); err != nil {
				t.Fatalf("extract %s: %v", e.Name, err)
			}
			switch e.Kind {
			case bulk.Manifest:
				m, err := meta.ReadManifest(e.Name, &buf, meta.ManifestOptions{})
				if err != nil || m.Len() != tc.n || len(m.Problems) > 0 {
					t.Errorf("%d files: the manifest has %d rows, problems %q, %v", tc.n, m.Len(), m.Problems, err)
				}
			case bulk.Recording:
				recordings++
				want, err := os.ReadFile(filepath.Join(dir, e.Name))
				if err != nil {
					t.Fatalf("%s is not one of the loose files: %v", e.Name, err)
				}
				sum := sha256.Sum256(buf.Bytes())
				if !bytes.Equal(buf.Bytes(), want) || recs[e.Name].sum != hex.EncodeToString(sum[:]) || recs[e.Name].size != int64(buf.Len()) {
					t.Errorf("%s in the ZIP differs from the loose file or its sum", e.Name)
				}
				info, err := audio.Probe(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
				if err != nil || info.Format != audio.WAV {
					t.Errorf("%s: %+v, %v; want a WAV recording", e.Name, info, err)
				}
				var i int
				if _, err := fmt.Sscanf(e.Name, "call_%d.wav", &i); err != nil {
					t.Fatalf("%s: %v", e.Name, err)
				}
				method := zip.Store
				if i%2 == 0 {
					method = zip.Deflate
				}
				if methods[e.Name] != method {
					t.Errorf("%s: method %d, want %d", e.Name, methods[e.Name], method)
				}
			default:
				t.Errorf("%d files: unexpected entry %q (%v)", tc.n, e.Name, e.Kind)
			}
		}
		if recordings != tc.n || methods["metadata.csv"] != zip.Deflate {
			t.Errorf("%d files: %d recordings in the ZIP, manifest method %d", tc.n, recordings, methods["metadata.csv"])
		}
	}
}

// TestCheckSums uploads recordings to a real emulator and checks that
// checkSums passes them only with the right bytes, every one of them.
func TestCheckSums(t *testing.T) {
	srv, err := velatest.Start(velatest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const n = 3
	dir := t.TempDir()
	if err := writeFiles(dir, n, 2000); err != nil {
		t.Fatal(err)
	}
	recs, err := writeZip(filepath.Join(t.TempDir(), zipName), dir, n)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := newBareClient(srv.URL(), orgID, 1)
	if err := c.signIn(ctx, srv.RefreshToken()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		if _, err := c.upload(ctx, filepath.Join(dir, callName(i))); err != nil {
			t.Fatal(err)
		}
	}
	d := &devserver{api: strings.TrimPrefix(srv.URL(), "http://")}
	wrong := map[string]recording{}
	for name, r := range recs {
		wrong[name] = r
	}
	r := wrong[callName(2)]
	r.sum = strings.Repeat("0", 64)
	wrong[callName(2)] = r
	more := map[string]recording{callName(n + 1): {size: 2000, sum: strings.Repeat("1", 64)}}
	for name, r := range recs {
		more[name] = r
	}
	for _, tc := range []struct {
		name string
		n    int
		recs map[string]recording
		want string // in the error; "" = none
	}{
		{"right", n, recs, ""},
		{"a wrong sum", n, wrong, callName(2) + ": the object stored"},
		{"one more wanted", n + 1, more, "want 4 of each"},
		{"fewer wanted", n - 1, recs, "want 2 of each"},
	} {
		err := d.checkSums(tc.n, tc.recs)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: checkSums = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestCopyHashed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := []byte("vela-bench")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	size, sum, err := copyHashed(&out, path)
	want := sha256.Sum256(data)
	if err != nil || size != int64(len(data)) || sum != hex.EncodeToString(want[:]) || out.String() != string(data) {
		t.Errorf("copyHashed = %d, %s, %v, copied %q", size, sum, err, out.String())
	}
	if _, _, err := copyHashed(io.Discard, path+".missing"); err == nil {
		t.Errorf("copyHashed of a missing file succeeded")
	}
}
