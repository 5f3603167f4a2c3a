package bulk

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func open(t testing.TB, b []byte, lim Limits) (*Archive, error) {
	t.Helper()
	return Open(bytes.NewReader(b), int64(len(b)), lim)
}

func mustOpen(t testing.TB, b []byte, lim Limits) *Archive {
	t.Helper()
	a, err := open(t, b, lim)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return a
}

func TestGoodArchive(t *testing.T) {
	files := goodFiles(t)
	b := build(t, files...)
	a := mustOpen(t, b, Limits{})
	exact := time.Date(2025, 1, 15, 8, 30, 4, 0, time.UTC)
	want := []Entry{
		{Index: 1, Name: "batch/metadata.csv", Base: "metadata.csv", Kind: Manifest, Size: int64(len(files[1].body)), Modified: exact, ModifiedExact: true},
		{Index: 2, Name: "batch/Call_001.WAV", Base: "Call_001.WAV", Kind: Recording, Size: 3016, Modified: exact, ModifiedExact: true},
		{Index: 3, Name: "batch/call_002.mp3", Base: "call_002.mp3", Kind: Recording, Size: 5000, Modified: time.Date(2024, 12, 31, 23, 59, 58, 0, time.UTC)},
		{Index: 5, Name: "batch/sub/call_003.m4a", Base: "call_003.m4a", Kind: Recording, Size: 70000, Modified: exact, ModifiedExact: true},
		{Index: 6, Name: "batch/sub/Call_004.Flac", Base: "Call_004.Flac", Kind: Recording, Size: 1000, Modified: exact, ModifiedExact: true},
		{Index: 7, Name: "batch/notes.txt", Base: "notes.txt", Kind: Other, Size: 17, Modified: exact, ModifiedExact: true, Skip: "not audio"},
		{Index: 8, Name: "batch/empty.wav", Base: "empty.wav", Kind: Recording, Modified: exact, ModifiedExact: true, Skip: "zero-length recording"},
		{Index: 9, Name: "batch/inner.zip", Base: "inner.zip", Kind: Other, Size: int64(len(files[9].body)), Modified: exact, ModifiedExact: true, Skip: "nested ZIP is not expanded"},
		{Index: 10, Name: "batch/sub/metadata.csv", Base: "metadata.csv", Kind: Other, Size: 9, Modified: exact, ModifiedExact: true, Skip: "metadata.csv below the top folder is not read"},
		{Index: 11, Name: "__MACOSX/batch/._Call_001.WAV", Base: "._Call_001.WAV", Kind: Recording, Size: 4, Modified: exact, ModifiedExact: true, Skip: "macOS resource fork, not a recording"},
	}
	got := a.Entries()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Modified.Location() != time.UTC {
			t.Errorf("%s: Modified in %v, want UTC", g.Name, g.Modified.Location())
		}
		if !g.Modified.Equal(w.Modified) || g.Modified.Location() != time.UTC {
			t.Errorf("%s: Modified %v, want %v", g.Name, g.Modified, w.Modified)
		}
		g.Modified, w.Modified = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if err := a.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, e := range got {
		var buf bytes.Buffer
		n, err := a.Extract(context.Background(), e.Index, &buf)
		if err != nil {
			t.Fatalf("Extract %s: %v", e.Name, err)
		}
		if n != e.Size || !bytes.Equal(buf.Bytes(), files[e.Index].body) {
			t.Errorf("Extract %s: %d bytes, want %d and the original", e.Name, n, e.Size)
		}
	}
	// The manifest keeps its byte-order mark: the reader of the CSV strips it.
	var csv bytes.Buffer
	if _, err := a.Extract(context.Background(), 1, &csv); err != nil || !strings.HasPrefix(csv.String(), "\ufefffilename,") {
		t.Errorf("manifest = %q, %v; want it with its BOM", csv.String(), err)
	}
	// A folder extracts to nothing; an index out of range is an error.
	if n, err := a.Extract(context.Background(), 0, io.Discard); n != 0 || err != nil {
		t.Errorf("Extract(folder) = %d, %v", n, err)
	}
	for _, i := range []int{-1, 12} {
		if _, err := a.Extract(context.Background(), i, io.Discard); err == nil {
			t.Errorf("Extract(%d) succeeded", i)
		}
	}
	// Entries is the caller's own.
	got[0].Name = "changed"
	if a.Entries()[0].Name != "batch/metadata.csv" {
		t.Error("Entries shares its slice")
	}
}

func TestKinds(t *testing.T) {
	tests := []struct {
		names []string
		want  []EntryKind
	}{
		{[]string{"metadata.csv", "a.wav", "b/c.MP3"}, []EntryKind{Manifest, Recording, Recording}},
		{[]string{"METADATA.CSV", "x.M4A", "y.FlAc", "z.wav.txt"}, []EntryKind{Manifest, Recording, Recording, Other}},
		{[]string{"b/metadata.csv", "b/a.wav", "b/c/d.wav"}, []EntryKind{Manifest, Recording, Recording}},
		// Two top folders: no manifest in either.
		{[]string{"b/metadata.csv", "c/a.wav"}, []EntryKind{Other, Recording}},
		// A file at the top: b is not the single top folder.
		{[]string{"b/metadata.csv", "a.wav"}, []EntryKind{Other, Recording}},
		// The Finder's additions do not count.
		{[]string{"b/metadata.csv", ".DS_Store", "__MACOSX/b/._a.wav", "b/a.wav"}, []EntryKind{Manifest, Other, Recording, Recording}},
		{[]string{"b/c/metadata.csv", "b/a.wav"}, []EntryKind{Other, Recording}},
		{[]string{"my metadata.csv", "metadata.csv.bak"}, []EntryKind{Other, Other}},
	}
	for _, tt := range tests {
		var files []file
		for _, n := range tt.names {
			files = append(files, file{name: n, body: []byte("x")})
		}
		a := mustOpen(t, build(t, files...), Limits{})
		for i, e := range a.Entries() {
			if e.Kind != tt.want[i] {
				t.Errorf("%v: %s is kind %d, want %d", tt.names, e.Name, e.Kind, tt.want[i])
			}
		}
	}
}

// TestSkipOne: one bad entry among good ones is skipped alone.
func TestSkipOne(t *testing.T) {
	for _, bad := range []file{
		{name: "calls/b.wav"},
		{name: "calls/readme.txt", body: []byte("hello")},
	} {
		files := []file{
			{name: "calls/a.wav", body: text(100, 1)},
			bad,
			{name: "calls/c.WAV", method: zip.Deflate, body: text(100, 2)},
		}
		a := mustOpen(t, build(t, files...), Limits{})
		for _, e := range a.Entries() {
			if (e.Skip != "") != (e.Name == bad.name) {
				t.Errorf("%s: Skip %q", e.Name, e.Skip)
			}
		}
		if err := a.Verify(context.Background()); err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
}

func TestRecordingTooLarge(t *testing.T) {
	old := maxRecording
	maxRecording = 100
	t.Cleanup(func() { maxRecording = old })
	a := mustOpen(t, build(t, file{name: "a.wav", body: text(101, 1)}, file{name: "b.wav", body: text(100, 1)}), Limits{})
	es := a.Entries()
	if !strings.Contains(es[0].Skip, "over the 1 GB") || es[1].Skip != "" {
		t.Errorf("Skip = %q, %q", es[0].Skip, es[1].Skip)
	}
}

// hostile is an archive Open must refuse.
type hostile struct {
	name   string
	zip    func(t testing.TB) []byte
	lim    Limits
	setup  func(t *testing.T)
	entry  string // Refused.Entry
	reason string // in Refused.Reason
}

func hostileCases() []hostile {
	good := func(t testing.TB) []byte { return build(t, smallGoodFiles(t, true)...) }
	one := func(name string) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			return build(t, file{name: "ok.wav", body: []byte("RIFF")}, file{name: name, body: []byte("x")})
		}
	}
	pair := func(a, b string) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			return build(t, file{name: a, body: []byte("1")}, file{name: b, body: []byte("2")})
		}
	}
	withMode := func(mode fs.FileMode) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			return build(t, file{name: "a.wav", body: []byte("x")}, file{name: "link.wav", body: []byte("/etc/passwd"), mode: mode})
		}
	}
	method := func(m uint16) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			return build(t, rawFile(t, "a.wav", zip.Store, text(200, 1), nil), rawFile(t, "b.wav", zip.Store, text(200, 2), func(fh *zip.FileHeader, _ *[]byte) {
				fh.Method = m
				fh.UncompressedSize64 *= 2
			}))
		}
	}
	// stored is a ZIP of two Stored entries whose local headers carry the sizes.
	stored := func(t testing.TB) []file {
		return []file{rawFile(t, "a.wav", zip.Store, text(200, 1), nil), rawFile(t, "call.wav", zip.Store, text(300, 2), nil)}
	}
	patchLocal := func(at int, v uint32, width int) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				h := local(t, b, "call.wav")
				if width == 2 {
					put16(b, h+at, uint16(v))
				} else {
					put32(b, h+at, le32(b[h+at:])+v)
				}
				return b
			})
		}
	}
	// streamed is a ZIP whose entries have data descriptors.
	streamed := func(t testing.TB) []file {
		return []file{{name: "a.wav", method: zip.Deflate, body: text(2000, 1)}, {name: "b.wav", method: zip.Deflate, body: text(3000, 2)}}
	}
	aes := func(m uint16) func(t testing.TB) []byte {
		return func(t testing.TB) []byte {
			return build(t, rawFile(t, "secret.wav", zip.Store, text(100, 1), func(fh *zip.FileHeader, _ *[]byte) {
				fh.Method = m
				fh.Extra = []byte{0x01, 0x99, 7, 0, 2, 0, 'A', 'E', 3, 8, 0}
			}))
		}
	}
	cases := []hostile{
		{name: "over MaxArchive", zip: good, lim: Limits{MaxArchive: 1000}, reason: "over the limit of 1000"},
		{name: "not a ZIP", zip: func(testing.TB) []byte { return []byte("RIFF....WAVEfmt this is a recording, not a zip") }, reason: "archive is truncated or not a ZIP"},
		{name: "empty file", zip: func(testing.TB) []byte { return nil }, reason: "archive is truncated or not a ZIP"},
		{name: "end record only, garbage directory", zip: func(testing.TB) []byte { return append(text(100, 3), endRecords(3, 100, 0, false)...) }, reason: "archive is truncated or not a ZIP"},

		{name: "dot-dot", zip: one("../../etc/passwd"), entry: "../../etc/passwd", reason: "name escapes the archive"},
		{name: "dot-dot inside", zip: one("calls/../../x.wav"), entry: "calls/../../x.wav", reason: "name escapes the archive"},
		{name: "dot-dot at the end", zip: one("calls/.."), entry: "calls/..", reason: "name escapes the archive"},
		{name: "absolute", zip: one("/etc/passwd"), entry: "/etc/passwd", reason: "name is absolute"},
		{name: "UNC", zip: one("//server/share/x.wav"), entry: "//server/share/x.wav", reason: "name is absolute"},
		{name: "drive letter", zip: one("C:/Windows/x.wav"), entry: "C:/Windows/x.wav", reason: "drive letter"},
		{name: "drive relative", zip: one("d:x.wav"), entry: "d:x.wav", reason: "drive letter"},
		{name: "backslash", zip: one(`calls\..\..\x.wav`), entry: `calls\..\..\x.wav`, reason: "backslash"},
		{name: "NUL", zip: one("a.wav\x00.txt"), entry: "a.wav\x00.txt", reason: "NUL"},
		{name: "control", zip: one("a\tb.wav"), entry: "a\tb.wav", reason: "control character"},
		{name: "newline", zip: one("a\nb.wav"), entry: "a\nb.wav", reason: "control character"},
		{name: "C1 control", zip: one("a\u0085b.wav"), entry: "a\u0085b.wav", reason: "control character"},
		{name: "DEL", zip: one("a\x7fb.wav"), entry: "a\x7fb.wav", reason: "control character"},
		{name: "empty name", zip: one(""), entry: "", reason: "an entry's name is empty"},
		{name: "no file name", zip: one("calls/."), entry: "calls/.", reason: "no file name"},

		{name: "case collision", zip: pair("call.wav", "CALL.WAV"), entry: "CALL.WAV", reason: `equals that of entry "call.wav" ignoring case`},
		{name: "case collision in folder", zip: pair("Batch/a.wav", "batch/A.wav"), entry: "batch/A.wav", reason: "ignoring case"},
		{name: "duplicate", zip: pair("a.wav", "a.wav"), entry: "a.wav", reason: "ignoring case"},
		{name: "unicode fold", zip: pair("s.wav", "\u017f.wav"), entry: "\u017f.wav", reason: "ignoring case"},
		{name: "same after cleaning", zip: pair("calls/a.wav", "calls//./a.wav"), entry: "calls//./a.wav", reason: "ignoring case"},
		{name: "file then folder", zip: pair("x", "X/a.wav"), entry: "X/a.wav", reason: `folder that is the file "x"`},
		{name: "folder then file", zip: pair("x/a.wav", "X"), entry: "X", reason: `also the folder of entry "x/a.wav"`},
		{name: "deep file then folder", zip: pair("a/b.wav", "A/B.WAV/c.wav"), entry: "A/B.WAV/c.wav", reason: "folder that is the file"},

		{name: "symlink", zip: withMode(fs.ModeSymlink | 0o777), entry: "link.wav", reason: "symbolic link"},
		{name: "named pipe", zip: withMode(fs.ModeNamedPipe | 0o644), entry: "link.wav", reason: "named pipe"},
		{name: "device", zip: withMode(fs.ModeDevice | 0o644), entry: "link.wav", reason: "device"},
		{name: "char device", zip: withMode(fs.ModeDevice | fs.ModeCharDevice | 0o644), entry: "link.wav", reason: "character device"},
		{name: "socket", zip: withMode(fs.ModeSocket | 0o644), entry: "link.wav", reason: "socket"},
		{name: "symlinked folder", zip: func(t testing.TB) []byte {
			return build(t, file{name: "dir/", mode: fs.ModeSymlink | 0o777})
		}, entry: "dir/", reason: "symbolic link"},

		{name: "encrypted", zip: func(t testing.TB) []byte {
			return build(t, file{name: "a.wav", body: []byte("x")}, file{name: "secret.wav", body: text(100, 1), flags: flagEncrypted})
		}, entry: "secret.wav", reason: "is encrypted"},
		{name: "strong encryption", zip: func(t testing.TB) []byte {
			return build(t, file{name: "secret.wav", body: text(100, 1), flags: flagStrong})
		}, entry: "secret.wav", reason: "is encrypted"},
		{name: "AES", zip: aes(99), entry: "secret.wav", reason: "is encrypted"},
		{name: "AES extra with Store", zip: aes(zip.Store), entry: "secret.wav", reason: "encrypted (AES)"},
		{name: "encrypted in local header only", zip: patchLocal(6, flagEncrypted, 2), entry: "call.wav", reason: "is encrypted"},

		{name: "Deflate64", zip: method(9), entry: "b.wav", reason: "method Deflate64 (9) is not supported"},
		{name: "BZip2", zip: method(12), entry: "b.wav", reason: "BZip2 (12)"},
		{name: "LZMA", zip: method(14), entry: "b.wav", reason: "LZMA (14)"},
		{name: "Zstandard", zip: method(93), entry: "b.wav", reason: "Zstandard (93)"},
		{name: "XZ", zip: method(95), entry: "b.wav", reason: "XZ (95)"},
		{name: "PPMd", zip: method(98), entry: "b.wav", reason: "PPMd (98)"},
		{name: "unknown method", zip: method(77), entry: "b.wav", reason: "method 77 is not supported"},

		{name: "local name", zip: func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				b[local(t, b, "call.wav")+localLen] = 'k'
				return b
			})
		}, entry: "call.wav", reason: `local header disagrees with the central directory: name "kall.wav"`},
		{name: "local method", zip: patchLocal(8, uint32(zip.Deflate), 2), entry: "call.wav", reason: "local header disagrees with the central directory: method 8, not 0"},
		{name: "local compressed size", zip: patchLocal(18, 1, 4), entry: "call.wav", reason: "disagrees with the central directory: sizes 301 and 300"},
		{name: "local size", zip: patchLocal(22, 1, 4), entry: "call.wav", reason: "sizes 300 and 301, not 300 and 300"},
		{name: "local CRC-32", zip: patchLocal(14, 1, 4), entry: "call.wav", reason: "CRC-32"},
		{name: "local descriptor flag", zip: func(t testing.TB) []byte {
			return patched(t, streamed(t), func(b []byte) []byte {
				h := local(t, b, "b.wav")
				put16(b, h+6, le16(b[h+6:])&^flagDescriptor)
				return b
			})
		}, entry: "b.wav", reason: "data descriptor flag"},
		{name: "no local header", zip: patchLocal(0, 1, 4), entry: "call.wav", reason: "no local header"},
		{name: "data descriptor CRC-32", zip: func(t testing.TB) []byte {
			return patched(t, streamed(t), func(b []byte) []byte {
				d := descriptorAt(t, b, local(t, b, "b.wav"))
				put32(b, d+4, 12345)
				return b
			})
		}, entry: "b.wav", reason: "data descriptor disagrees with the central directory"},

		{name: "overlapping entries (bomb)", zip: func(testing.TB) []byte { return overlapBomb(3) }, entry: "b.wav", reason: `data overlaps entry "a.wav"`},
		{name: "two entries, one local header", zip: func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				put32(b, central(t, b, "call.wav")+42, 0)
				return b
			})
		}, entry: "call.wav", reason: `data overlaps entry "a.wav"`},
		{name: "data into the central directory", zip: func(t testing.TB) []byte {
			return patched(t, streamed(t), func(b []byte) []byte {
				c := central(t, b, "b.wav")
				put32(b, c+20, le32(b[c+20:])+40)
				return b
			})
		}, entry: "b.wav", reason: "data overlaps the central directory"},
		{name: "data outside the file", zip: func(t testing.TB) []byte {
			return patched(t, streamed(t), func(b []byte) []byte {
				c := central(t, b, "b.wav")
				put32(b, c+20, le32(b[c+20:])+1000)
				return b
			})
		}, entry: "b.wav", reason: "data lies outside the file"},
		{name: "local header outside the file", zip: func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				put32(b, central(t, b, "call.wav")+42, 0x7ffffff0)
				return b
			})
		}, entry: "call.wav", reason: "data lies outside the file"},
		{name: "local header in the central directory", zip: func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				c := central(t, b, "call.wav")
				put32(b, c+42, uint32(central(t, b, "a.wav")))
				return b
			})
		}, entry: "call.wav", reason: "overlaps the central directory"},

		{name: "declared total", zip: func(t testing.TB) []byte {
			return build(t, file{name: "a.wav", body: text(600, 1)}, file{name: "b.wav", body: text(600, 2)})
		}, lim: Limits{MaxTotal: 1000}, reason: "over the limit of 1000"},
		{name: "declared ratio 2000:1", zip: func(t testing.TB) []byte {
			return build(t, rawFile(t, "bomb.wav", zip.Deflate, make([]byte, 1<<16), func(fh *zip.FileHeader, stored *[]byte) {
				fh.UncompressedSize64 = 2000 * uint64(len(*stored))
			}))
		}, entry: "bomb.wav", reason: "declares a ratio of 2000:1"},
		{name: "real ratio 1030:1", zip: func(t testing.TB) []byte {
			return build(t, file{name: "silence.wav", method: zip.Deflate, body: make([]byte, 8<<20)})
		}, entry: "silence.wav", reason: "over the limit of 1000:1"},
		{name: "ratio under a lower limit", zip: func(t testing.TB) []byte {
			return build(t, file{name: "a.wav", method: zip.Deflate, body: bytes.Repeat([]byte("ab"), 5000)})
		}, lim: Limits{MaxRatio: 10}, entry: "a.wav", reason: "over the limit of 10:1"},
		{name: "size without data", zip: func(t testing.TB) []byte {
			return build(t, rawFile(t, "a.wav", zip.Deflate, nil, func(fh *zip.FileHeader, stored *[]byte) {
				fh.UncompressedSize64, fh.CompressedSize64, *stored = 100, 0, nil
			}))
		}, entry: "a.wav", reason: "ratio of ∞:1"},
		{name: "Stored sizes differ", zip: func(t testing.TB) []byte {
			return build(t, rawFile(t, "a.wav", zip.Store, text(100, 1), func(fh *zip.FileHeader, _ *[]byte) { fh.UncompressedSize64 = 105 }))
		}, entry: "a.wav", reason: "is Stored, but its compressed size (100) differs from its size (105)"},
		{name: "folder with data", zip: func(t testing.TB) []byte {
			return build(t, file{raw: &zip.FileHeader{Name: "dir/", UncompressedSize64: 5}, name: "dir/"})
		}, entry: "dir/", reason: "folder entry has 5 bytes"},

		{name: "too many entries", zip: good, setup: func(t *testing.T) {
			old := maxEntries
			maxEntries = 5
			t.Cleanup(func() { maxEntries = old })
		}, reason: "archive has 12 entries, over the limit of 5"},
		{name: "central directory too big", zip: good, setup: func(t *testing.T) {
			old := maxDirectory
			maxDirectory = 200
			t.Cleanup(func() { maxDirectory = old })
		}, reason: "over the limit of 200"},
		{name: "fewer entries declared than written", zip: func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				e := endAt(b)
				put16(b, e+8, 1)
				put16(b, e+10, 1)
				return b
			})
		}, reason: "central directory has 54 bytes after its 1 entries"},
		{name: "more entries declared than written", zip: func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				e := endAt(b)
				put16(b, e+8, 3)
				put16(b, e+10, 3)
				return b
			})
		}, reason: "archive is truncated or not a ZIP"},
		{name: "split archive", zip: func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				put16(b, endAt(b)+4, 1)
				return b
			})
		}, reason: "split over several disks"},
		{name: "bytes after the end record", zip: func(t testing.TB) []byte {
			return append(build(t, stored(t)...), "trailing"...)
		}, reason: "8 bytes after its end record"},
		{name: "data before the archive", zip: func(t testing.TB) []byte {
			return append([]byte("#!/bin/sh\nexec unzip \"$0\"\n"), build(t, stored(t)...)...)
		}, reason: "central directory is not where the end record says"},
		{name: "zip64 end record disagrees", zip: func(t testing.TB) []byte { return handZip64As(t, false, 1) }, reason: "zip64 end record disagrees"},
		{name: "zip64 entry count off", zip: func(t testing.TB) []byte { return handZip64As(t, true, 1) }, reason: "archive is truncated or not a ZIP"},
		{name: "gap before the end record", zip: func(t testing.TB) []byte {
			return patched(t, stored(t), func(b []byte) []byte {
				e := endAt(b)
				put32(b, e+12, le32(b[e+12:])-10)
				return b
			})
		}, reason: "central directory is not where the end record says"},
	}
	return cases
}

func TestHostile(t *testing.T) {
	for _, tt := range hostileCases() {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			b := tt.zip(t)
			a, err := open(t, b, tt.lim)
			if a != nil {
				t.Fatalf("Open gave an archive of %d entries, err %v", len(a.Entries()), err)
			}
			var ref *Refused
			if !errors.As(err, &ref) {
				t.Fatalf("Open error %v (%T), want *Refused", err, err)
			}
			if ref.Entry != tt.entry || !strings.Contains(ref.Reason, tt.reason) {
				t.Fatalf("refused %q because %q; want entry %q because %q", ref.Entry, ref.Reason, tt.entry, tt.reason)
			}
			if tt.entry != "" && !strings.HasPrefix(err.Error(), fmt.Sprintf("entry %q: ", tt.entry)) {
				t.Errorf("message %q does not name the entry", err)
			}
		})
	}
}

// TestTruncated cuts a ZIP at every offset: each prefix is refused as
// truncated, never read.
func TestTruncated(t *testing.T) {
	// No nested ZIP, whose end record would be found.
	b := build(t, smallGoodFiles(t, false)...)
	for cut := range len(b) {
		_, err := open(t, b[:cut], Limits{})
		var ref *Refused
		if !errors.As(err, &ref) || ref.Entry != "" || !strings.HasPrefix(ref.Reason, "archive is truncated or not a ZIP: ") {
			t.Fatalf("cut at %d of %d: %v", cut, len(b), err)
		}
	}
	// With the nested ZIP, some prefixes end in its end record: they are
	// refused too.
	b = build(t, file{name: "a.wav", body: text(100, 1)}, file{name: "in.zip", body: build(t, file{name: "x.wav"})})
	for cut := range len(b) {
		if a, err := open(t, b[:cut], Limits{}); a != nil || err == nil {
			t.Fatalf("cut at %d of %d opened", cut, len(b))
		}
	}
}

// TestLies: archives whose headers agree but whose data does not match them
// pass Open and are refused by Verify and by Extract.
func TestLies(t *testing.T) {
	streamed := func(t *testing.T) []byte {
		return build(t, file{name: "a.wav", method: zip.Deflate, body: text(2000, 1)}, file{name: "b.wav", method: zip.Deflate, body: text(10000, 2)})
	}
	patchCentral := func(at int, f func(v uint32) uint32) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			b := streamed(t)
			c := central(t, b, "b.wav")
			put32(b, c+at, f(le32(b[c+at:])))
			if at == 16 { // the CRC-32 is in the data descriptor as well
				put32(b, descriptorAt(t, b, local(t, b, "b.wav"))+4, le32(b[c+at:]))
			}
			return b
		}
	}
	body := text(10000, 5)
	tests := []struct {
		name   string
		zip    func(t *testing.T) []byte
		reason string
	}{
		{"declared size larger", patchCentral(24, func(v uint32) uint32 { return v + 1 }), "shorter than the declared 10001: truncated"},
		{"declared size smaller", patchCentral(24, func(uint32) uint32 { return 4000 }), "longer than the declared 4000 bytes"},
		{"CRC-32 wrong", patchCentral(16, func(v uint32) uint32 { return v ^ 1 }), "but the header says"},
		// archive/zip itself does not check a CRC-32 of zero.
		{"CRC-32 zero", patchCentral(16, func(uint32) uint32 { return 0 }), "but the header says 00000000"},
		{"Stored data changed", func(t *testing.T) []byte {
			b := build(t, rawFile(t, "b.wav", zip.Store, body, nil))
			b[local(t, b, "b.wav")+localLen+len("b.wav")+10] ^= 0xff
			return b
		}, "but the header says"},
		{"Deflate stream truncated", func(t *testing.T) []byte {
			return build(t, rawFile(t, "b.wav", zip.Deflate, body, func(fh *zip.FileHeader, stored *[]byte) {
				*stored = (*stored)[:len(*stored)/2]
				fh.CompressedSize64 = uint64(len(*stored))
			}))
		}, "compressed data is truncated"},
		{"Deflate stream corrupt", func(t *testing.T) []byte {
			return build(t, rawFile(t, "b.wav", zip.Deflate, body, func(fh *zip.FileHeader, stored *[]byte) {
				(*stored)[0] = 0xff // block type 3 does not exist
			}))
		}, "compressed data is corrupt"},
		{"bytes after the Deflate stream", func(t *testing.T) []byte {
			return build(t, rawFile(t, "b.wav", zip.Deflate, body, func(fh *zip.FileHeader, stored *[]byte) {
				*stored = append(*stored, "hidden"...)
				fh.CompressedSize64 = uint64(len(*stored))
			}))
		}, "goes on after the end of its Deflate stream"},
		{"more data than declared in a bomb", func(t *testing.T) []byte {
			// 1 MB that declares 2 kB: the ratio looks harmless.
			return build(t, rawFile(t, "b.wav", zip.Deflate, make([]byte, 1<<20), func(fh *zip.FileHeader, stored *[]byte) {
				fh.UncompressedSize64 = 2000
			}))
		}, "longer than the declared 2000 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustOpen(t, tt.zip(t), Limits{})
			err := a.Verify(context.Background())
			var ref *Refused
			if !errors.As(err, &ref) || ref.Entry != "b.wav" || !strings.Contains(ref.Reason, tt.reason) {
				t.Fatalf("Verify: %v; want entry b.wav refused because %q", err, tt.reason)
			}
			e := a.Entries()[len(a.Entries())-1]
			var buf bytes.Buffer
			n, err := a.Extract(context.Background(), e.Index, &buf)
			if !errors.As(err, &ref) || !strings.Contains(ref.Reason, tt.reason) {
				t.Fatalf("Extract: %v; want %q", err, tt.reason)
			}
			// Never the whole of a bad entry: its last bytes are held back.
			if n != int64(buf.Len()) || n >= e.Size {
				t.Errorf("Extract wrote %d bytes (returned %d) of a bad entry of %d", buf.Len(), n, e.Size)
			}
		})
	}
}

func TestOverlapBombLayout(t *testing.T) {
	// The bomb is a readable ZIP: archive/zip opens it and each entry's
	// data checks out, which is why only the overlap gives it away.
	b := overlapBomb(3)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
	}
}

func TestZip64ManyEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 70,000 entries")
	}
	const n = 70000
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for i := range n {
		fh := &zip.FileHeader{Name: fmt.Sprintf("calls/%05d.wav", i), Method: zip.Store}
		fw, err := w.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(fw, "RIFF%d", i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if !bytes.Contains(b[len(b)-200:], []byte("PK\x06\x06")) {
		t.Fatal("the writer did not write a ZIP64 end record")
	}
	a := mustOpen(t, b, Limits{})
	es := a.Entries()
	if len(es) != n || es[n-1].Name != "calls/69999.wav" || es[n-1].Index != n-1 {
		t.Fatalf("%d entries, last %+v", len(es), es[len(es)-1])
	}
	if err := a.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := a.Extract(context.Background(), 66000, &out); err != nil || out.String() != "RIFF66000" {
		t.Fatalf("Extract: %q, %v", out.String(), err)
	}
}

// prefixed reads as n zero bytes followed by b: an archive beyond 4 GB
// without 4 GB of memory.
type prefixed struct {
	n int64
	b []byte
}

func (p prefixed) ReadAt(q []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	done := 0
	for done < len(q) {
		at := off + int64(done)
		switch {
		case at < p.n:
			k := int(min(int64(len(q)-done), p.n-at))
			clear(q[done : done+k])
			done += k
		case at-p.n < int64(len(p.b)):
			done += copy(q[done:], p.b[at-p.n:])
		default:
			return done, io.EOF
		}
	}
	return done, nil
}

func TestZip64Offsets(t *testing.T) {
	const gap = 5 << 30
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	w.SetOffset(gap)
	files := []file{{name: "a.wav", method: zip.Deflate, body: text(5000, 1)}, {name: "b.WAV", body: text(3000, 2)}}
	for _, f := range files {
		fw, err := w.CreateHeader(&zip.FileHeader{Name: f.name, Method: f.method})
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(f.body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := prefixed{n: gap, b: buf.Bytes()}
	size := gap + int64(buf.Len())
	if _, err := Open(r, size, Limits{}); err == nil {
		t.Fatal("a 5 GB archive opened under the 3 GB default")
	}
	a, err := Open(r, size, Limits{MaxArchive: 8 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, e := range a.Entries() {
		var out bytes.Buffer
		if _, err := a.Extract(context.Background(), e.Index, &out); err != nil || !bytes.Equal(out.Bytes(), files[i].body) {
			t.Fatalf("Extract %s: %v", e.Name, err)
		}
	}
}

// TestZip64ByHand: ZIP64 extra fields in the central directory, and ZIP64
// end records that the end record flags or, as in Info-ZIP's streamed
// archives, does not.
func TestZip64ByHand(t *testing.T) {
	for _, flagged := range []bool{true, false} {
		a := mustOpen(t, handZip64As(t, flagged, 0), Limits{})
		if es := a.Entries(); len(es) != 1 || es[0].Size != 300 {
			t.Fatalf("flagged %v: entries %+v", flagged, es)
		}
		if err := a.Verify(context.Background()); err != nil {
			t.Fatalf("flagged %v: %v", flagged, err)
		}
	}
}

func TestComment(t *testing.T) {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	fw, _ := w.Create("a.wav")
	fw.Write(text(100, 1))
	if err := w.SetComment("batch of 2025-01-15 PK\x05\x06"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	a := mustOpen(t, buf.Bytes(), Limits{})
	if err := a.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCancel(t *testing.T) {
	a := mustOpen(t, build(t, goodFiles(t)...), Limits{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ref *Refused
	if err := a.Verify(ctx); !errors.Is(err, context.Canceled) || errors.As(err, &ref) {
		t.Errorf("Verify = %v, want context.Canceled", err)
	}
	if _, err := a.Extract(ctx, 2, io.Discard); !errors.Is(err, context.Canceled) {
		t.Errorf("Extract = %v, want context.Canceled", err)
	}
}

// failingReaderAt fails every read after the first n bytes of the file.
type failingReaderAt struct {
	r    io.ReaderAt
	from int64
}

var errDisk = errors.New("disk on fire")

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.from {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}

// TestReadErrors: a reader that fails is an I/O error, not a refusal.
func TestReadErrors(t *testing.T) {
	b := build(t, goodFiles(t)...)
	var ref *Refused
	_, err := Open(failingReaderAt{bytes.NewReader(b), 0}, int64(len(b)), Limits{})
	if !errors.Is(err, errDisk) || errors.As(err, &ref) {
		t.Errorf("Open = %v, want the read error", err)
	}
	a := mustOpen(t, b, Limits{})
	a.r = failingReaderAt{bytes.NewReader(b), 0}
	if err := a.Verify(context.Background()); !errors.Is(err, errDisk) || errors.As(err, &ref) {
		t.Errorf("Verify = %v, want the read error", err)
	}
	if _, err := a.Extract(context.Background(), 3, io.Discard); !errors.Is(err, errDisk) || errors.As(err, &ref) {
		t.Errorf("Extract = %v, want the read error", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDisk }

func TestExtractWriteError(t *testing.T) {
	a := mustOpen(t, build(t, goodFiles(t)...), Limits{})
	_, err := a.Extract(context.Background(), 2, failingWriter{})
	if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), `write entry "batch/Call_001.WAV"`) {
		t.Errorf("Extract = %v", err)
	}
}

// TestVerifyMemory: Verify's allocations do not grow with the data.
func TestVerifyMemory(t *testing.T) {
	body := text(4<<20, 3)
	for _, m := range []uint16{zip.Store, zip.Deflate} {
		a := mustOpen(t, build(t, file{name: "big.wav", method: m, body: body}), Limits{})
		a.Verify(context.Background()) // fill the pool
		// The least of a few runs: a GC between runs empties the pool.
		allocs := uint64(1 << 62)
		for range 3 {
			allocs = min(allocs, uint64(allocated(func() {
				if err := a.Verify(context.Background()); err != nil {
					t.Fatal(err)
				}
			})))
		}
		if allocs > 64<<10 {
			t.Errorf("method %d: Verify of 4 MB allocated %d bytes", m, allocs)
		}
	}
}

func TestRefusedError(t *testing.T) {
	if got := (&Refused{Entry: "../../etc/passwd", Reason: "name escapes the archive"}).Error(); got != `entry "../../etc/passwd": name escapes the archive` {
		t.Error(got)
	}
	if got := (&Refused{Reason: "archive is truncated or not a ZIP: x"}).Error(); got != "archive is truncated or not a ZIP: x" {
		t.Error(got)
	}
}

func TestDefaults(t *testing.T) {
	if d := Defaults(); d != (Limits{MaxArchive: 3 << 30, MaxTotal: 10 << 30, MaxRatio: 1000}) {
		t.Errorf("Defaults() = %+v", d)
	}
	if got := (Limits{MaxTotal: 5}).orDefaults(); got != (Limits{MaxArchive: 3 << 30, MaxTotal: 5, MaxRatio: 1000}) {
		t.Errorf("orDefaults = %+v", got)
	}
}

func TestFoldKey(t *testing.T) {
	for _, p := range [][2]string{{"abc", "ABC"}, {"k", "\u212a"}, {"straße", "STRAßE"}, {"Σίσυφος", "ΣΊΣΥΦΟΣ"}} {
		if foldKey(p[0]) != foldKey(p[1]) {
			t.Errorf("foldKey(%q) != foldKey(%q)", p[0], p[1])
		}
	}
	if foldKey("a.wav") == foldKey("b.wav") || foldKey("a\xff.wav") == foldKey("a\xfe.wav") {
		t.Error("different names fold together")
	}
}

// TestConcurrent: Verify and Extract may run from several goroutines at once.
func TestConcurrent(t *testing.T) {
	files := goodFiles(t)
	a := mustOpen(t, build(t, files...), Limits{})
	errs := make(chan error, 8)
	for range 4 {
		go func() {
			errs <- a.Verify(context.Background())
		}()
		go func() {
			for _, e := range a.Entries() {
				var buf bytes.Buffer
				if _, err := a.Extract(context.Background(), e.Index, &buf); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(buf.Bytes(), files[e.Index].body) {
					errs <- fmt.Errorf("%s: wrong data", e.Name)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
