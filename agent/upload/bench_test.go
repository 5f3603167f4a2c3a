package upload

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

const benchSize = 64 << 20

// benchServer discards request bodies through a large buffer, so that the
// client's side is what is measured.
func benchServer(b *testing.B) string {
	b.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 256<<10)
		io.CopyBuffer(struct{ io.Writer }{io.Discard}, r.Body, buf)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

func benchPost(b *testing.B, u *Uploader) {
	url := benchServer(b)
	path, _ := randomFile(b, benchSize)
	form := &Form{URL: url, Fields: s3Fields}
	b.SetBytes(benchSize)
	for b.Loop() {
		if _, err := u.Post(b.Context(), form, FileBody(path, "call.wav", benchSize), func(int64) {}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPost sends a 64 MiB file to a loopback server.
func BenchmarkPost(b *testing.B) {
	benchPost(b, &Uploader{Client: NewClient()})
}

// BenchmarkPostLimiterUnlimited is BenchmarkPost through a Limiter whose
// schedule sets no limit now.
func BenchmarkPostLimiterUnlimited(b *testing.B) {
	benchPost(b, &Uploader{Client: NewClient(), Limiter: NewLimiter(0, []Window{{From: time.Hour, To: time.Hour + time.Second, Limit: 1}}, time.UTC)})
}

// BenchmarkBareMultipart is the simplest correct streaming multipart POST of
// the same file to the same server, written by hand: the baseline for
// BenchmarkPost.
func BenchmarkBareMultipart(b *testing.B) {
	url := benchServer(b)
	path, _ := randomFile(b, benchSize)
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	b.SetBytes(benchSize)
	for b.Loop() {
		var head bytes.Buffer
		mw := multipart.NewWriter(&head)
		for _, f := range s3Fields {
			mw.WriteField(f.Name, f.Value)
		}
		mw.CreateFormFile("file", "call.wav")
		var tail bytes.Buffer
		tail.WriteString("\r\n--" + mw.Boundary() + "--\r\n")

		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		body := io.MultiReader(&head, f, &tail)
		req, err := http.NewRequestWithContext(b.Context(), http.MethodPost, url, body)
		if err != nil {
			b.Fatal(err)
		}
		req.ContentLength = int64(head.Len()) + benchSize + int64(tail.Len())
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := client.Do(req)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.Fatal(resp.Status)
		}
	}
}
