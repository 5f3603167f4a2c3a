package ftp

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/watcher/ftp/ftptest"
)

// vsftpd has no MLSD and lists symbolic links in LIST as "l" lines (it
// lstats), "name -> target": none is offered or followed, whether it
// points at a file, a folder or out of the served tree.
func TestVsftpdLinksNotFollowed(t *testing.T) {
	srv := ftptest.StartVsftpd(t, ftptest.Options{})
	mt := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	srv.WriteFile(t, "a.wav", []byte("aaaa"), mt)
	srv.WriteFile(t, "sub/b.wav", []byte("bbbbbb"), mt)
	for link, target := range map[string]string{
		"l.wav":    "a.wav",
		"abs.wav":  "/etc/passwd",
		"ldir":     "sub",
		"sub/up":   "..",
		"gone.wav": "nowhere.wav",
	} {
		if err := os.Symlink(target, srv.Path(link)); err != nil {
			t.Fatal(err)
		}
	}
	srv.Chown(t)
	s := newSource(t, &testServer{addr: srv.Addr}, func(o *Options) {
		o.User, o.Password = srv.User, srv.Password
	})
	res := s.Check(context.Background())
	if last := res[len(res)-1]; !last.OK || !strings.Contains(last.Detail, "LIST, with MDTM") {
		t.Errorf("check: %+v", res)
	}
	found := runSource(t, s)
	got := collect(t, found, 2, 5*time.Second)
	if paths(got) != "a.wav,sub/b.wav" {
		t.Fatalf("found %q", paths(got))
	}
	for _, f := range got {
		if !f.ModTime.Equal(mt) {
			t.Errorf("%s: mtime %v, want %v (MDTM)", f.Path, f.ModTime, mt)
		}
	}
	waitFor(t, "more polls", func() bool { return s.Stats().Scans >= 4 })
	if more := collect(t, found, 1, 50*time.Millisecond); len(more) > 0 {
		t.Fatalf("offered later: %v", more)
	}
	if st := s.Stats(); st.Skipped != 5 {
		t.Errorf("skipped %d, want 5 (each link once)", st.Skipped)
	}
	if p := s.Problem(); p != "" {
		t.Errorf("problem %q", p)
	}
}
