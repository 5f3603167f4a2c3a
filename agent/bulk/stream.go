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

// streamer is the memory one Verify or Extract streams through. Streamers
// are pooled, so that streaming many entries allocates nothing per entry
// but a section reader.
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

// Verify decompresses every entry once, to nowhere, and refuses (with *Refused) the archive when an entry's data does not match its declared size or CRC-32, or is truncated: the "declared sizes that lie" check, which cannot be made from headers. It reads the whole archive once, streaming, in bounded memory; ctx cancels it.
//
// Entries are read in file order. Verify also refuses compressed data that
// is corrupt or has bytes after the end of its Deflate stream. An error that
// is not a *Refused is a failure to read the archive or ctx's error.
func (a *Archive) Verify(ctx context.Context) error {
	s := getStreamer()
	defer putStreamer(s)
	for _, i := range a.order {
		if _, err := a.stream(ctx, i, nil, s); err != nil {
			return err
		}
	}
	return nil
}

// Extract streams entry i to w, checking its size and CRC-32; an entry that yields more bytes than declared is cut off and is an error. It returns the bytes written.
//
// i is an Entry's Index. A data error is a *Refused, as from Verify, and
// comes after w has been given the bad data (up to the declared size): a
// caller that writes to a file removes it on any error.
func (a *Archive) Extract(ctx context.Context, i int, w io.Writer) (int64, error) {
	if i < 0 || i >= len(a.items) {
		return 0, fmt.Errorf("extract entry %d: the archive has entries 0 to %d", i, len(a.items)-1)
	}
	s := getStreamer()
	defer putStreamer(s)
	return a.stream(ctx, i, w, s)
}

// stream decompresses item i, checks it against its header and writes it
// to w, if w is not nil. It returns the bytes written.
func (a *Archive) stream(ctx context.Context, i int, w io.Writer, s *streamer) (int64, error) {
	it := &a.items[i]
	name := it.f.Name
	raw := &trackedReader{r: io.NewSectionReader(a.r, it.data, it.csize)}
	var src io.Reader = raw
	if it.f.Method == zip.Deflate {
		if s.fr == nil {
			s.br = bufio.NewReaderSize(raw, bufSize)
			s.fr = flate.NewReader(s.br)
		} else {
			s.br.Reset(raw)
			if err := s.fr.(flate.Resetter).Reset(s.br, nil); err != nil {
				return 0, fmt.Errorf("read entry %q: reset decompressor: %w", name, err)
			}
		}
		src = s.fr
	}
	var crc uint32
	var got, written int64
	for {
		if err := ctx.Err(); err != nil {
			return written, fmt.Errorf("read entry %q: %w", name, err)
		}
		n, err := src.Read(s.buf)
		if n > 0 {
			chunk := s.buf[:n]
			over := int64(n) > it.usize-got
			if over {
				chunk = chunk[:it.usize-got]
			}
			crc = crc32.Update(crc, crc32.IEEETable, chunk)
			got += int64(len(chunk))
			if w != nil && len(chunk) > 0 {
				wn, werr := w.Write(chunk)
				written += int64(wn)
				if werr == nil && wn < len(chunk) {
					werr = io.ErrShortWrite
				}
				if werr != nil {
					return written, fmt.Errorf("write entry %q: %w", name, werr)
				}
			}
			if over {
				return written, refuse(name, "data is longer than the declared %d bytes", it.usize)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return written, dataError(name, raw, err)
		}
	}
	if got < it.usize {
		return written, refuse(name, "data is %d bytes, shorter than the declared %d: truncated", got, it.usize)
	}
	if it.f.Method == zip.Deflate && (s.br.Buffered() > 0 || raw.n < it.csize) {
		return written, refuse(name, "compressed data goes on after the end of its Deflate stream")
	}
	if crc != it.f.CRC32 {
		return written, refuse(name, "data has CRC-32 %08x, but the header says %08x", crc, it.f.CRC32)
	}
	return written, nil
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
