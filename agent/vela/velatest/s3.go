package velatest

import (
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/johannesboyne/gofakes3"
)

// maxPostBody bounds the Content-Length of a POST upload: the largest file
// S3 takes plus room for the form fields and multipart framing.
func maxPostBody() int64 { return maxPostFile + maxPreData + 64<<10 }

// s3Handler serves the built-in store: POST uploads to the bucket are
// verified and stored here, every other request goes to gofakes3.
func (s *Server) s3Handler() http.Handler {
	fake := gofakes3.New(s.backend).Server()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPostUpload(r) {
			s.serveUpload(w, r)
			return
		}
		s.serveFake(fake, w, r)
	})
}

// isPostUpload reports whether r is a browser-based POST upload: a POST to
// a bucket itself, not a multi-object delete.
func isPostUpload(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	bucket := strings.Trim(r.URL.Path, "/")
	_, del := r.URL.Query()["delete"]
	return bucket != "" && !strings.Contains(bucket, "/") && !del
}

// serveFake passes r to gofakes3, turning a panic there into a 500 reply.
func (s *Server) serveFake(fake http.Handler, w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("velatest: gofakes3 panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
			s.writeS3Error(w, r, &s3Error{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."})
		}
	}()
	fake.ServeHTTP(w, r)
}

// serveUpload verifies a POST upload, stores the file and replies as S3
// does: 204, or 200/201 if the policy's success_action_status asks for it.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	n := noteOf(r)
	n.op = OpUpload
	s.observe(OpUpload, r)
	if f, ok := s.takeFault(OpUpload, ""); ok && !s.applyFault(w, r, OpUpload, f) {
		return
	}

	// Refuse bodies of unknown or impossible length without reading them.
	switch {
	case r.ContentLength < 0:
		w.Header().Set("Connection", "close")
		s.writeS3Error(w, r, &s3Error{http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header."})
		return
	case r.ContentLength > maxPostBody():
		w.Header().Set("Connection", "close")
		s.writeS3Error(w, r, errEntityTooLarge)
		return
	}

	u, err := s.receive(r)
	if err != nil {
		// Read the rest, so that the client sees the reply rather than a
		// connection closed under a body it is still sending.
		io.Copy(io.Discard, r.Body)
		var serr *s3Error
		if !errors.As(err, &serr) {
			s.log.Error("velatest: store upload", "err", err)
			serr = &s3Error{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
		}
		s.writeS3Error(w, r, serr)
		return
	}
	n.key, n.size = u.key, u.size

	etag := `"` + hex.EncodeToString(u.md5) + `"`
	location := s.s3URL + "/" + s.target.Bucket + "/" + (&url.URL{Path: u.key}).EscapedPath()
	w.Header().Set("ETag", etag)
	w.Header().Set("Location", location)
	switch u.fields["success_action_status"] {
	case "200":
		w.WriteHeader(http.StatusOK)
	case "201":
		writeXML(w, http.StatusCreated, struct {
			XMLName  xml.Name `xml:"PostResponse"`
			Location string
			Bucket   string
			Key      string
			ETag     string
		}{Location: location, Bucket: s.target.Bucket, Key: u.key, ETag: etag})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// receive reads and verifies the upload, spooling the file to a temporary
// file, then stores it in the backend and records it.
func (s *Server) receive(r *http.Request) (*postUpload, error) {
	if bucket := strings.Trim(r.URL.Path, "/"); bucket != s.target.Bucket {
		return nil, &s3Error{http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist"}
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, &s3Error{http.StatusPreconditionFailed, "PreconditionFailed",
			"Bucket POST must be of the enclosure-type multipart/form-data"}
	}

	spool, err := os.CreateTemp(s.spoolDir, "post-*")
	if err != nil {
		return nil, err
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	u, err := s.verifier.read(r.Body, params["boundary"], spool)
	if err != nil {
		return nil, err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := s.backend.PutObject(s.target.Bucket, u.key, objectMeta(u.fields), spool, u.size, nil); err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.objects[u.key]
	if o == nil {
		o = &Object{Key: u.key}
		s.objects[u.key] = o
	}
	o.Size, o.SHA256 = u.size, hex.EncodeToString(u.sha256)
	o.Uploads++
	return u, nil
}

// objectMeta returns the object metadata a POST form sets: Content-Type and
// x-amz-meta-*.
func objectMeta(fields map[string]string) map[string]string {
	meta := make(map[string]string)
	for name, v := range fields {
		if name == "content-type" || strings.HasPrefix(name, "x-amz-meta-") {
			meta[http.CanonicalHeaderKey(name)] = v
		}
	}
	return meta
}

// writeS3Error writes e as S3's XML error document.
func (s *Server) writeS3Error(w http.ResponseWriter, r *http.Request, e *s3Error) {
	noteOf(r).code = e.code
	writeXML(w, e.status, struct {
		XMLName   xml.Name `xml:"Error"`
		Code      string
		Message   string
		Resource  string
		RequestId string
	}{Code: e.code, Message: e.message, Resource: r.URL.Path, RequestId: randomHex(8)})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	body, err := xml.Marshal(v)
	if err != nil { // only plain string fields: cannot happen
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	w.Write(body)
}
