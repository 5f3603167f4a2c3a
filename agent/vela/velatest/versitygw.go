package velatest

import (
	"context"
	"errors"
	"go/build"
	"io"
	"net"
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
func findVersitygw(t testing.TB) string {
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

// StartVersitygw runs versitygw with a fresh root directory and an empty
// bucket until the test ends, and returns how to reach it. It skips the
// test when versitygw is not installed, and fails it in CI (CI=true).
func StartVersitygw(t testing.TB) ExternalS3 {
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
	client := S3Client(ext)
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

// S3Client is an SDK client for ext, for reading back what was stored.
func S3Client(ext ExternalS3) *s3.Client {
	return s3.New(s3.Options{
		Region:       ext.Region,
		BaseEndpoint: aws.String(ext.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(ext.AccessKey, ext.SecretKey, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// ReadObject returns an object's content, or found false.
func ReadObject(t testing.TB, ext ExternalS3, key string) (data []byte, found bool) {
	t.Helper()
	out, err := S3Client(ext).GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(ext.Bucket), Key: aws.String(key)})
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
