package upload

import (
	"bytes"
	"context"
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
	benchPostFile(b, u, benchSize, false)
}

// benchPostFile sends a file of size bytes again and again; with ready,
// each upload waits for a commit made alongside it, as the agent's is.
func benchPostFile(b *testing.B, u *Uploader, size int64, ready bool) {
	url := benchServer(b)
	path, _ := randomFile(b, size)
	form := &Form{URL: url, Fields: s3Fields}
	b.SetBytes(size)
	for b.Loop() {
		body := FileBody(path, "call.wav", size)
		if ready {
			committed := make(chan struct{})
			go close(committed)
			body.Ready = func(ctx context.Context) error {
				select {
				case <-committed:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		if _, err := u.Post(b.Context(), form, body, func(int64) {}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPost sends a 64 MiB file to a loopback server.
func BenchmarkPost(b *testing.B) {
	benchPost(b, &Uploader{Client: NewClient()})
}

// BenchmarkPostReady is BenchmarkPost holding back the end of each upload
// until a commit made alongside it landed: the cost of Body.Ready.
func BenchmarkPostReady(b *testing.B) {
	benchPostFile(b, &Uploader{Client: NewClient()}, benchSize, true)
}

// BenchmarkPostSmall sends a 4 KiB file, where the cost per request shows.
func BenchmarkPostSmall(b *testing.B) {
	benchPostFile(b, &Uploader{Client: NewClient()}, 4<<10, false)
}

// BenchmarkPostSmallReady is BenchmarkPostSmall with Body.Ready.
func BenchmarkPostSmallReady(b *testing.B) {
	benchPostFile(b, &Uploader{Client: NewClient()}, 4<<10, true)
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

// BenchmarkBodyRead reads a whole request body of a 4 KiB file in memory,
// without and with Ready: what Ready adds to each upload's own work.
func BenchmarkBodyRead(b *testing.B) {
	head, tail, _ := encodeForm(s3Fields, Body{Name: "call.wav", Size: 4 << 10})
	data := make([]byte, 4<<10)
	buf := make([]byte, 32<<10)
	for _, bb := range []struct {
		name  string
		ready func(context.Context) error
	}{
		{"no Ready", nil},
		{"Ready", func(context.Context) error { return nil }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				body := &body{ctx: b.Context(), head: head, tail: tail, src: io.NopCloser(bytes.NewReader(data)), size: int64(len(data)), ready: bb.ready}
				if _, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{body}, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
