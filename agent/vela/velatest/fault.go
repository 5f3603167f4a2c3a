package velatest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Op names a kind of request, for faults, hooks and counts.
type Op string

// The operations of the API and the store.
const (
	OpLogin        Op = "login"        // POST /auth/login
	OpGenerate     Op = "generate"     // POST /auth/generate
	OpPresign      Op = "presign"      // POST /asr/async/upload/vela
	OpOrganisation Op = "organisation" // GET /organisations/vela/{OrgID}
	OpChats        Op = "chats"        // POST /chats/upload/vela and /chat/upload/vela
	OpUpload       Op = "upload"       // POST of a presigned form to the bucket
)

// Ops lists every Op.
var Ops = []Op{OpLogin, OpGenerate, OpPresign, OpOrganisation, OpChats, OpUpload}

// Fault is a failure injected into requests of one Op. A request first waits
// Delay, then is reset if ResetAfter > 0, else answered with Status if it is
// set; a fault with neither goes on to handle the request normally after its
// Delay (or hands out an expired policy, for ExpiredPolicy).
type Fault struct {
	Op         Op
	Status     int           // reply with this status (API: JSON {"message": Message}; upload: S3 XML <Error><Code>Code</Code><Message>Message</Message></Error>)
	Code       string        // S3 error code for OpUpload (e.g. "SlowDown", "AccessDenied"); default from Status
	Message    string        // default: the status text
	RetryAfter time.Duration // sets Retry-After (whole seconds, rounded up)
	// Delay waits this long, or until the request is cancelled or the
	// server closed, before answering. API requests have their (small) body
	// read first, so a client that gives up is noticed at once; an upload's
	// body is not read during the delay, so its handler notices only when
	// the delay ends.
	Delay time.Duration
	// ResetAfter > 0 resets the connection (TCP RST): OpUpload reads this
	// many body bytes first, API ops reset at once.
	ResetAfter    int64
	ExpiredPolicy bool // OpPresign: hand out a correctly signed policy that has already expired
	Times         int  // how many requests it affects; 0 = 1
	// File limits the fault to requests for this file (OpPresign: the
	// fileName sent); other requests pass it by, as if it were not there.
	File string
}

type pendingFault struct {
	Fault
	left int
}

// Inject queues f. The faults of one Op are consumed in the order injected,
// each by its next Times requests.
func (s *Server) Inject(f Fault) {
	p := &pendingFault{Fault: f, left: max(f.Times, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[f.Op] = append(s.faults[f.Op], p)
}

// ClearFaults drops every fault not yet consumed.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
}

// takeFault consumes one request's worth of the first fault queued for op
// that applies to file.
func (s *Server) takeFault(op Op, file string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[op]
	for i, f := range q {
		if f.File != "" && f.File != file {
			continue
		}
		if f.left--; f.left == 0 {
			s.faults[op] = append(q[:i:i], q[i+1:]...)
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// applyFault carries out f on a request of op and reports whether the
// request should still be handled normally.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, op Op, f Fault) bool {
	n := noteOf(r)
	n.fault = true
	if f.Delay > 0 && !wait(r.Context(), f.Delay) {
		return false
	}
	if f.ResetAfter > 0 {
		if op == OpUpload {
			io.CopyN(io.Discard, r.Body, f.ResetAfter)
		}
		if err := resetConn(w); err != nil {
			s.log.Error("velatest: reset connection", "op", op, "err", err)
			http.Error(w, "cannot reset the connection", http.StatusInternalServerError)
			return false
		}
		n.reset = true
		return false
	}
	if f.Status == 0 {
		return true
	}
	if f.RetryAfter > 0 {
		secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	if op != OpUpload {
		writeJSON(w, f.Status, message{msg})
		return false
	}
	code := f.Code
	if code == "" {
		code = defaultCode(f.Status)
	}
	// Read the body first, so that the client sees the reply rather than a
	// connection closed under a large body it is still sending.
	io.Copy(io.Discard, r.Body)
	s.writeS3Error(w, r, &s3Error{status: f.Status, code: code, message: msg})
	return false
}

// wait waits d or until ctx is done, and reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// resetConn takes over the request's connection and closes it with a TCP
// reset (SO_LINGER 0), as a crashing server or middlebox would.
func resetConn(w http.ResponseWriter) error {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	return conn.Close()
}

// defaultCode returns the S3 error code S3 uses for status.
func defaultCode(status int) string {
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return "SlowDown"
	case http.StatusInternalServerError:
		return "InternalError"
	case http.StatusForbidden:
		return "AccessDenied"
	case http.StatusBadRequest:
		return "InvalidRequest"
	case http.StatusRequestTimeout:
		return "RequestTimeout"
	}
	if text := http.StatusText(status); text != "" {
		return strings.ReplaceAll(text, " ", "")
	}
	return fmt.Sprintf("Status%d", status)
}

// FaultsLeft is the number of requests the queued faults will still affect.
func (s *Server) FaultsLeft() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.faults {
		for _, f := range q {
			n += f.left
		}
	}
	return n
}
