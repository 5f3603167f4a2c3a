package bulk

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"io/fs"
	"testing"
	"time"
)

// This file builds the test archives: real ZIPs from archive/zip's writer,
// byte patches for what the writer will not write, and a few archives laid
// out by hand.

// file is one entry for build.
type file struct {
	name     string
	body     []byte
	method   uint16      // zip.Store (the zero value) or zip.Deflate
	mode     fs.FileMode // set with SetMode when not zero
	flags    uint16      // extra header flags
	modified time.Time   // written as an extended timestamp when not zero
	dosTime  time.Time   // written as MS-DOS date and time only
	raw      *zip.FileHeader
}

// build writes files into a ZIP with archive/zip's writer. A file with raw
// set is written with CreateRaw: raw is its header and body its data as
// stored.
func build(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, f := range files {
		var fw io.Writer
		var err error
		if f.raw != nil {
			fw, err = w.CreateRaw(f.raw)
		} else {
			fh := &zip.FileHeader{Name: f.name, Method: f.method, Modified: f.modified, Flags: f.flags}
			if !f.dosTime.IsZero() {
				fh.ModifiedDate, fh.ModifiedTime = dosTime(f.dosTime) //nolint:staticcheck // the MS-DOS fields are the point
			}
			if f.mode != 0 {
				fh.SetMode(f.mode)
			}
			fw, err = w.CreateHeader(fh)
		}
		if err != nil {
			t.Fatalf("add %q: %v", f.name, err)
		}
		if _, err := fw.Write(f.body); err != nil {
			t.Fatalf("write %q: %v", f.name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close zip: %v", err)
	}
	return buf.Bytes()
}

// dosTime encodes t's wall clock as MS-DOS date and time fields.
func dosTime(t time.Time) (date, tm uint16) {
	date = uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	tm = uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	return date, tm
}

// rawFile is a file written with CreateRaw: data compressed (or not) by
// method, with a correct header that fix may then falsify. Without
// flagDescriptor in the header the local header carries the sizes.
func rawFile(t testing.TB, name string, method uint16, data []byte, fix func(fh *zip.FileHeader, stored *[]byte)) file {
	t.Helper()
	stored := data
	if method == zip.Deflate {
		stored = deflate(t, data)
	}
	fh := &zip.FileHeader{
		Name:               name,
		Method:             method,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(stored)),
		UncompressedSize64: uint64(len(data)),
	}
	if fix != nil {
		fix(fh, &stored)
	}
	return file{name: name, body: stored, raw: fh}
}

// deflate compresses b as a raw Deflate stream.
func deflate(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// text returns n bytes of varied text, which compresses a little.
func text(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = "etaoin shrdlu,\n0123456789"[x%25]
	}
	return b
}

// goodFiles is a well-formed bulk ZIP: Store and Deflate entries, folders,
// a manifest with a byte-order mark, upper-case extensions, and the entries
// that are listed but skipped.
func goodFiles(t testing.TB) []file {
	inner := build(t, file{name: "x.wav", body: []byte("RIFF")})
	when := time.Date(2025, 1, 15, 8, 30, 4, 0, time.UTC)
	return []file{
		{name: "batch/"},
		{name: "batch/metadata.csv", method: zip.Deflate, modified: when,
			body: []byte("\ufefffilename,agent_name,team,department,direction,tags\nCall_001.WAV,Thandi,Support,,inbound,vip;new\n")},
		{name: "batch/Call_001.WAV", body: append([]byte("RIFF\x00\x10\x00\x00WAVEfmt "), text(3000, 1)...), modified: when},
		{name: "batch/call_002.mp3", method: zip.Deflate, body: text(5000, 2), dosTime: time.Date(2024, 12, 31, 23, 59, 58, 0, time.UTC)},
		{name: "batch/sub/"},
		{name: "batch/sub/call_003.m4a", method: zip.Deflate, body: text(70000, 3), modified: when},
		{name: "batch/sub/Call_004.Flac", body: text(1000, 4), modified: when},
		{name: "batch/notes.txt", method: zip.Deflate, body: []byte("see metadata.csv\n"), modified: when},
		{name: "batch/empty.wav", modified: when},
		{name: "batch/inner.zip", body: inner, modified: when},
		{name: "batch/sub/metadata.csv", body: []byte("filename\n"), modified: when},
		{name: "__MACOSX/batch/._Call_001.WAV", body: []byte("\x00\x05\x16\x07"), modified: when},
	}
}

// smallGoodFiles is goodFiles with the bodies cut short: quick to fuzz
// and to cut at every offset.
func smallGoodFiles(t testing.TB, nested bool) []file {
	var files []file
	for _, f := range goodFiles(t) {
		if !nested && f.name == "batch/inner.zip" {
			continue
		}
		f.body = f.body[:min(len(f.body), 150)]
		files = append(files, f)
	}
	return files
}

// findHeader returns the offset of the local (or, with central, central
// directory) header of the entry with the given name.
func findHeader(t testing.TB, b []byte, name string, central bool) int {
	t.Helper()
	sig, lenAt, nameAt := uint32(localSig), 26, localLen
	if central {
		sig, lenAt, nameAt = dirSig, 28, dirLen
	}
	for i := 0; i+nameAt <= len(b); i++ {
		if le32(b[i:]) != sig {
			continue
		}
		n := int(le16(b[i+lenAt:]))
		if i+nameAt+n <= len(b) && string(b[i+nameAt:i+nameAt+n]) == name {
			return i
		}
	}
	t.Fatalf("no header for %q", name)
	return 0
}

func central(t testing.TB, b []byte, name string) int { return findHeader(t, b, name, true) }
func local(t testing.TB, b []byte, name string) int   { return findHeader(t, b, name, false) }

// endAt returns the offset of the end of central directory record.
func endAt(b []byte) int {
	for i := len(b) - endLen; i >= 0; i-- {
		if le32(b[i:]) == endSig {
			return i
		}
	}
	return -1
}

// descriptorAt returns the offset of the signed data descriptor after the
// local header at h.
func descriptorAt(t testing.TB, b []byte, h int) int {
	t.Helper()
	i := bytes.Index(b[h:], []byte("PK\x07\x08"))
	if i < 0 {
		t.Fatal("no data descriptor")
	}
	return h + i
}

func put16(b []byte, at int, v uint16) { binary.LittleEndian.PutUint16(b[at:], v) }
func put32(b []byte, at int, v uint32) { binary.LittleEndian.PutUint32(b[at:], v) }

// patched builds files and applies patch to the bytes.
func patched(t testing.TB, files []file, patch func(b []byte) []byte) []byte {
	t.Helper()
	return patch(build(t, files...))
}

// Hand-laid archives.

// localHeader is a local file header without extra field.
func localHeader(name string, method, flags uint16, crc, csize, usize uint32) []byte {
	b := make([]byte, localLen, localLen+len(name))
	put32(b, 0, localSig)
	put16(b, 4, 20)
	put16(b, 6, flags)
	put16(b, 8, method)
	put32(b, 14, crc)
	put32(b, 18, csize)
	put32(b, 22, usize)
	put16(b, 26, uint16(len(name)))
	return append(b, name...)
}

// centralHeader is a central directory record.
func centralHeader(name string, method, flags uint16, crc, csize, usize, offset uint32, extra []byte) []byte {
	b := make([]byte, dirLen, dirLen+len(name)+len(extra))
	put32(b, 0, dirSig)
	put16(b, 4, 20)
	put16(b, 6, 20)
	put16(b, 8, flags)
	put16(b, 10, method)
	put32(b, 16, crc)
	put32(b, 20, csize)
	put32(b, 24, usize)
	put16(b, 28, uint16(len(name)))
	put16(b, 30, uint16(len(extra)))
	put32(b, 42, offset)
	b = append(b, name...)
	return append(b, extra...)
}

// endRecords ends an archive whose central directory of size bytes with
// records entries starts at offset; zip64 writes the ZIP64 end records and
// the sentinels in the classic one.
func endRecords(records, size, offset int, zip64 bool) []byte {
	return endRecordsAs(records, size, offset, zip64, zip64)
}

// endRecordsAs is endRecords with the ZIP64 end records (zip64) and the
// sentinels that point to them (flagged) chosen apart, as Info-ZIP writes
// a streamed archive: ZIP64 records that the end record does not flag.
func endRecordsAs(records, size, offset int, zip64, flagged bool) []byte {
	var b []byte
	if zip64 {
		e := make([]byte, end64Len+loc64Len)
		put32(e, 0, end64Sig)
		binary.LittleEndian.PutUint64(e[4:], end64Len-12)
		put16(e, 12, 45)
		put16(e, 14, 45)
		binary.LittleEndian.PutUint64(e[24:], uint64(records))
		binary.LittleEndian.PutUint64(e[32:], uint64(records))
		binary.LittleEndian.PutUint64(e[40:], uint64(size))
		binary.LittleEndian.PutUint64(e[48:], uint64(offset))
		l := e[end64Len:]
		put32(l, 0, loc64Sig)
		binary.LittleEndian.PutUint64(l[8:], uint64(offset+size))
		put32(l, 16, 1)
		b = e
		if flagged {
			records, size, offset = 0xffff, max32, max32
		}
	}
	e := make([]byte, endLen)
	put32(e, 0, endSig)
	put16(e, 8, uint16(records))
	put16(e, 10, uint16(records))
	put32(e, 12, uint32(size))
	put32(e, 16, uint32(offset))
	return append(b, e...)
}

// overlapBomb is the non-recursive zip bomb reduced to Store: each entry's
// data quotes the local header and data of the next, so that the entries
// overlap and the innermost bytes are counted once per entry.
func overlapBomb(depth int) []byte {
	body := text(2000, 9)
	names := make([]string, depth)
	for i := range names {
		names[i] = string(rune('a'+i)) + ".wav"
	}
	// Build from the inside out.
	data := body
	var offsets []int
	for i := depth - 1; i >= 0; i-- {
		crc := crc32.ChecksumIEEE(data)
		h := localHeader(names[i], zip.Store, 0, crc, uint32(len(data)), uint32(len(data)))
		data = append(h, data...)
		for j := range offsets {
			offsets[j] += len(h)
		}
		offsets = append([]int{0}, offsets...)
	}
	var cd []byte
	for i, name := range names {
		inner := data[offsets[i]+localLen+len(name):]
		size := len(inner)
		crc := crc32.ChecksumIEEE(inner)
		cd = append(cd, centralHeader(name, zip.Store, 0, crc, uint32(size), uint32(size), uint32(offsets[i]), nil)...)
	}
	out := append(data, cd...)
	return append(out, endRecords(depth, len(cd), len(data), false)...)
}

// handZip64 is a one-entry archive in which the central directory keeps
// sizes and offset in a ZIP64 extra field and ZIP64 end records close it.
func handZip64(t testing.TB) []byte {
	return handZip64As(t, true, 0)
}

// handZip64As is handZip64 with the ZIP64 end records flagged in the end
// record or not, and the entry count in the ZIP64 end record off by skew.
func handZip64As(t testing.TB, flagged bool, skew int) []byte {
	t.Helper()
	body := text(300, 7)
	crc := crc32.ChecksumIEEE(body)
	name := "call.wav"
	out := append(localHeader(name, zip.Store, 0, crc, uint32(len(body)), uint32(len(body))), body...)
	extra := make([]byte, 4+24)
	put16(extra, 0, zip64Tag)
	put16(extra, 2, 24)
	binary.LittleEndian.PutUint64(extra[4:], uint64(len(body)))
	binary.LittleEndian.PutUint64(extra[12:], uint64(len(body)))
	binary.LittleEndian.PutUint64(extra[20:], 0)
	cd := centralHeader(name, zip.Store, 0, crc, max32, max32, max32, extra)
	cdAt := len(out)
	out = append(out, cd...)
	end := endRecordsAs(1, len(cd), cdAt, true, flagged)
	put32(end, 24, uint32(1+skew))
	put32(end, 32, uint32(1+skew))
	return append(out, end...)
}
