package velatest

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// logNote collects what the one log line of a request says beyond method,
// path and status. Handlers fill it in; it never holds a token.
type logNote struct {
	op    Op
	file  string // fileName of a presign
	key   string // object key of an upload
	size  int64  // file size of an upload
	code  string // S3 error code
	fault bool   // an injected fault applied
	reset bool   // the connection was reset on purpose
}

type noteKey struct{}

// noteOf returns the request's log note; a throwaway one outside logRequests.
func noteOf(r *http.Request) *logNote {
	if n, ok := r.Context().Value(noteKey{}).(*logNote); ok {
		return n
	}
	return new(logNote)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (Hijack, Flush).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs one line per request: Info for the operations of Op,
// Debug for the rest (unknown API paths, S3 reads and listings), which it
// labels with other.
func (s *Server) logRequests(other string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		n := new(logNote)
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), noteKey{}, n)))

		level := slog.LevelInfo
		op := string(n.op)
		if op == "" {
			level, op = slog.LevelDebug, other
		}
		attrs := []slog.Attr{
			slog.String("op", op),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
		}
		if n.file != "" {
			attrs = append(attrs, slog.String("fileName", n.file))
		}
		if n.key != "" {
			attrs = append(attrs, slog.String("key", n.key), slog.Int64("size", n.size))
		}
		if n.code != "" {
			attrs = append(attrs, slog.String("code", n.code))
		}
		if n.fault {
			attrs = append(attrs, slog.Bool("fault", true))
		}
		if n.reset {
			attrs = append(attrs, slog.Bool("reset", true))
		}
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}
