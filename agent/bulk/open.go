package bulk

import (
	"archive/zip"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"slices"
	"strings"
)

// Record signatures and fixed lengths of the ZIP format (APPNOTE.TXT 4.3).
const (
	localSig      = 0x04034b50
	dirSig        = 0x02014b50
	endSig        = 0x06054b50
	end64Sig      = 0x06064b50
	loc64Sig      = 0x07064b50
	descriptorSig = 0x08074b50

	localLen = 30
	dirLen   = 46
	endLen   = 22
	end64Len = 56
	loc64Len = 20

	zip64Tag = 0x0001
	aesTag   = 0x9901

	max32 = 1<<32 - 1
)

// Flag bits of a header.
const (
	flagEncrypted  = 1 << 0
	flagDescriptor = 1 << 3
	flagStrong     = 1 << 6 // strong encryption
)

// methodNames names the compression methods Vela does not accept.
var methodNames = map[uint16]string{
	1: "Shrink", 2: "Reduce", 3: "Reduce", 4: "Reduce", 5: "Reduce",
	6: "Implode", 9: "Deflate64", 10: "PKWARE DCL Implode", 12: "BZip2",
	14: "LZMA", 16: "IBM z/OS CMPSC", 18: "IBM TERSE", 19: "IBM LZ77",
	20: "Zstandard", 93: "Zstandard", 94: "MP3", 95: "XZ", 96: "JPEG",
	97: "WavPack", 98: "PPMd", 99: "AES",
}

// Open checks the archive's structure and every entry's header, and refuses (with *Refused) a ZIP that must not be expanded at all:
// over MaxArchive; truncated or unreadable (not a ZIP, bad central directory); an entry name that is absolute, has a drive letter, a backslash, a `..` element, NUL or control characters, or is empty; two entries whose names are equal ignoring case (they would collide in a case-insensitive spool); a symlink (Unix mode in external attributes) or any non-regular-file entry other than folders; encryption (flag bit 0, or AES extra 0x9901); any method other than Store (0) or Deflate (8), naming it (Deflate64, BZip2, LZMA, ...); a local header that disagrees with the central directory (name, method, sizes when not in a data descriptor); entries whose data ranges overlap each other or the central directory (the classic non-recursive zip bomb) or lie outside the file; a declared total over MaxTotal; a declared ratio over MaxRatio; a Stored entry whose compressed and uncompressed sizes differ.
// ZIP64 archives are supported (needed below 3 GB only for many entries, but must not be refused).
//
// Open also refuses a file entry that is also another entry's folder, a
// folder entry with data, a split (multi-disk) archive, bytes after the end
// record, a central directory that is not right before the end records
// (self-extracting stubs, damaged offsets), and more than 262,144 entries
// or a central directory over 64 MB, which it would have to hold in memory.
// An error that is not a *Refused is a failure to read r.
func Open(r io.ReaderAt, size int64, lim Limits) (*Archive, error) {
	lim = lim.orDefaults()
	if size < 0 {
		return nil, fmt.Errorf("open archive: size %d is negative", size)
	}
	if size > lim.MaxArchive {
		return nil, &Refused{Reason: fmt.Sprintf("archive is %d bytes, over the limit of %d", size, lim.MaxArchive)}
	}
	o := &opener{src: r, r: &trackedReaderAt{r: r}, size: size, lim: lim}
	return o.open()
}

// opener holds the state of one Open.
type opener struct {
	src  io.ReaderAt      // as given, kept by the Archive
	r    *trackedReaderAt // src, remembering read failures
	size int64
	lim  Limits
	dir  dirEnd
	recs []dirRecord
	zr   *zip.Reader
}

// dirEnd is what the end records say about the central directory.
type dirEnd struct {
	records uint64
	size    uint64 // of the central directory
	offset  uint64 // of the central directory
	comment string
}

// dirRecord is what Open's own walk of the central directory keeps of a
// record: archive/zip does not tell where a local header is.
type dirRecord struct {
	name   string
	header uint64 // offset of the local header
}

// trackedReaderAt remembers the first error of r that is not io.EOF, so that
// a failure to read can be told from a short (truncated) archive.
type trackedReaderAt struct {
	r   io.ReaderAt
	err error
}

func (t *trackedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := t.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) && t.err == nil {
		t.err = err
	}
	return n, err
}

// notZip refuses an archive that cannot be read as a ZIP.
func notZip(format string, args ...any) *Refused {
	return &Refused{Reason: "archive is truncated or not a ZIP: " + fmt.Sprintf(format, args...)}
}

// refuse refuses the archive because of the named entry.
func refuse(entry, format string, args ...any) *Refused {
	return &Refused{Entry: entry, Reason: fmt.Sprintf(format, args...)}
}

// failed turns a read failure into the error Open returns: the I/O error
// when the reader failed, the refusal otherwise (the data was short).
func (o *opener) failed(ref *Refused) error {
	if o.r.err != nil {
		return fmt.Errorf("open archive: read: %w", o.r.err)
	}
	return ref
}

// readAt reads exactly len(b) bytes at off, which the caller has checked
// to lie inside the archive.
func (o *opener) readAt(b []byte, off int64, what string) error {
	n, err := o.r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return o.failed(notZip("read %s at offset %d: %v", what, off, err))
}

func (o *opener) open() (*Archive, error) {
	if err := o.readEnd(); err != nil {
		return nil, err
	}
	if err := o.walkDirectory(); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(o.r, o.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		// Open refuses insecure names itself, with the reason.
		return nil, o.failed(notZip("%v", err))
	}
	o.zr = zr
	if err := o.sameDirectory(); err != nil {
		return nil, err
	}
	items, err := o.checkEntries()
	if err != nil {
		return nil, err
	}
	if err := checkNames(items); err != nil {
		return nil, err
	}
	order, err := o.checkLayout(items)
	if err != nil {
		return nil, err
	}
	return &Archive{r: o.src, items: items, order: order, list: listEntries(items)}, nil
}

// readEnd finds and reads the end of central directory record (and the
// ZIP64 one) the way archive/zip does, then asks more of them than it does:
// one disk, nothing after the end record, the central directory right
// before the end records, and a size Open can hold.
func (o *opener) readEnd() error {
	var buf []byte
	at := int64(-1)
	for i, n := range []int64{1024, 65 * 1024} {
		n = min(n, o.size)
		buf = make([]byte, n)
		if err := o.readAt(buf, o.size-n, "end record"); err != nil {
			return err
		}
		if p := findEnd(buf); p >= 0 {
			buf = buf[p:]
			at = o.size - n + int64(p)
			break
		}
		if i == 1 || n == o.size {
			return notZip("no end of central directory record")
		}
	}
	b := buf[4:]
	disk := le16(b[0:])
	dirDisk := le16(b[2:])
	recordsHere := uint64(le16(b[4:]))
	d := dirEnd{
		records: uint64(le16(b[6:])),
		size:    uint64(le32(b[8:])),
		offset:  uint64(le32(b[12:])),
	}
	commentLen := int64(le16(b[16:]))
	d.comment = string(b[18 : 18+commentLen])
	if extra := o.size - (at + endLen + commentLen); extra != 0 {
		return &Refused{Reason: fmt.Sprintf("archive has %d bytes after its end record", extra)}
	}
	disks := uint64(disk) | uint64(dirDisk)
	next := at // where the records after the central directory start
	p, ok, err := o.findEnd64(at)
	if err != nil {
		return err
	}
	if ok {
		var d64 dirEnd
		disk64, dirDisk64, err := o.readEnd64(p, at-loc64Len, &d64)
		if err != nil {
			return err
		}
		// archive/zip reads the ZIP64 end record only when the end record
		// says to. Info-ZIP writes one to streamed archives without saying
		// so; archive/zip then finds the directory where the end record
		// says, and so must the ZIP64 end record.
		if d.records == 0xffff || d.size == 0xffff || d.offset == 0xffffffff {
			d.records, d.size, d.offset = d64.records, d64.size, d64.offset
			disks = uint64(disk64) | uint64(dirDisk64)
			recordsHere = d.records // checked by readEnd64
		} else if d64.records != d.records || d64.size != d.size || d64.offset != d.offset {
			return notZip("the zip64 end record disagrees with the end record")
		}
		next = p
	}
	if disks != 0 || recordsHere != d.records {
		return &Refused{Reason: "archive is split over several disks, which is not supported"}
	}
	if d.size > uint64(next) || d.offset != uint64(next)-d.size {
		return &Refused{Reason: fmt.Sprintf("central directory is not where the end record says (at %d, %d bytes, ending at %d): data before the archive or a damaged ZIP", d.offset, d.size, next)}
	}
	if d.records > maxEntries {
		return &Refused{Reason: fmt.Sprintf("archive has %d entries, over the limit of %d", d.records, maxEntries)}
	}
	if d.size > maxDirectory {
		return &Refused{Reason: fmt.Sprintf("central directory is %d bytes, over the limit of %d", d.size, maxDirectory)}
	}
	if d.size < d.records*dirLen {
		return notZip("central directory of %d bytes cannot hold %d entries", d.size, d.records)
	}
	o.dir = d
	return nil
}

// findEnd returns where the end record starts in b, as archive/zip finds
// it: the last signature, given up if its comment does not fit.
func findEnd(b []byte) int {
	for i := len(b) - endLen; i >= 0; i-- {
		if le32(b[i:]) == endSig {
			if int(le16(b[i+endLen-2:]))+endLen+i > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}

// findEnd64 reads the ZIP64 end locator before the end record at at, and
// returns where it says the ZIP64 end record is, and whether there is one,
// by archive/zip's rules.
func (o *opener) findEnd64(at int64) (int64, bool, error) {
	loc := at - loc64Len
	if loc < 0 {
		return 0, false, nil
	}
	var b [loc64Len]byte
	if err := o.readAt(b[:], loc, "zip64 end locator"); err != nil {
		return 0, false, err
	}
	if le32(b[0:]) != loc64Sig || le32(b[4:]) != 0 || le32(b[16:]) != 1 {
		return 0, false, nil
	}
	p := le64(b[8:])
	if p > uint64(loc) || uint64(loc)-p < end64Len {
		return 0, false, notZip("zip64 end record at %d does not fit before its locator at %d", p, loc)
	}
	return int64(p), true, nil
}

// readEnd64 reads the ZIP64 end record at p, which must end at the
// locator at loc, into d, and returns its disk numbers.
func (o *opener) readEnd64(p, loc int64, d *dirEnd) (disk, dirDisk uint32, err error) {
	var b [end64Len]byte
	if err := o.readAt(b[:], p, "zip64 end record"); err != nil {
		return 0, 0, err
	}
	if le32(b[0:]) != end64Sig {
		return 0, 0, notZip("no zip64 end record at offset %d", p)
	}
	if n := le64(b[4:]); n < end64Len-12 || n != uint64(loc-p-12) {
		return 0, 0, notZip("zip64 end record at %d does not end at its locator", p)
	}
	disk = le32(b[16:])
	dirDisk = le32(b[20:])
	here := le64(b[24:])
	d.records = le64(b[32:])
	d.size = le64(b[40:])
	d.offset = le64(b[48:])
	if here != d.records {
		disk = 1 // split
	}
	return disk, dirDisk, nil
}

// walkDirectory reads the central directory record by record, as many as
// the end record declares, and keeps each name and local header offset.
// The records must fill the central directory exactly.
func (o *opener) walkDirectory() error {
	d := o.dir
	br := bufio.NewReaderSize(io.NewSectionReader(o.r, int64(d.offset), int64(d.size)), 64<<10)
	o.recs = make([]dirRecord, 0, d.records)
	var fixed [dirLen]byte
	var rest []byte
	read := uint64(0)
	for i := uint64(0); i < d.records; i++ {
		if _, err := io.ReadFull(br, fixed[:]); err != nil {
			return o.failed(notZip("central directory ends after %d of %d entries", i, d.records))
		}
		if le32(fixed[0:]) != dirSig {
			return notZip("central directory record %d has no signature", i)
		}
		n, m, k := int(le16(fixed[28:])), int(le16(fixed[30:])), int(le16(fixed[32:]))
		if cap(rest) < n+m+k {
			rest = make([]byte, n+m+k)
		}
		rest = rest[:n+m+k]
		if _, err := io.ReadFull(br, rest); err != nil {
			return o.failed(notZip("central directory ends inside entry %d of %d", i, d.records))
		}
		read += uint64(dirLen + n + m + k)
		header, ok := zip64Offset(le32(fixed[24:]), le32(fixed[20:]), le32(fixed[42:]), rest[n:n+m])
		if !ok {
			return notZip("central directory record %d has a bad zip64 extra field", i)
		}
		o.recs = append(o.recs, dirRecord{name: string(rest[:n]), header: header})
	}
	if read != d.size {
		return notZip("central directory has %d bytes after its %d entries", d.size-read, d.records)
	}
	return nil
}

// zip64Offset returns the local header offset of a central directory record
// with the given 32-bit sizes and offset, reading the ZIP64 extra field the
// way archive/zip does. It reports false where archive/zip fails.
func zip64Offset(usize, csize, offset uint32, extra []byte) (uint64, bool) {
	needU, needC, needO := usize == max32, csize == max32, offset == max32
	header := uint64(offset)
	for e := extra; len(e) >= 4; {
		tag, n := le16(e), int(le16(e[2:]))
		e = e[4:]
		if len(e) < n {
			break
		}
		field := e[:n]
		e = e[n:]
		if tag != zip64Tag {
			continue
		}
		for _, need := range []*bool{&needU, &needC, &needO} {
			if !*need {
				continue
			}
			*need = false
			if len(field) < 8 {
				return 0, false
			}
			if need == &needO {
				header = le64(field)
			}
			field = field[8:]
		}
	}
	return header, !needC && !needO
}

// sameDirectory checks that archive/zip read the central directory as Open's
// walk did: the same entries, names and comment.
func (o *opener) sameDirectory() error {
	if len(o.zr.File) != len(o.recs) || o.zr.Comment != o.dir.comment {
		return notZip("central directory reads two ways (%d or %d entries)", len(o.recs), len(o.zr.File))
	}
	for i, f := range o.zr.File {
		if f.Name != o.recs[i].name {
			return notZip("central directory reads two ways (entry %d is %q or %q)", i, o.recs[i].name, f.Name)
		}
	}
	return nil
}

// checkEntries checks each entry's central directory header on its own:
// name, type, encryption, method, sizes and ratio; and the declared total.
func (o *opener) checkEntries() ([]item, error) {
	items := make([]item, len(o.zr.File))
	var total uint64
	for i, f := range o.zr.File {
		name := f.Name
		if reason := badName(name); reason != "" {
			return nil, refuse(name, "%s", reason)
		}
		mode := f.Mode()
		folder := strings.HasSuffix(name, "/") || mode.IsDir()
		switch t := mode.Type() &^ fs.ModeDir; {
		case t&fs.ModeSymlink != 0:
			return nil, refuse(name, "is a symbolic link")
		case t != 0:
			return nil, refuse(name, "is not a regular file or folder (%s)", typeName(t))
		}
		if f.Flags&(flagEncrypted|flagStrong) != 0 || f.Method == 99 {
			return nil, refuse(name, "is encrypted")
		}
		if hasExtra(f.Extra, aesTag) {
			return nil, refuse(name, "is encrypted (AES)")
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			if mn, ok := methodNames[f.Method]; ok {
				return nil, refuse(name, "compression method %s (%d) is not supported: only Store and Deflate are", mn, f.Method)
			}
			return nil, refuse(name, "compression method %d is not supported: only Store and Deflate are", f.Method)
		}
		if f.UncompressedSize64 > math.MaxInt64 || f.CompressedSize64 > math.MaxInt64 {
			return nil, refuse(name, "declares a size over 2^63 bytes")
		}
		csize, usize := int64(f.CompressedSize64), int64(f.UncompressedSize64)
		if !folder && path.Base(name) == "." {
			return nil, refuse(name, "name has no file name")
		}
		if folder && usize != 0 {
			return nil, refuse(name, "folder entry has %d bytes of data", usize)
		}
		if f.Method == zip.Store && csize != usize {
			return nil, refuse(name, "is Stored, but its compressed size (%d) differs from its size (%d)", csize, usize)
		}
		if usize > 0 && (csize == 0 || float64(usize)/float64(csize) > o.lim.MaxRatio) {
			return nil, refuse(name, "declares a ratio of %s (%d bytes from %d), over the limit of %g:1", ratio(usize, csize), usize, csize, o.lim.MaxRatio)
		}
		total += f.UncompressedSize64
		if total > uint64(o.lim.MaxTotal) {
			return nil, &Refused{Reason: fmt.Sprintf("archive declares over %d bytes uncompressed, over the limit of %d", total, o.lim.MaxTotal)}
		}
		items[i] = item{f: f, folder: folder, csize: csize, usize: usize}
	}
	if t := float64(total); o.size > 0 && t/float64(o.size) > o.lim.MaxRatio {
		return nil, &Refused{Reason: fmt.Sprintf("archive declares %d bytes from %d, a ratio over the limit of %g:1", total, o.size, o.lim.MaxRatio)}
	}
	return items, nil
}

// ratio formats usize:csize.
func ratio(usize, csize int64) string {
	if csize == 0 {
		return "∞:1"
	}
	return fmt.Sprintf("%.0f:1", float64(usize)/float64(csize))
}

// typeName names a non-regular file type.
func typeName(t fs.FileMode) string {
	switch {
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "device"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	}
	return "irregular file"
}

// checkLayout reads every entry's local header and checks it against the
// central directory, and checks that the entries' byte ranges (local
// header, data, data descriptor) lie in the file, before the central
// directory, and do not overlap. It sets each item's data offset and
// returns the items' indexes in file order.
func (o *opener) checkLayout(items []item) ([]int, error) {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmpUint64(o.recs[a].header, o.recs[b].header)
	})
	limit := int64(o.dir.offset) // where the central directory starts
	var buf []byte
	prevEnd, prev := int64(0), -1
	for _, i := range order {
		it := &items[i]
		name := it.f.Name
		h := o.recs[i].header
		if h > uint64(o.size) || uint64(o.size)-h < localLen {
			return nil, refuse(name, "data lies outside the file (local header at %d of %d bytes)", h, o.size)
		}
		header := int64(h)
		if header+localLen > limit {
			return nil, refuse(name, "data overlaps the central directory (local header at %d, directory at %d)", header, limit)
		}
		if prev >= 0 && header < prevEnd {
			return nil, refuse(name, "data overlaps entry %q (local header at %d, inside %d..%d)", items[prev].f.Name, header, o.recs[prev].header, prevEnd)
		}
		var fixed [localLen]byte
		if err := o.readAt(fixed[:], header, "local header"); err != nil {
			return nil, err
		}
		if le32(fixed[0:]) != localSig {
			return nil, refuse(name, "has no local header at offset %d", header)
		}
		n, m := int64(le16(fixed[26:])), int64(le16(fixed[28:]))
		data := header + localLen + n + m
		if data > limit {
			return nil, refuse(name, "data overlaps the central directory (local header at %d, directory at %d)", header, limit)
		}
		if cap(buf) < int(n+m) {
			buf = make([]byte, n+m)
		}
		buf = buf[:n+m]
		if err := o.readAt(buf, header+localLen, "local header"); err != nil {
			return nil, err
		}
		if err := checkLocal(it, fixed[:], buf[:n], buf[n:]); err != nil {
			return nil, err
		}
		if got, err := it.f.DataOffset(); err != nil || got != data {
			if err != nil {
				return nil, o.failed(notZip("find data of entry %q: %v", name, err))
			}
			return nil, notZip("entry %q has its data at %d or %d", name, data, got)
		}
		if it.csize > limit-data {
			if it.csize > o.size-data {
				return nil, refuse(name, "data lies outside the file (%d bytes at %d of %d)", it.csize, data, o.size)
			}
			return nil, refuse(name, "data overlaps the central directory (%d bytes at %d, directory at %d)", it.csize, data, limit)
		}
		end := data + it.csize
		if it.f.Flags&flagDescriptor != 0 {
			n, err := o.checkDescriptor(it, end, limit)
			if err != nil {
				return nil, err
			}
			end += n
		}
		it.data = data
		prevEnd, prev = end, i
	}
	return order, nil
}

// checkLocal compares an entry's local header (fixed part, name and extra
// field) with its central directory header.
func checkLocal(it *item, fixed, name, extra []byte) error {
	f := it.f
	disagree := func(what string) error {
		return refuse(f.Name, "local header disagrees with the central directory: %s", what)
	}
	flags, method := le16(fixed[6:]), le16(fixed[8:])
	if string(name) != f.Name {
		return disagree(fmt.Sprintf("name %q", name))
	}
	if flags&(flagEncrypted|flagStrong) != 0 || hasExtra(extra, aesTag) {
		return refuse(f.Name, "is encrypted")
	}
	if method != f.Method {
		return disagree(fmt.Sprintf("method %d, not %d", method, f.Method))
	}
	if flags&flagDescriptor != f.Flags&flagDescriptor {
		return disagree("data descriptor flag")
	}
	if flags&flagDescriptor != 0 {
		return nil // sizes and CRC-32 follow the data
	}
	crc, csize, usize := le32(fixed[14:]), uint64(le32(fixed[18:])), uint64(le32(fixed[22:]))
	if usize == max32 || csize == max32 {
		var ok bool
		if usize, csize, ok = localZip64(usize, csize, extra); !ok {
			return disagree("no zip64 sizes")
		}
	}
	if csize != f.CompressedSize64 || usize != f.UncompressedSize64 {
		return disagree(fmt.Sprintf("sizes %d and %d, not %d and %d", csize, usize, f.CompressedSize64, f.UncompressedSize64))
	}
	if crc != f.CRC32 {
		return disagree(fmt.Sprintf("CRC-32 %08x, not %08x", crc, f.CRC32))
	}
	return nil
}

// localZip64 reads a local header's sizes from its ZIP64 extra field.
func localZip64(usize, csize uint64, extra []byte) (uint64, uint64, bool) {
	field, ok := findExtra(extra, zip64Tag)
	if !ok {
		return 0, 0, false
	}
	for _, v := range []*uint64{&usize, &csize} {
		if *v != max32 {
			continue
		}
		if len(field) < 8 {
			return 0, 0, false
		}
		*v = le64(field)
		field = field[8:]
	}
	return usize, csize, true
}

// checkDescriptor checks the data descriptor at end, before limit, against
// the central directory, and returns its length (the shortest it can be:
// 12 bytes, 16 with its signature).
func (o *opener) checkDescriptor(it *item, end, limit int64) (int64, error) {
	name := it.f.Name
	var b [16]byte
	n := min(int64(len(b)), limit-end)
	if n < 12 {
		return 0, refuse(name, "data descriptor overlaps the central directory")
	}
	if err := o.readAt(b[:n], end, "data descriptor"); err != nil {
		return 0, err
	}
	crc, length := le32(b[0:]), int64(12)
	if crc == descriptorSig && n == 16 {
		crc, length = le32(b[4:]), 16
	}
	if crc != it.f.CRC32 {
		return 0, refuse(name, "data descriptor disagrees with the central directory: CRC-32 %08x, not %08x", crc, it.f.CRC32)
	}
	return length, nil
}

// findExtra returns the first extra field with the tag.
func findExtra(extra []byte, tag uint16) ([]byte, bool) {
	for e := extra; len(e) >= 4; {
		t, n := le16(e), int(le16(e[2:]))
		e = e[4:]
		if len(e) < n {
			break
		}
		if t == tag {
			return e[:n], true
		}
		e = e[n:]
	}
	return nil, false
}

// hasExtra reports whether extra has a field with the tag.
func hasExtra(extra []byte, tag uint16) bool {
	_, ok := findExtra(extra, tag)
	return ok
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
