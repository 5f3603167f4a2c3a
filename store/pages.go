package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	mathbits "math/bits"
)

// This file reads a bbolt file page by page, with ReadAt and bounds checks
// on every field, instead of through bbolt's memory map: bbolt trusts the
// file, so a truncated file makes it fault (SIGBUS) and a damaged page makes
// it panic. Open uses it to inspect a file before bbolt maps it, `state
// check` to verify one, and Salvage to copy what is readable out of one.
//
// The format is that of bbolt v1.5.0 (go.etcd.io/bbolt/internal/common).
// Integers are in the machine's byte order, as bbolt writes them through
// unsafe casts.
//
//	page header (16 bytes): id u64, flags u16, count u16, overflow u32; a
//	    page with overflow n spans n+1 pages
//	meta, after the header of pages 0 and 1: magic u32, version u32,
//	    pageSize u32, flags u32, root bucket (root u64, sequence u64),
//	    freelist u64, pgid u64 (the high water mark: pages 0..pgid-1 are in
//	    use or free), txid u64, checksum u64 (FNV-1a 64 of the 56 bytes
//	    before it). bbolt writes the meta of transaction t to page t%2 and
//	    uses the valid meta with the higher txid.
//	branch element (16 bytes): pos u32, ksize u32, child pgid u64
//	leaf element (16 bytes): flags u32 (1: a bucket), pos u32, ksize u32,
//	    vsize u32; pos counts from the element itself
//	bucket value: root pgid u64, sequence u64, then, when root is 0, an
//	    inline leaf page holding the whole bucket
//	freelist page: count free pgids of 8 bytes, or, when count is 0xFFFF,
//	    the count in the first 8 bytes and the pgids after it
const (
	boltMagic     = 0xED0CDAED
	boltVersion   = 2
	pageHeader    = 16
	elemSize      = 16
	metaSize      = 64
	flagBranch    = 0x01
	flagLeaf      = 0x02
	flagMeta      = 0x04
	flagFreelist  = 0x10
	leafIsBucket  = 0x01
	noFreelist    = ^uint64(0)
	bucketHeader  = 16
	minPageSize   = 1024
	maxPageSize   = 1 << 24
	maxTreeDepth  = 64
	freelistLarge = 0xFFFF
)

var ne = binary.NativeEndian

// boltMeta is a decoded meta page.
type boltMeta struct {
	pageSize             uint32
	root, seq            uint64
	freelist, pgid, txid uint64
}

// parseMeta decodes the meta in page b and says why it is not valid.
func parseMeta(b []byte) (boltMeta, error) {
	if len(b) < pageHeader+metaSize {
		return boltMeta{}, errors.New("cut short")
	}
	m := b[pageHeader : pageHeader+metaSize]
	switch {
	case ne.Uint32(m) != boltMagic:
		return boltMeta{}, errors.New("no bbolt magic number")
	case ne.Uint32(m[4:]) != boltVersion:
		return boltMeta{}, fmt.Errorf("bbolt format version %d, want %d", ne.Uint32(m[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if h.Sum64() != ne.Uint64(m[56:]) {
		return boltMeta{}, errors.New("checksum mismatch")
	}
	mt := boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		seq:      ne.Uint64(m[24:]),
		freelist: ne.Uint64(m[32:]),
		pgid:     ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}
	switch ps := mt.pageSize; {
	case ps < minPageSize || ps > maxPageSize || mathbits.OnesCount32(ps) != 1:
		return boltMeta{}, fmt.Errorf("page size %d", ps)
	case mt.pgid < 4 || mt.pgid > 1<<48:
		return boltMeta{}, fmt.Errorf("high water mark %d", mt.pgid)
	case mt.root < 2 || mt.root >= mt.pgid:
		return boltMeta{}, fmt.Errorf("root page %d outside 2..%d", mt.root, mt.pgid-1)
	case mt.freelist != noFreelist && (mt.freelist < 2 || mt.freelist >= mt.pgid):
		return boltMeta{}, fmt.Errorf("freelist page %d outside 2..%d", mt.freelist, mt.pgid-1)
	}
	return mt, nil
}

// pageFile is a bbolt file read through ReadAt.
type pageFile struct {
	r        io.ReaderAt
	size     int64
	pageSize int
	meta     boltMeta // the meta bbolt uses
	metaErr  [2]error // why meta page i is not valid, nil if it is
	// short is set when the file is smaller than meta.pgid pages: cut
	// short, so the pages past its end are lost.
	short error
}

// readPageFile reads the meta pages of the bbolt file r of size bytes. It
// fails only when neither meta page is valid; a file cut short is reported
// in pf.short.
func readPageFile(r io.ReaderAt, size int64) (*pageFile, error) {
	pf := &pageFile{r: r, size: size}
	// Find the page size as bbolt does: from meta page 0, or else from a
	// valid meta page at one of the page sizes bbolt allows.
	first := make([]byte, min(size, 4096))
	if _, err := r.ReadAt(first, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	m0, err0 := parseMeta(first)
	ps := int(m0.pageSize)
	if err0 != nil {
		for i := 0; i <= 14 && ps == 0; i++ {
			off := int64(1024) << i
			if off+pageHeader+metaSize > size {
				break
			}
			b := make([]byte, pageHeader+metaSize)
			if _, err := r.ReadAt(b, off); err != nil {
				return nil, err
			}
			if m, err := parseMeta(b); err == nil && int64(m.pageSize) == off {
				ps = int(m.pageSize)
			}
		}
	}
	if ps == 0 {
		return nil, fmt.Errorf("neither meta page is valid (page 0: %v; page 1: none found)", err0)
	}
	pf.pageSize = ps
	var metas [2]boltMeta
	metas[0], pf.metaErr[0] = m0, err0
	if int64(2*ps) > size {
		pf.metaErr[1] = errors.New("past the end of the file")
	} else {
		b := make([]byte, pageHeader+metaSize)
		if _, err := r.ReadAt(b, int64(ps)); err != nil {
			return nil, err
		}
		metas[1], pf.metaErr[1] = parseMeta(b)
	}
	for i, m := range metas {
		if pf.metaErr[i] == nil && int(m.pageSize) != ps {
			pf.metaErr[i] = fmt.Errorf("page size %d, the other says %d", m.pageSize, ps)
		}
	}
	switch {
	case pf.metaErr[0] == nil && (pf.metaErr[1] != nil || metas[0].txid >= metas[1].txid):
		pf.meta = metas[0]
	case pf.metaErr[1] == nil:
		pf.meta = metas[1]
	default:
		return nil, fmt.Errorf("neither meta page is valid (page 0: %v; page 1: %v)", pf.metaErr[0], pf.metaErr[1])
	}
	if want := int64(pf.meta.pgid) * int64(ps); size < want {
		pf.short = fmt.Errorf("cut short: %d bytes, but its meta page counts %d pages of %d bytes (%d bytes)", size, pf.meta.pgid, ps, want)
	}
	return pf, nil
}

// page is one page of the file, or an inline page.
type page struct {
	id    uint64
	flags uint16
	count int
	buf   []byte // the whole page, header and overflow included
}

// page reads page id, overflow included, and checks its header.
func (pf *pageFile) page(id uint64) (*page, error) {
	if id < 2 || id >= pf.meta.pgid {
		return nil, fmt.Errorf("page %d: outside the pages in use (2..%d)", id, pf.meta.pgid-1)
	}
	ps := int64(pf.pageSize)
	off := int64(id) * ps
	if off+ps > pf.size {
		return nil, fmt.Errorf("page %d: past the end of the file", id)
	}
	h := make([]byte, pageHeader)
	if _, err := pf.r.ReadAt(h, off); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	overflow := uint64(ne.Uint32(h[12:]))
	if id+overflow >= pf.meta.pgid || off+int64(overflow+1)*ps > pf.size {
		return nil, fmt.Errorf("page %d: %d overflow pages run past the pages in use", id, overflow)
	}
	buf := make([]byte, int64(overflow+1)*ps)
	if _, err := pf.r.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	p, err := parsePage(buf)
	if err == nil && p.id != id {
		err = fmt.Errorf("it calls itself page %d", p.id)
	}
	if err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return p, nil
}

// parsePage decodes the header of the page in buf.
func parsePage(buf []byte) (*page, error) {
	if len(buf) < pageHeader {
		return nil, errors.New("cut short")
	}
	p := &page{id: ne.Uint64(buf), flags: ne.Uint16(buf[8:]), count: int(ne.Uint16(buf[10:])), buf: buf}
	switch p.flags {
	case flagBranch, flagLeaf:
		if pageHeader+p.count*elemSize > len(buf) {
			return nil, fmt.Errorf("%d elements do not fit in %d bytes", p.count, len(buf))
		}
	case flagFreelist, flagMeta:
	default:
		return nil, fmt.Errorf("unknown page type %#x", p.flags)
	}
	return p, nil
}

// slice returns n bytes of the page at off, or an error if they are not
// all in it.
func (p *page) slice(off, n uint64) ([]byte, error) {
	if off > uint64(len(p.buf)) || n > uint64(len(p.buf))-off {
		return nil, fmt.Errorf("element of %d bytes at %d runs past the page's %d bytes", n, off, len(p.buf))
	}
	return p.buf[off : off+n : off+n], nil
}

// leaf returns element i of a leaf page.
func (p *page) leaf(i int) (flags uint32, key, value []byte, err error) {
	e := uint64(pageHeader + i*elemSize)
	b := p.buf[e : e+elemSize]
	flags, pos, ksize, vsize := ne.Uint32(b), uint64(ne.Uint32(b[4:])), uint64(ne.Uint32(b[8:])), uint64(ne.Uint32(b[12:]))
	kv, err := p.slice(e+pos, ksize+vsize)
	if err != nil {
		return 0, nil, nil, err
	}
	return flags, kv[:ksize:ksize], kv[ksize:], nil
}

// branch returns element i of a branch page.
func (p *page) branch(i int) (key []byte, child uint64, err error) {
	e := uint64(pageHeader + i*elemSize)
	b := p.buf[e : e+elemSize]
	key, err = p.slice(e+uint64(ne.Uint32(b)), uint64(ne.Uint32(b[4:])))
	return key, ne.Uint64(b[8:]), err
}

// freelist returns the free page ids of a freelist page.
func (p *page) freelist() ([]uint64, error) {
	if p.flags != flagFreelist {
		return nil, fmt.Errorf("page %d: a %s page, not the freelist", p.id, pageType(p.flags))
	}
	start, n := uint64(pageHeader), uint64(p.count)
	if p.count == freelistLarge {
		if len(p.buf) < pageHeader+8 {
			return nil, fmt.Errorf("freelist page %d: cut short", p.id)
		}
		n = ne.Uint64(p.buf[pageHeader:])
		start += 8
	}
	if n > uint64(len(p.buf))/8 {
		return nil, fmt.Errorf("freelist page %d: %d ids do not fit in %d bytes", p.id, n, len(p.buf))
	}
	b, err := p.slice(start, n*8)
	if err != nil {
		return nil, fmt.Errorf("freelist page %d: %w", p.id, err)
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = ne.Uint64(b[8*i:])
	}
	return ids, nil
}

func pageType(flags uint16) string {
	switch flags {
	case flagBranch:
		return "branch"
	case flagLeaf:
		return "leaf"
	case flagMeta:
		return "meta"
	case flagFreelist:
		return "freelist"
	}
	return fmt.Sprintf("type %#x", flags)
}

// badPage is a page, or a subtree, that a walk could not read.
type badPage struct {
	bucket string
	id     uint64 // 0 for an inline page
	lo, hi []byte // the keys it held are in [lo, hi); nil is unbounded
	err    error
}

func (b *badPage) Error() string {
	return fmt.Sprintf("bucket %q: %v", b.bucket, b.err)
}

// walker reads the B+trees of a pageFile. A page is read at most once: a
// second reference to it, which only a damaged file has, is a bad page, so
// a walk always ends.
type walker struct {
	pf      *pageFile
	visited map[uint64]bool
	// bad is told of each page that cannot be read or is out of order;
	// the walk skips that page's subtree if bad returns nil, and stops with
	// the error otherwise.
	bad func(*badPage) error
	// depth is how many levels below a tree's root page the walk goes; a
	// negative depth is no limit.
	depth int
}

func newWalker(pf *pageFile, bad func(*badPage) error) *walker {
	return &walker{pf: pf, visited: make(map[uint64]bool), bad: bad, depth: -1}
}

// entryFunc is called for each entry of a leaf page, in key order. key and
// value stay valid after the call.
type entryFunc func(flags uint32, key, value []byte) error

// tree walks the tree of the bucket called name whose header is hdr (the
// value of its entry in the parent, or the root bucket of the meta page).
func (w *walker) tree(name string, hdr []byte, fn entryFunc) error {
	if len(hdr) < bucketHeader {
		return w.bad(&badPage{bucket: name, err: fmt.Errorf("bucket header of %d bytes", len(hdr))})
	}
	root := ne.Uint64(hdr)
	if root != 0 {
		return w.node(name, root, nil, nil, 0, fn)
	}
	p, err := parsePage(hdr[bucketHeader:])
	if err == nil && p.flags != flagLeaf {
		err = fmt.Errorf("inline page of type %s", pageType(p.flags))
	}
	if err != nil {
		return w.bad(&badPage{bucket: name, err: fmt.Errorf("inline page: %w", err)})
	}
	return w.leaf(name, p, nil, nil, fn)
}

// node walks the subtree at page id, whose keys lie in [lo, hi).
func (w *walker) node(name string, id uint64, lo, hi []byte, depth int, fn entryFunc) error {
	bad := func(err error) error { return w.bad(&badPage{bucket: name, id: id, lo: lo, hi: hi, err: err}) }
	if w.visited[id] {
		return bad(fmt.Errorf("page %d: referenced twice", id))
	}
	p, err := w.pf.page(id)
	if err != nil {
		return bad(err)
	}
	for i := uint64(0); i < uint64(len(p.buf))/uint64(w.pf.pageSize); i++ {
		w.visited[id+i] = true
	}
	switch p.flags {
	case flagLeaf:
		return w.leaf(name, p, lo, hi, fn)
	case flagBranch:
	default:
		return bad(fmt.Errorf("page %d: a %s page inside a tree", id, pageType(p.flags)))
	}
	if p.count == 0 {
		return bad(fmt.Errorf("page %d: an empty branch page", id))
	}
	keys := make([][]byte, p.count)
	children := make([]uint64, p.count)
	for i := range keys {
		if keys[i], children[i], err = p.branch(i); err == nil {
			err = inOrder(keys, i, lo, hi)
		}
		if err != nil {
			return bad(fmt.Errorf("branch page %d, element %d: %w", id, i, err))
		}
	}
	if w.depth >= 0 && depth >= w.depth {
		return nil
	}
	if depth >= maxTreeDepth {
		return bad(fmt.Errorf("page %d: the tree is deeper than %d levels", id, maxTreeDepth))
	}
	for i, child := range children {
		// bbolt keeps each element's key equal to the first key below it,
		// so child i holds the keys in [keys[i], keys[i+1]).
		clo, chi := keys[i], hi
		if i+1 < len(keys) {
			chi = keys[i+1]
		}
		if err := w.node(name, child, clo, chi, depth+1, fn); err != nil {
			return err
		}
	}
	return nil
}

// leaf checks the leaf page p, whose keys lie in [lo, hi), and calls fn for
// its entries. A page with any unreadable element is bad as a whole: the
// entries read from it before the damage are not trusted either.
func (w *walker) leaf(name string, p *page, lo, hi []byte, fn entryFunc) error {
	type entry struct {
		flags      uint32
		key, value []byte
	}
	entries := make([]entry, p.count)
	keys := make([][]byte, p.count)
	for i := range entries {
		e := &entries[i]
		var err error
		if e.flags, e.key, e.value, err = p.leaf(i); err == nil {
			keys[i] = e.key
			err = inOrder(keys, i, lo, hi)
		}
		if err != nil {
			return w.bad(&badPage{bucket: name, id: p.id, lo: lo, hi: hi, err: fmt.Errorf("leaf page %d, element %d: %w", p.id, i, err)})
		}
	}
	for _, e := range entries {
		if err := fn(e.flags, e.key, e.value); err != nil {
			return err
		}
	}
	return nil
}

// inOrder checks that keys[i] follows keys[i-1] and lies in [lo, hi).
func inOrder(keys [][]byte, i int, lo, hi []byte) error {
	k := keys[i]
	switch {
	case i > 0 && bytes.Compare(keys[i-1], k) >= 0:
		return fmt.Errorf("key %x does not follow key %x", k, keys[i-1])
	case i == 0 && lo != nil && bytes.Compare(k, lo) < 0:
		return fmt.Errorf("key %x below the parent's bound %x", k, lo)
	case hi != nil && bytes.Compare(k, hi) >= 0:
		return fmt.Errorf("key %x not below the next key of the parent %x", k, hi)
	}
	return nil
}
