package upload

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// postLocal posts b to a recording server and checks that it failed as a
// local error of kind, wrapping want if set, before any request was made.
func postLocal(t *testing.T, b Body, kind Kind, want error) *Error {
	t.Helper()
	rec := newRecorder(t, nil)
	_, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, b, nil)
	var e *Error
	if !errors.As(err, &e) || e.Kind != kind || !e.Local || (want != nil && !errors.Is(err, want)) {
		t.Fatalf("got %#v (%v), want a local %v error wrapping %v", err, err, kind, want)
	}
	if n := len(rec.requests()); n != 0 {
		t.Errorf("%d requests, want none", n)
	}
	return e
}

// postOK posts b and checks that the server got the file whole.
func postOK(t *testing.T, b Body, sum [32]byte) {
	t.Helper()
	rec := newRecorder(t, nil)
	if _, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, b, nil); err != nil {
		t.Fatal(err)
	}
	if reqs := rec.requests(); len(reqs) != 1 || reqs[0].err != nil || reqs[0].fileSum != sum {
		t.Fatalf("server got %+v", reqs)
	}
}

func TestFileBodyLinks(t *testing.T) {
	path, sum := randomFile(t, 1000)
	dir := t.TempDir()
	link := filepath.Join(dir, "link.wav")
	if err := os.Symlink(path, link); err != nil {
		t.Skipf("cannot make a symbolic link here: %v", err)
	}
	t.Run("regular file", func(t *testing.T) {
		postOK(t, FileBody(path, "call_001.wav", 1000), sum)
	})
	t.Run("symbolic link", func(t *testing.T) {
		e := postLocal(t, FileBody(link, "call_001.wav", 1000), Permanent, ErrChanged)
		if !strings.Contains(e.Error(), "symbolic link") {
			t.Errorf("message %q does not say why", e)
		}
	})
	t.Run("dangling symbolic link", func(t *testing.T) {
		dangling := filepath.Join(dir, "dangling.wav")
		if err := os.Symlink(path+".gone", dangling); err != nil {
			t.Fatal(err)
		}
		postLocal(t, FileBody(dangling, "call_001.wav", 1000), Permanent, ErrChanged)
	})
	t.Run("link in a folder above is followed", func(t *testing.T) {
		up := filepath.Join(dir, "up")
		if err := os.Symlink(filepath.Dir(path), up); err != nil {
			t.Fatal(err)
		}
		postOK(t, FileBody(filepath.Join(up, filepath.Base(path)), "call_001.wav", 1000), sum)
	})
}

func TestFileBodyUnreadable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("chmod does not take read permission away on Windows")
	}
	if os.Geteuid() == 0 {
		t.Skip("running as root, which reads any file whatever its mode; TestOpenedFileBody covers permission errors with an opener")
	}
	path, _ := randomFile(t, 100)
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	postLocal(t, FileBody(path, "call_001.wav", 100), Retry, fs.ErrPermission)
}

func TestOpenedFileBody(t *testing.T) {
	path, sum := randomFile(t, 1000)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	mtime := fi.ModTime()
	opener := func(p string) func() (*os.File, error) { return func() (*os.File, error) { return os.Open(p) } }

	t.Run("same size and mtime", func(t *testing.T) {
		postOK(t, OpenedFileBody(opener(path), "call_001.wav", 1000, mtime), sum)
	})
	t.Run("mtime not checked", func(t *testing.T) {
		postOK(t, OpenedFileBody(opener(path), "call_001.wav", 1000, time.Time{}), sum)
	})
	t.Run("mtime in another zone", func(t *testing.T) {
		postOK(t, OpenedFileBody(opener(path), "call_001.wav", 1000, mtime.In(time.FixedZone("x", 3600))), sum)
	})

	var closed []*os.File
	tracked := func(p string) func() (*os.File, error) {
		return func() (*os.File, error) {
			f, err := os.Open(p)
			if err == nil {
				closed = append(closed, f)
			}
			return f, err
		}
	}
	tests := []struct {
		name  string
		open  func() (*os.File, error)
		size  int64
		mtime time.Time
		kind  Kind
		want  error
	}{
		{"size differs", tracked(path), 999, mtime, Permanent, ErrChanged},
		{"mtime differs by a nanosecond", tracked(path), 1000, mtime.Add(time.Nanosecond), Permanent, ErrChanged},
		{"mtime differs by a second", tracked(path), 1000, mtime.Add(-time.Second), Permanent, ErrChanged},
		{"folder", tracked(filepath.Dir(path)), 1000, time.Time{}, Permanent, ErrChanged},
		{"gone", tracked(path + ".gone"), 1000, mtime, Permanent, fs.ErrNotExist},
		{"permission denied", func() (*os.File, error) {
			return nil, &fs.PathError{Op: "open", Path: path, Err: os.ErrPermission}
		}, 1000, mtime, Retry, fs.ErrPermission},
		{"opener refuses a link", func() (*os.File, error) {
			return nil, fmt.Errorf("open %s: %w: a symbolic link", path, ErrChanged)
		}, 1000, mtime, Permanent, ErrChanged},
		{"no file", func() (*os.File, error) { return nil, nil }, 1000, mtime, Retry, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed = nil
			postLocal(t, OpenedFileBody(tt.open, "call_001.wav", tt.size, tt.mtime), tt.kind, tt.want)
			for _, f := range closed {
				if err := f.Close(); !errors.Is(err, os.ErrClosed) {
					t.Errorf("refused file left open (Close = %v)", err)
				}
			}
		})
	}
}

// failingReader gives n bytes, then fails with err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

// TestPostReadFails checks that a file that cannot be read to its end fails
// the upload as a local error, whatever the server did with the part sent.
func TestPostReadFails(t *testing.T) {
	eio := &fs.PathError{Op: "read", Path: "/srv/recordings/call_001.wav", Err: errors.New("input/output error")}
	tests := []struct {
		name string
		r    io.Reader
		kind Kind
		want error
	}{
		{"I/O error", &failingReader{n: 2 << 20, err: eio}, Retry, eio},
		{"ends early", &failingReader{n: 2 << 20, err: io.EOF}, Permanent, ErrChanged},
		{"fails at once", &failingReader{err: eio}, Retry, eio},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, nil)
			_, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, readerBody("call_001.wav", 4<<20, tt.r), nil)
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind || !e.Local || !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want a local %v error wrapping %v", err, tt.kind, tt.want)
			}
			for _, r := range rec.requests() {
				if r.err == nil {
					t.Errorf("the server received a whole form: %+v", r)
				}
			}
		})
	}
}

// TestRemoteErrorsNotLocal checks that what the server or the network did
// is never marked local.
func TestRemoteErrorsNotLocal(t *testing.T) {
	rec := newRecorder(t, answer(503, nil, xmlError("SlowDown", "Please reduce your request rate.")))
	_, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, readerBody("call_001.wav", 1, strings.NewReader("x")), nil)
	var e *Error
	if !errors.As(err, &e) || e.Local {
		t.Errorf("server error: %#v", err)
	}
	_, err = (&Uploader{StallTimeout: 100 * time.Millisecond}).Post(t.Context(), &Form{URL: silentServer(t)}, readerBody("call_001.wav", 1<<40, zeros{}), nil)
	if !errors.As(err, &e) || e.Local {
		t.Errorf("stall: %#v", err)
	}
}
