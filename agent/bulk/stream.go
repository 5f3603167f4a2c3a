package bulk

import (
	"archive/zip"
	"bufio"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// bufSize is the size of the buffer an entry's data passes through, and of
// the read-ahead under the decompressor.
const bufSize = 64 << 10

// streamer is the memory one reader of an entry streams through.
// Streamers are pooled, so that streaming many entries allocates nothing
// per entry but a section reader.
type streamer struct {
	buf []byte
	br  *bufio.Reader // compressed data, under fr
	fr  io.ReadCloser // a flate reader, made on first use
}

var streamers = sync.Pool{New: func() any { return &streamer{buf: make([]byte, bufSize)} }}

func getStreamer() *streamer { return streamers.Get().(*streamer) }

// putStreamer returns s to the pool, letting go of the archive it read.
func putStreamer(s *streamer) {
	if s.br != nil {
		s.br.Reset(eof{})
	}
	streamers.Put(s)
}

// eof is an empty reader.
type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }

// Verify decompresses every entry once, to nowhere, and refuses (with
// *Refused) the archive when an entry's data does not match its declared
// size or CRC-32, or is truncated: the "declared sizes that lie" check,
// which cannot be made from headers. It reads the whole archive once,
// streaming, in bounded memory; ctx cancels it.
//
// Entries are read in file order. Verify also refuses compressed data that
// is corrupt or has bytes after the end of its Deflate stream. An error that
// is not a *Refused is a failure to read the archive or ctx's error.
func (a *Archive) Verify(ctx context.Context) error {
	s := getStreamer()
	defer putStreamer(s)
	for _, i := range a.order {
		if _, err := a.copyEntry(ctx, i, nil, s); err != nil {
			return err
		}
	}
	return nil
}

// Extract streams entry i to w, checking it as [Archive.Open]'s reader
// does, and returns the bytes written. i is an Entry's Index.
//
// A data error is a *Refused, as from Verify. w is never given the whole
// of a bad entry: the last bytes are held back until the checks passed.
func (a *Archive) Extract(ctx context.Context, i int, w io.Writer) (int64, error) {
	if err := a.valid(i); err != nil {
		return 0, err
	}
	s := getStreamer()
	defer putStreamer(s)
	return a.copyEntry(ctx, i, w, s)
}

// Open returns a reader of entry i's data, decompressed and checked: the
// read that would complete the entry returns its last bytes only if the
// data matches the declared size and CRC-32 and its Deflate stream ends
// there; otherwise it returns 0 and a *Refused. A caller that passes on
// what it reads (an upload) therefore never passes on a bad entry whole.
// After the last byte, Read returns io.EOF.
//
// Close gives back the memory the reader streams through; it must be
// called. The io.ReaderAt given to Open must stay readable until then.
func (a *Archive) Open(i int) (io.ReadCloser, error) {
	if err := a.valid(i); err != nil {
		return nil, err
	}
	s := getStreamer()
	r := &entryReader{s: s}
	if err := r.reset(a, i); err != nil {
		putStreamer(s)
		return nil, err
	}
	return r, nil
}

// ReaderAt returns random access to entry i's decompressed data, for
// reading a recording's headers: a stored entry is read in place; a
// deflated one is decompressed from its start up to what is asked, and from
// the start again when an earlier offset is asked after a later one (so
// reading forward costs one pass). Data read through it is checked as
// Open's is when a read reaches the entry's end. Close gives back its
// memory.
func (a *Archive) ReaderAt(i int) (ReadAtCloser, error) {
	if err := a.valid(i); err != nil {
		return nil, err
	}
	it := &a.items[i]
	if it.f.Method == zip.Store {
		return storedAt{io.NewSectionReader(a.r, it.data, it.usize)}, nil
	}
	return &inflateAt{a: a, i: i, size: it.usize}, nil
}

// ReadAtCloser is what [Archive.ReaderAt] returns.
type ReadAtCloser interface {
	io.ReaderAt
	io.Closer
}

func (a *Archive) valid(i int) error {
	if i < 0 || i >= len(a.items) {
		return fmt.Errorf("entry %d: the archive has entries 0 to %d", i, len(a.items)-1)
	}
	return nil
}

// copyEntry copies entry i, checked, to w, if w is not nil, and returns
// the bytes written.
func (a *Archive) copyEntry(ctx context.Context, i int, w io.Writer, s *streamer) (int64, error) {
	r := &entryReader{s: s}
	if err := r.reset(a, i); err != nil {
		return 0, err
	}
	var written int64
	for {
		if err := ctx.Err(); err != nil {
			return written, fmt.Errorf("read entry %q: %w", r.it.f.Name, err)
		}
		n, err := r.Read(s.buf)
		if w != nil && n > 0 {
			wn, werr := w.Write(s.buf[:n])
			written += int64(wn)
			if werr == nil && wn < n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				return written, fmt.Errorf("write entry %q: %w", r.it.f.Name, werr)
			}
		}
		if err == io.EOF {
			return written, nil
		}
		if err != nil {
			return written, err
		}
	}
}

// entryReader reads one entry's data, checking it (see Archive.Open).
type entryReader struct {
	s    *streamer
	it   *item
	raw  trackedReader
	src  io.Reader // raw, or the flate reader over it
	crc  uint32
	got  int64
	err  error // sticky: the error every later Read returns
	done bool  // the whole entry was read and checked
}

// reset makes r read entry i of a from its start.
func (r *entryReader) reset(a *Archive, i int) error {
	it := &a.items[i]
	*r = entryReader{s: r.s, it: it, raw: trackedReader{r: io.NewSectionReader(a.r, it.data, it.csize)}}
	r.src = &r.raw
	if it.f.Method == zip.Deflate {
		s := r.s
		if s.fr == nil {
			s.br = bufio.NewReaderSize(&r.raw, bufSize)
			s.fr = flate.NewReader(s.br)
		} else {
			s.br.Reset(&r.raw)
			if err := s.fr.(flate.Resetter).Reset(s.br, nil); err != nil {
				return fmt.Errorf("read entry %q: reset decompressor: %w", it.f.Name, err)
			}
		}
		r.src = s.fr
	}
	return nil
}

func (r *entryReader) Read(p []byte) (int, error) {
	switch {
	case r.err != nil:
		return 0, r.err
	case r.done:
		return 0, io.EOF
	case r.s == nil:
		return 0, errors.New("read entry: reader closed")
	}
	if left := r.it.usize - r.got; int64(len(p)) > left {
		p = p[:left]
	}
	var n int
	var err error
	if len(p) > 0 {
		n, err = r.src.Read(p)
		r.crc = crc32.Update(r.crc, crc32.IEEETable, p[:n])
		r.got += int64(n)
	}
	switch {
	case err != nil && err != io.EOF:
		r.err = dataError(r.it.f.Name, &r.raw, err)
	case r.got == r.it.usize:
		r.err = r.finish()
		r.done = r.err == nil
	case err == io.EOF:
		r.err = refuse(r.it.f.Name, "data is %d bytes, shorter than the declared %d: truncated", r.got, r.it.usize)
	}
	if r.err != nil {
		return 0, r.err // the last bytes of a bad entry are never given
	}
	return n, nil
}

// finish checks an entry read to its declared size: nothing more, the
// Deflate stream at its end, the CRC-32 right.
func (r *entryReader) finish() error {
	it := r.it
	name := it.f.Name
	if it.f.Method == zip.Deflate {
		var b [512]byte
		for k := 0; ; k++ {
			n, err := r.src.Read(b[:])
			if n > 0 {
				return refuse(name, "data is longer than the declared %d bytes", it.usize)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return dataError(name, &r.raw, err)
			}
			if k > 100 {
				return refuse(name, "compressed data cannot be read: no progress at its end")
			}
		}
		if r.s.br.Buffered() > 0 || r.raw.n < it.csize {
			return refuse(name, "compressed data goes on after the end of its Deflate stream")
		}
	}
	if r.crc != it.f.CRC32 {
		return refuse(name, "data has CRC-32 %08x, but the header says %08x", r.crc, it.f.CRC32)
	}
	return nil
}

func (r *entryReader) Close() error {
	if r.s != nil {
		putStreamer(r.s)
		r.s = nil
	}
	return nil
}

// storedAt reads a stored entry in place.
type storedAt struct{ *io.SectionReader }

func (storedAt) Close() error { return nil }

// inflateAt gives random access to a deflated entry by decompressing it
// forward.
type inflateAt struct {
	a    *Archive
	i    int
	size int64
	r    *entryReader // nil until the first read
	pos  int64        // offset of r's next byte
}

func (x *inflateAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("read entry: negative offset")
	}
	if off >= x.size {
		return 0, io.EOF
	}
	if x.r == nil || off < x.pos {
		if x.r == nil {
			x.r = &entryReader{s: getStreamer()}
		}
		if err := x.r.reset(x.a, x.i); err != nil {
			return 0, err
		}
		x.pos = 0
	}
	for x.pos < off {
		skip := x.r.s.buf[:min(int64(len(x.r.s.buf)), off-x.pos)]
		n, err := x.r.Read(skip)
		x.pos += int64(n)
		if err != nil {
			return 0, err
		}
	}
	want := p[:min(int64(len(p)), x.size-off)]
	n, err := io.ReadFull(x.r, want)
	x.pos += int64(n)
	if err == nil && len(want) < len(p) {
		err = io.EOF
	}
	return n, err
}

func (x *inflateAt) Close() error {
	if x.r != nil {
		x.r.Close()
		x.r = nil
	}
	return nil
}

// dataError turns an error reading an entry's data into the error to
// return: the reader's own error if reading failed, a refusal if the data
// is bad.
func dataError(name string, raw *trackedReader, err error) error {
	if raw.err != nil {
		return fmt.Errorf("read entry %q: %w", name, raw.err)
	}
	var corrupt flate.CorruptInputError
	switch {
	case errors.As(err, &corrupt):
		return refuse(name, "compressed data is corrupt at byte %d", int64(corrupt))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return refuse(name, "compressed data is truncated")
	}
	return refuse(name, "compressed data cannot be read: %v", err)
}

// trackedReader counts what r gave and remembers its first error that is
// not io.EOF.
type trackedReader struct {
	r   io.Reader
	n   int64
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}
