package velatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// versitygw (github.com/versity/versitygw) is an independent S3 server that
// verifies presigned POST policies itself. CI installs it with
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
//
// These tests run the accept/refuse table against it and the built-in
// verifier, and check that the API can presign for it.

// findVersitygw returns the versitygw binary, skipping the test if it is
// not installed (failing it in CI, which installs it).
func findVersitygw(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	for _, gopath := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gopath, "bin"))
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "versitygw is not installed: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startVersitygw runs versitygw with a fresh root directory and an empty
// bucket until the test ends, and returns how to reach it.
func startVersitygw(t *testing.T) ExternalS3 {
	t.Helper()
	bin := findVersitygw(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ext := ExternalS3{
		Endpoint:  "http://" + addr,
		Region:    "us-east-1",
		AccessKey: "VELATESTROOT",
		SecretKey: "velatest-root-secret",
		Bucket:    "vela-recordings",
	}
	dir := t.TempDir()
	root, sidecar := filepath.Join(dir, "root"), filepath.Join(dir, "meta")
	for _, d := range []string{root, sidecar} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	logFile, err := os.Create(filepath.Join(dir, "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	// --sidecar keeps metadata in files, for filesystems without xattrs.
	cmd := exec.Command(bin, "--port", addr, "--region", ext.Region, "posix", "--sidecar", sidecar, root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+ext.AccessKey, "ROOT_SECRET_KEY="+ext.SecretKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			t.Logf("versitygw output:\n%s", out)
		}
	})

	// Create the bucket as soon as versitygw answers.
	client := s3Client(ext)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(ext.Bucket)})
		if err == nil {
			return ext
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("versitygw exited: %v", err)
		case <-ctx.Done():
			t.Fatalf("versitygw did not come up: %v", err)
		case <-tick.C:
		}
	}
}

func s3Client(ext ExternalS3) *s3.Client {
	return s3.New(s3.Options{
		Region:       ext.Region,
		BaseEndpoint: aws.String(ext.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ext.AccessKey, ext.SecretKey, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// readObject returns an object's content, or found false.
func readObject(t *testing.T, ext ExternalS3, key string) (data []byte, found bool) {
	t.Helper()
	out, err := s3Client(ext).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(ext.Bucket), Key: aws.String(key)})
	var noKey *types.NoSuchKey
	if errors.As(err, &noKey) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	data, err = io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data, true
}

func TestVersitygwAgrees(t *testing.T) {
	ext := startVersitygw(t)
	s := startServer(t, Options{})
	vgwPresign := func(t *testing.T, key string, ttl time.Duration, maxSize int64) *postForm {
		t.Helper()
		url, fields, err := PresignPost(context.Background(), ext, key, ttl, maxSize)
		if err != nil {
			t.Fatal(err)
		}
		return &postForm{url: url, fields: fields, fileName: "call.wav", file: []byte("RIFF....WAVEfmt ")}
	}

	for i, c := range uploadCases {
		t.Run(c.name, func(t *testing.T) {
			key := fmt.Sprintf("cases/%02d/call.wav", i)
			ours := runUploadCase(t, builtinPresign(s), key, c)
			if ours.Status != c.want.status || ours.Code != c.want.code {
				t.Errorf("built-in: got %d %s (%s), want %d %s", ours.Status, ours.Code, ours.Message, c.want.status, c.want.code)
			}
			theirs, err := tryUploadCase(t, vgwPresign, key, c)
			if err != nil && c.vgwMayBreak {
				t.Skipf("versitygw broke the connection (%v): %s", err, c.vgwWhy)
			}
			if err != nil {
				t.Fatalf("POST to versitygw: %v", err)
			}
			t.Logf("built-in: %d %s %q; versitygw: %d %s %q", ours.Status, ours.Code, ours.Message, theirs.Status, theirs.Code, theirs.Message)

			want := c.want
			if c.vgw != nil {
				want = *c.vgw
				t.Logf("versitygw differs here: %s", c.vgwWhy)
			}
			if theirs.Status != want.status || theirs.Code != want.code {
				t.Errorf("versitygw: got %d %s, want %d %s", theirs.Status, theirs.Code, want.status, want.code)
			}
			if (ours.Status < 300) != (theirs.Status < 300) && (want.status < 300) == (c.want.status < 300) {
				t.Errorf("disagree: built-in %d, versitygw %d", ours.Status, theirs.Status)
			}

			if _, found := readObject(t, ext, key); found != (theirs.Status < 300) {
				t.Errorf("versitygw stored the object: %v, after a %d reply", found, theirs.Status)
			}
		})
	}
}

func TestExternalVersitygw(t *testing.T) {
	ext := startVersitygw(t)
	s := startServer(t, Options{External: &ext})
	if s.S3URL() != ext.Endpoint {
		t.Errorf("S3URL() = %q, want %q", s.S3URL(), ext.Endpoint)
	}
	f := presignVia(t, s, accessToken(t, s), "call_001.wav")
	if got := f.send(t); got.Status != http.StatusNoContent {
		t.Fatalf("upload to versitygw: %+v", got)
	}
	if data, found := readObject(t, ext, f.field("key")); !found || !bytes.Equal(data, f.file) {
		t.Errorf("versitygw has %q (found %v), want %q", data, found, f.file)
	}
	if objs := s.Objects(); len(objs) != 0 {
		t.Errorf("Objects() = %+v with an external store", objs)
	}
}
