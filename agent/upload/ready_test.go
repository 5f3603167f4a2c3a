package upload

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// holdServer is a storage server that tells when it has received all of a
// request's body but its closing boundary, and what it made of the whole
// request once the request ended.
type holdServer struct {
	URL       string
	close     func()        // waits for the handler to return
	allButEnd chan struct{} // closed when all but the closing boundary arrived
	done      chan received // one per request, after its body was read
	got       atomic.Int64  // body bytes received so far
}

func newHoldServer(t *testing.T) *holdServer {
	t.Helper()
	s := &holdServer{allButEnd: make(chan struct{}), done: make(chan received, 1)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		end := r.ContentLength - int64(len("\r\n--"+params["boundary"]+"--\r\n"))
		cr := &notifyReader{r: r.Body, n: &s.got, at: end, reached: s.allButEnd}
		got := received{contentLength: r.ContentLength}
		got.err = readForm(r.Header.Get("Content-Type"), cr, &got)
		got.bodyBytes = s.got.Load()
		s.done <- got
		if got.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s.URL, s.close = srv.URL, srv.Close
	return s
}

// notifyReader counts what it reads into n and closes reached once n is at.
type notifyReader struct {
	r       io.Reader
	n       *atomic.Int64
	at      int64
	reached chan struct{}
}

func (nr *notifyReader) Read(p []byte) (int, error) {
	n, err := nr.r.Read(p)
	if nr.n.Add(int64(n)) == nr.at && n > 0 {
		close(nr.reached)
	}
	return n, err
}

// TestPostReadyHolds checks that while Ready waits, the server has every
// byte but the closing boundary, and cannot complete the form; then that
// the upload completes once Ready returns.
func TestPostReadyHolds(t *testing.T) {
	const size = 1<<20 + 3
	path, sum := randomFile(t, size)
	srv := newHoldServer(t)
	var calls atomic.Int32
	b := FileBody(path, "call_001.wav", size)
	b.Ready = func(ctx context.Context) error {
		calls.Add(1)
		select {
		case <-srv.allButEnd:
		case <-time.After(10 * time.Second):
			return errors.New("the server did not get the file's bytes")
		}
		select {
		case got := <-srv.done:
			t.Errorf("the server finished the request while Ready waited: %+v", got)
		default:
		}
		return nil
	}
	res, err := new(Uploader).Post(t.Context(), &Form{URL: srv.URL, Fields: s3Fields}, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := <-srv.done
	if res.Status != http.StatusNoContent || got.err != nil || got.fileSum != sum || got.bodyBytes != got.contentLength {
		t.Errorf("status %d; server got %d of %d bytes: %v", res.Status, got.bodyBytes, got.contentLength, got.err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Ready called %d times", n)
	}
}

// TestPostReadyFails checks that when Ready fails, the server never gets a
// whole body and Post returns a local Retry error wrapping Ready's.
func TestPostReadyFails(t *testing.T) {
	errCommit := errors.New("commit the form: disk full")
	srv := newHoldServer(t)
	b := readerBody("call_001.wav", 256<<10, zeros{})
	b.Ready = func(ctx context.Context) error {
		<-srv.allButEnd
		return errCommit
	}
	_, err := new(Uploader).Post(t.Context(), &Form{URL: srv.URL, Fields: s3Fields}, b, nil)
	var e *Error
	if !errors.As(err, &e) || e.Kind != Retry || !e.Local || !errors.Is(err, errCommit) {
		t.Fatalf("got %v, want a local Retry error wrapping Ready's", err)
	}
	t.Log(err)
	srv.close()
	got := <-srv.done
	if got.err == nil || got.bodyBytes >= got.contentLength {
		t.Errorf("server got %d of %d bytes and a whole form", got.bodyBytes, got.contentLength)
	}
}

// TestPostReadyWait checks that Ready's wait is not a stall, and that it
// ends with Post's context.
func TestPostReadyWait(t *testing.T) {
	const stall = 50 * time.Millisecond
	t.Run("longer than the stall timeout", func(t *testing.T) {
		rec := newRecorder(t, nil)
		b := readerBody("call_001.wav", 1000, zeros{})
		b.Ready = func(ctx context.Context) error {
			select {
			case <-time.After(8 * stall):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if _, err := (&Uploader{StallTimeout: stall}).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, b, nil); err != nil {
			t.Fatal(err)
		}
		if reqs := rec.requests(); len(reqs) != 1 || reqs[0].err != nil {
			t.Errorf("server got %+v", reqs)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		srv := newHoldServer(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		b := readerBody("call_001.wav", 1000, zeros{})
		b.Ready = func(rctx context.Context) error {
			<-srv.allButEnd
			cancel()
			<-rctx.Done()
			return context.Cause(rctx)
		}
		_, err := (&Uploader{StallTimeout: stall}).Post(ctx, &Form{URL: srv.URL, Fields: s3Fields}, b, nil)
		var e *Error
		if !errors.As(err, &e) || e.Kind != Retry || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want a Retry error wrapping context.Canceled", err)
		}
		srv.close()
		if got := <-srv.done; got.err == nil {
			t.Errorf("server got a whole form")
		}
	})
	t.Run("returns nil after the request ended", func(t *testing.T) {
		srv := newHoldServer(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		b := readerBody("call_001.wav", 1000, zeros{})
		b.Ready = func(rctx context.Context) error {
			<-srv.allButEnd
			cancel()
			<-rctx.Done()
			return nil
		}
		if _, err := new(Uploader).Post(ctx, &Form{URL: srv.URL, Fields: s3Fields}, b, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		srv.close()
		if got := <-srv.done; got.err == nil {
			t.Errorf("server got a whole form")
		}
	})
}

// TestPostReadyNotCalled checks that Ready is not called for an upload
// that failed before the whole file was sent.
func TestPostReadyNotCalled(t *testing.T) {
	rec := newRecorder(t, nil)
	b := readerBody("call_001.wav", 4<<20, io.LimitReader(zeros{}, 1<<20))
	b.Ready = func(context.Context) error {
		t.Error("Ready called")
		return nil
	}
	_, err := new(Uploader).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, b, nil)
	if !errors.Is(err, ErrChanged) {
		t.Errorf("got %v, want ErrChanged", err)
	}
}

// TestPostReadyHTTP2 checks Ready over HTTP/2, where the transport reads the
// body on a goroutine of its own.
func TestPostReadyHTTP2(t *testing.T) {
	rec, client := newTLSRecorder(t)
	const size = 300 << 10
	path, sum := randomFile(t, size)
	b := FileBody(path, "call_001.wav", size)
	var calls atomic.Int32
	b.Ready = func(context.Context) error { calls.Add(1); return nil }
	if _, err := (&Uploader{Client: client}).Post(t.Context(), &Form{URL: rec.URL, Fields: s3Fields}, b, nil); err != nil {
		t.Fatal(err)
	}
	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].err != nil || reqs[0].proto != 2 || reqs[0].fileSum != sum || calls.Load() != 1 {
		t.Errorf("server got %+v; Ready called %d times", reqs, calls.Load())
	}
}
