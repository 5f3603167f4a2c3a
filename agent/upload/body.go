package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrChanged means the file is not the one that was queued any more: its
// size or modification time changed, or it ended early. This version of the
// file will never be sent; the caller should look at the file again.
var ErrChanged = errors.New("file changed while it was being uploaded")

// Body is the file part of a form.
//
// When ContentType is empty, it follows the extension of Name, in any case:
// .wav audio/wav, .mp3 audio/mpeg, .m4a audio/mp4, .flac audio/flac, .zip
// application/zip, .json application/json, anything else
// application/octet-stream.
type Body struct {
	Name        string                        // file name given in the file part's Content-Disposition
	ContentType string                        // "" = from the extension of Name
	Size        int64                         // exact bytes to send
	Open        func() (io.ReadCloser, error) // called once per Post; the reader must give at least Size bytes

	// Ready, if set, holds back the end of the upload until it returns:
	// Post sends the fields and the whole file, then calls Ready, and
	// sends the body's last bytes (the closing boundary, without which
	// the server cannot store the object) only once Ready returned nil.
	// If Ready fails, the request is abandoned without them, the server
	// stores nothing, and Post returns a Retry error wrapping Ready's,
	// with Local set. A caller uses it to make a record durable, while
	// the file streams, that must exist before the object does.
	//
	// Ready is called at most once per Post, on the goroutine reading the
	// request body, and never after Post returned; it is not called when
	// the upload fails before the whole file was sent. Post does not
	// return while Ready runs, so Ready must return soon after ctx is
	// done (ctx ends when Post's does, or when Post gives up), and must
	// not wait for anything the caller does after Post returned. The stall
	// timeout does not count Ready's wait, but a storage server gives up
	// on a body that stops for long (S3 answers RequestTimeout), so Ready
	// should not wait more than a few seconds.
	Ready func(ctx context.Context) error
}

// FileBody returns the Body for the file at path, sent under name. The file
// is opened without following a symbolic link (or, on Windows, a junction
// or other link) in path's last element: a link there fails with ErrChanged.
// Links in the folders above it are followed; OpenedFileBody with an opener
// that refuses them is the way to refuse those too. On Windows the file is
// opened with every sharing mode, so that its writer may still rename or
// delete it while it is sent.
//
// Post fails with an error wrapping ErrChanged when the file is not a
// regular file of size bytes at open, when it ends early, or when its size
// or modification time differ after its last byte was read from what they
// were at open; in each case the request is abandoned before its last byte,
// so the server stores nothing.
func FileBody(path, name string, size int64) Body {
	return Body{
		Name: name,
		Size: size,
		Open: func() (io.ReadCloser, error) {
			f, err := openNoFollow(path)
			if err != nil {
				return nil, err
			}
			return checkFile(f, size, time.Time{})
		},
	}
}

// OpenedFileBody returns the Body for the file that open opens, sent under
// name. open is called once per Post; it decides how the file is found
// (for example, refusing every symbolic link on the way), and the name of
// the *os.File it returns is the one errors give. Post fails with an error
// wrapping ErrChanged, and closes the file, unless what open returned is a
// regular file of exactly size bytes, modified at exactly mtime (to the
// nanosecond, as the file's stat gave it when it was queued; a zero mtime is
// not checked). Once open, the file is read as FileBody's is: it must not
// end early, nor change its size or modification time before its last byte
// was read.
func OpenedFileBody(open func() (*os.File, error), name string, size int64, mtime time.Time) Body {
	return Body{
		Name: name,
		Size: size,
		Open: func() (io.ReadCloser, error) {
			f, err := open()
			if err != nil {
				return nil, err
			}
			if f == nil {
				return nil, errors.New("the opener returned no file")
			}
			return checkFile(f, size, mtime)
		},
	}
}

// file reads a file that must not change while it is read.
type file struct {
	*os.File
	size  int64
	mtime time.Time
	left  int64 // bytes not read yet
}

// checkFile returns f to be read, if it is a regular file of size bytes
// modified at mtime (unless mtime is zero); if not, it closes f.
func checkFile(f *os.File, size int64, mtime time.Time) (*file, error) {
	fi, err := f.Stat()
	if err == nil {
		err = sameFile(f.Name(), fi, size, mtime)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &file{File: f, size: size, mtime: fi.ModTime(), left: size}, nil
}

// sameFile checks that fi is a regular file of size bytes, modified at mtime
// unless mtime is zero.
func sameFile(path string, fi fs.FileInfo, size int64, mtime time.Time) error {
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s: %w: not a regular file", path, ErrChanged)
	case fi.Size() != size:
		return fmt.Errorf("%s: %w: %d bytes, expected %d", path, ErrChanged, fi.Size(), size)
	case !mtime.IsZero() && !fi.ModTime().Equal(mtime):
		return fmt.Errorf("%s: %w: modified at %s", path, ErrChanged, fi.ModTime().Format(time.RFC3339Nano))
	}
	return nil
}

// Read reads the file and, when its last expected byte was read, checks
// that it still is the file that was opened.
func (f *file) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	f.left -= int64(n)
	if n > 0 && f.left <= 0 {
		fi, serr := f.Stat()
		if serr == nil {
			serr = sameFile(f.Name(), fi, f.size, f.mtime)
		}
		if serr != nil {
			return n, serr
		}
	}
	return n, err
}

// contentTypes are the types of the files Vela takes, by extension.
var contentTypes = map[string]string{
	".wav":  "audio/wav",
	".mp3":  "audio/mpeg",
	".m4a":  "audio/mp4",
	".flac": "audio/flac",
	".zip":  "application/zip",
	".json": "application/json",
}

// typeByName returns the content type for a file name's extension, in any
// case, or application/octet-stream. It does not ask the system's MIME
// database, whose answers differ between machines.
func typeByName(name string) string {
	if t, ok := contentTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// localKind says what to do after the file could not be opened or read,
// or Body.Ready failed.
func localKind(err error) Kind {
	var re *readyError
	if errors.As(err, &re) {
		return Retry
	}
	if errors.Is(err, ErrChanged) || errors.Is(err, fs.ErrNotExist) {
		return Permanent
	}
	return Retry
}

// errClosed is what the transport reads after Post gave up on the request.
var errClosed = errors.New("upload: body read after the upload ended")

// Progress reports are made at most this often, or after this many bytes.
const (
	reportEvery = 100 * time.Millisecond
	reportBytes = 1 << 20
)

// body is a request body: head, then exactly size bytes of src, then tail.
//
// The transport calls Read from one goroutine at a time; the fields below mu
// are touched only by Read. Post calls Close before it returns, which may be
// while the transport still reads.
type body struct {
	ctx        context.Context // the request's; ends limiter waits
	head, tail []byte
	src        io.ReadCloser
	size       int64
	limiter    *Limiter
	progress   func(sent int64)

	ready    func(ctx context.Context) error // Body.Ready
	activity atomic.Int64                    // bytes moved either way, watched for stalls
	waiting  atomic.Bool                     // Ready is running: the watchdog does not count the time

	mu       sync.Mutex // guards src, err, readyErr, readied and closed; held while reading src and calling progress or ready
	err      error      // first error from src, sticky
	readyErr error      // what ready returned, if not nil; sticky
	readied  bool       // ready was called
	closed   bool

	off        int64 // bytes of the whole body returned so far
	sent       int64 // bytes of src returned so far
	reported   int64 // sent at the last progress call
	reportedAt time.Time
}

func (b *body) Read(p []byte) (int, error) {
	head, size := int64(len(b.head)), b.size
	switch {
	case b.off < head:
		return b.readBytes(p, b.head[b.off:]), nil
	case b.off < head+size:
		return b.readSource(p)
	case b.off < head+size+int64(len(b.tail)):
		if b.ready != nil {
			if err := b.awaitReady(); err != nil {
				return 0, err
			}
		}
		return b.readBytes(p, b.tail[b.off-head-size:]), nil
	}
	return 0, io.EOF
}

// awaitReady calls ready the first time the tail is to be read, and returns
// what it returned, then and ever after. It holds mu while ready runs, so
// that Close, and so Post, waits for it to return.
func (b *body) awaitReady() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return errClosed
	case b.readied:
		return b.readyErr
	}
	b.readied = true
	b.waiting.Store(true)
	err := b.ready(b.ctx)
	b.waiting.Store(false)
	if err == nil {
		err = b.ctx.Err() // the request is over; the transport must not send the tail
	}
	b.readyErr = err
	return err
}

func (b *body) readBytes(p, from []byte) int {
	n := copy(p, from)
	b.off += int64(n)
	b.activity.Add(int64(n))
	return n
}

func (b *body) readSource(p []byte) (int, error) {
	if left := b.size - b.sent; int64(len(p)) > left {
		p = p[:left]
	}
	if b.limiter != nil {
		n, err := b.limiter.take(b.ctx, len(p))
		if err != nil {
			return 0, err // the request was cancelled; Post reports why
		}
		p = p[:n]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, errClosed
	case b.err != nil:
		return 0, b.err
	}
	n, err := b.src.Read(p)
	b.off += int64(n)
	b.sent += int64(n)
	b.activity.Add(int64(n))
	if err == io.EOF {
		err = nil
		if b.sent < b.size {
			err = fmt.Errorf("%w: it ended after %d of %d bytes", ErrChanged, b.sent, b.size)
		}
	}
	if err != nil {
		b.err = err
		return n, err
	}
	if b.progress != nil && n > 0 {
		now := time.Now()
		if b.sent == b.size || b.sent-b.reported >= reportBytes || now.Sub(b.reportedAt) >= reportEvery {
			b.reported, b.reportedAt = b.sent, now
			b.progress(b.sent)
		}
	}
	return n, nil
}

// localErr returns the error that reading the file failed with, or else
// the error that ready returned, if any.
func (b *body) localErr() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	if b.readyErr != nil {
		return &readyError{b.readyErr}
	}
	return nil
}

// readyError is why Body.Ready did not let the upload end.
type readyError struct{ err error }

func (e *readyError) Error() string { return "not completed: " + e.err.Error() }
func (e *readyError) Unwrap() error { return e.err }

// Close closes the file once. It always returns nil: the file was only
// read, and an error here must not fail a request whose bytes were all sent.
func (b *body) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		b.src.Close()
	}
	return nil
}

// activityReader counts the bytes read from a response as activity.
type activityReader struct {
	r io.Reader
	n *atomic.Int64
}

func (a activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	a.n.Add(int64(n))
	return n, err
}

// stallError is why a request that made no progress was cancelled.
type stallError time.Duration

func (e stallError) Error() string { return fmt.Sprintf("no progress for %v", time.Duration(e)) }

// Timeout reports true, like other network timeouts.
func (stallError) Timeout() bool { return true }

// watch cancels ctx with a stallError once activity has not changed for
// timeout, not counting the time while paused is set. It returns when ctx
// is done.
func watch(ctx context.Context, cancel context.CancelCauseFunc, timeout time.Duration, activity *atomic.Int64, paused *atomic.Bool) {
	t := time.NewTicker(max(timeout/8, time.Millisecond))
	defer t.Stop()
	last, since := activity.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n := activity.Load(); n != last || paused.Load() {
				last, since = n, now
			} else if now.Sub(since) >= timeout {
				cancel(stallError(timeout))
				return
			}
		}
	}
}
