package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vela-agent/vela-agent/watcher/ftp/ftptest"
)

// startVsftpd starts vsftpd serving root with the configuration the FTP
// tests use (ftptest.StartVsftpd: plain FTP on 127.0.0.1, the fixture's
// user chrooted to root). stop stops it and removes its files.
func (b *bench) startVsftpd(name string, root string) (s *ftptest.Server, stop func(), err error) {
	dir, err := b.mkdir(name, "vsftpd")
	if err != nil {
		return nil, nil, err
	}
	t := &benchTB{dir: dir}
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		a, ok := r.(tbAbort)
		if !ok {
			panic(r)
		}
		t.cleanup()
		s, stop, err = nil, nil, fmt.Errorf("start vsftpd: %s", a.msg)
	}()
	s = ftptest.StartVsftpd(t, ftptest.Options{Mode: ftptest.Plain, Root: root})
	return s, t.cleanup, nil
}

// benchTB is the part of testing.TB that ftptest.StartVsftpd uses, for a
// program that is not a test: Fatal and Skip end the start with a
// tbAbort panic, which startVsftpd turns into an error; TempDir makes
// folders inside the bench's working folder; Cleanup's functions run when
// the server is stopped. The embedded TB is nil: only its unexported
// method is needed, to satisfy the interface, and nothing calls it.
type benchTB struct {
	testing.TB
	dir      string
	temps    int
	cleanups []func()
	failed   bool
}

// tbAbort is what benchTB panics with on Fatal and Skip.
type tbAbort struct{ msg string }

func (t *benchTB) cleanup() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
	t.cleanups = nil
}

func (t *benchTB) Helper()               {}
func (t *benchTB) Name() string          { return "vela-bench" }
func (t *benchTB) Failed() bool          { return t.failed }
func (t *benchTB) Cleanup(f func())      { t.cleanups = append(t.cleanups, f) }
func (t *benchTB) Log(args ...any)       {}
func (t *benchTB) Logf(string, ...any)   {}
func (t *benchTB) Error(args ...any)     { t.failed = true }
func (t *benchTB) Errorf(string, ...any) { t.failed = true }
func (t *benchTB) Fail()                 { t.failed = true }
func (t *benchTB) FailNow()              { t.failed = true; panic(tbAbort{"failed"}) }
func (t *benchTB) Fatal(args ...any)     { t.failed = true; panic(tbAbort{fmt.Sprint(args...)}) }
func (t *benchTB) Fatalf(format string, args ...any) {
	t.failed = true
	panic(tbAbort{fmt.Sprintf(format, args...)})
}
func (t *benchTB) Skip(args ...any)                 { panic(tbAbort{fmt.Sprint(args...)}) }
func (t *benchTB) Skipf(format string, args ...any) { panic(tbAbort{fmt.Sprintf(format, args...)}) }
func (t *benchTB) SkipNow()                         { panic(tbAbort{"skipped"}) }
func (t *benchTB) Skipped() bool                    { return false }

// TempDir returns a new folder, removed by cleanup.
func (t *benchTB) TempDir() string {
	t.temps++
	d := filepath.Join(t.dir, "tmp"+strconv.Itoa(t.temps))
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
