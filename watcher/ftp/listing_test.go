package ftp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/watcher"
)

// newScriptSource is a Source polling ss.
func newScriptSource(t *testing.T, ss *scriptServer, edit func(*Options)) *Source {
	t.Helper()
	return newSource(t, &testServer{addr: ss.addr}, edit)
}

// An MLSD listing offers type=file only: links of either spelling, devices,
// unknown types and entries without a type are skipped, never taken for
// files, and never followed.
func TestMLSDEntryTypes(t *testing.T) {
	ss := startScript(t)
	mt := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	m := mt.Format("20060102150405")
	ss.set("MLSD /", scriptReply{data: mlsdLine("file", 4, mt, "a.wav") +
		mlsdLine("File", 5, mt, "B.wav") +
		"type=cdir;modify=" + m + "; /\r\n" +
		"type=pdir;modify=" + m + "; ..\r\n" +
		"type=OS.unix=symlink;size=11;modify=" + m + "; l1.wav\r\n" +
		"Type=OS.UNIX=slink:/etc/passwd;Size=11;Modify=" + m + "; l2.wav\r\n" +
		"type=OS.unix=slink:/;modify=" + m + "; ldir\r\n" +
		"type=OS.unix=chr-1/3;modify=" + m + "; dev.wav\r\n" +
		"type=whatever;size=3;modify=" + m + "; odd.wav\r\n" +
		"size=3;modify=" + m + "; notype.wav\r\n" +
		" bare.wav\r\n" +
		"type=dir;modify=" + m + "; sub\r\n"})
	ss.set("MLSD /sub", scriptReply{data: mlsdLine("file", 6, mt, "c.wav")})
	s := newScriptSource(t, ss, nil)
	found := runSource(t, s)
	got := collect(t, found, 3, 3*time.Second)
	if paths(got) != "B.wav,a.wav,sub/c.wav" {
		t.Fatalf("found %q", paths(got))
	}
	for _, f := range got {
		if !f.ModTime.Equal(mt) {
			t.Errorf("%s: mtime %v, want %v", f.Path, f.ModTime, mt)
		}
	}
	waitFor(t, "more polls", func() bool { return s.Stats().Scans >= 4 })
	if more := collect(t, found, 1, 50*time.Millisecond); len(more) > 0 {
		t.Fatalf("offered later: %v", more)
	}
	if st := s.Stats(); st.Skipped != 7 || st.Unreadable != 0 {
		t.Errorf("skipped %d, unreadable %d; want 7 (each once), 0", st.Skipped, st.Unreadable)
	}
	if p := s.Problem(); p != "" {
		t.Errorf("problem %q", p)
	}
	for _, cmd := range []string{"MLSD /l", "MLSD /ldir", "MDTM", "RETR", "CWD"} {
		if c := ss.commands(cmd); len(c) > 0 {
			t.Errorf("sent %v", c)
		}
	}
}

// folderReplies scripts a server holding /a.wav and /sub/b.wav, for MLSD,
// LIST and MDTM alike.
func folderReplies(ss *scriptServer, mt time.Time) {
	ss.set("MLSD /", scriptReply{data: mlsdLine("file", 4, mt, "a.wav") + "type=dir;modify=20240101000000; sub\r\n"})
	ss.set("MLSD /sub", scriptReply{data: mlsdLine("file", 6, mt, "b.wav")})
	ss.set("LIST /", scriptReply{data: "total 8\r\n" + lsLine("-", 4, mt, "a.wav") + lsLine("d", 4096, mt, "sub") +
		lsLine("l", 11, mt, "l.wav -> /etc/passwd")})
	ss.set("LIST /sub", scriptReply{data: lsLine("-", 6, mt, "b.wav")})
	ss.mu.Lock()
	ss.mdtm["/a.wav"] = mt.Format("20060102150405")
	ss.mdtm["/sub/b.wav"] = mt.Format("20060102150405")
	ss.mu.Unlock()
}

// A server that offers MLSD in FEAT and refuses it: in auto mode the
// connection is dialled again without MLSD and lists with LIST, with MDTM
// for the times, until it is dropped; the next connection tries MLSD again,
// and no file is offered twice for the switch.
func TestMLSDRefused(t *testing.T) {
	for _, tc := range []struct {
		name, list, path, refuse string
		fallback                 bool
		found, problem           string
	}{
		{name: "500 on the root", path: "/", refuse: "500 MLSD not understood", fallback: true, found: "a.wav,sub/b.wav"},
		{name: "550 on the root", path: "/", refuse: "550 MLSD not allowed", fallback: true, found: "a.wav,sub/b.wav"},
		{name: "502 below", path: "/sub", refuse: "502 Command not implemented", fallback: true, found: "a.wav,sub/b.wav"},
		{name: "550 below: that folder's problem", path: "/sub", refuse: "550 Permission denied", found: "a.wav", problem: "1 folder unreadable: sub (550 Permission denied)"},
		{name: "list mlsd: no fallback", list: ListMLSD, path: "/", refuse: "500 MLSD not understood", problem: `cannot list remote folder /: 500 "MLSD not understood"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := startScript(t)
			mt := time.Now().Add(-2 * time.Hour).Truncate(time.Second).UTC()
			folderReplies(ss, mt)
			ss.set("MLSD "+tc.path, scriptReply{refuse: tc.refuse})
			s := newScriptSource(t, ss, func(o *Options) {
				if tc.list != "" {
					o.List = tc.list
				}
			})
			found := runSource(t, s)
			if tc.problem != "" {
				waitFor(t, "problem", func() bool { return strings.Contains(s.Problem(), tc.problem) })
			}
			var got []watcher.File
			if tc.found != "" {
				got = collect(t, found, strings.Count(tc.found, ",")+1, 3*time.Second)
			} else {
				got = collect(t, found, 1, 100*time.Millisecond)
			}
			if paths(got) != tc.found {
				t.Fatalf("found %q, want %q (problem %q)", paths(got), tc.found, s.Problem())
			}
			for _, f := range got {
				if !f.ModTime.Equal(mt) {
					t.Errorf("%s: mtime %v, want %v", f.Path, f.ModTime, mt)
				}
			}
			if !tc.fallback {
				if c := ss.commands("LIST"); len(c) > 0 {
					t.Errorf("fell back to LIST: %v", c)
				}
				return
			}
			n := s.Stats().Scans
			waitFor(t, "more polls", func() bool { return s.Stats().Scans >= n+3 })
			if p := s.Problem(); p != "" {
				t.Errorf("problem %q", p)
			}
			mode, reason := s.Mode()
			if mode != "ftp" || !strings.Contains(reason, "refused MLSD: "+tc.refuse) {
				t.Errorf("mode %q, %q", mode, reason)
			}
			// Session 1 was refused and quit; session 2 lists with LIST
			// only, and is kept.
			if c := ss.commands("MLSD " + tc.path); len(c) != 1 || !strings.HasPrefix(c[0], "1 ") {
				t.Errorf("MLSD %s sent as %v, want once, by session 1", tc.path, c)
			}
			for _, c := range ss.commands("LIST") {
				if !strings.HasPrefix(c, "2 ") {
					t.Errorf("%q: LIST from another session than the second", c)
				}
			}
			if st := s.Stats(); st.Skipped != 1 {
				t.Errorf("skipped %d, want 1 (the link in LIST)", st.Skipped)
			}
			// The server learns MLSD; a new connection uses it.
			folderReplies(ss, mt)
			ss.dropSessions()
			waitFor(t, "MLSD on a new connection", func() bool {
				_, r := s.Mode()
				return ss.sent(3, "MLSD") && !strings.Contains(r, "refused") && s.Stats().Scans >= n+6
			})
			if more := collect(t, found, 1, 100*time.Millisecond); len(more) > 0 {
				t.Fatalf("offered again after the switch back to MLSD: %v", more)
			}
			if p := s.Problem(); p != "" {
				t.Errorf("problem %q", p)
			}
		})
	}
}

// A listing that fails, or comes back with lines that do not parse or cut
// off in the middle of a line, forgets none of the files it did not show:
// they are not offered again once the listing is whole. The folder is
// shown by Problem and, while listed in part, counted as Unreadable.
func TestMLSDBadListing(t *testing.T) {
	mt := time.Now().Add(-2 * time.Hour).Truncate(time.Second).UTC()
	m := mt.Format("20060102150405")
	a, b := mlsdLine("file", 4, mt, "a.wav"), mlsdLine("file", 6, mt, "b.wav")
	for _, tc := range []struct {
		name, path string
		bad        scriptReply
		problem    string
		failed     bool // the poll fails: nothing is published
	}{
		{name: "garbage line", path: "/", bad: scriptReply{data: a + "this is not MLSD\r\n"},
			problem: `1 folder listed incompletely: / (1 MLSD line(s) not understood, the first "this is not MLSD"`},
		{name: "size not a number", path: "/", bad: scriptReply{data: a + "type=file;size=6k;modify=" + m + "; b.wav\r\n"},
			problem: `size "6k" is not a byte count`},
		{name: "time not a time", path: "/sub", bad: scriptReply{data: "type=file;size=6;modify=yesterday; b.wav\r\n"},
			problem: `1 folder listed incompletely: /sub (1 MLSD line(s) not understood, the first "type=file;size=6;modify=yesterday; b.wav": modify "yesterday"`},
		{name: "cut mid-line, 226", path: "/", bad: scriptReply{data: a + b[:20]},
			problem: "the listing stops in the middle of a line"},
		{name: "cut, 426", path: "/", bad: scriptReply{data: a + b[:20], end: "426 Connection closed; transfer aborted"},
			problem: `cannot list remote folder /: 426 "Connection closed`, failed: true},
		{name: "cut below, 451", path: "/sub", bad: scriptReply{data: b[:20], end: "451 Local error"},
			problem: "1 folder unreadable: sub (451 Local error)"},
		{name: "refused below", path: "/sub", bad: scriptReply{refuse: "550 Gone fishing"},
			problem: "1 folder unreadable: sub (550 Gone fishing)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss := startScript(t)
			good := map[string]scriptReply{
				"/":    {data: a + b + "type=dir;modify=" + m + "; sub\r\n"},
				"/sub": {data: a + b},
			}
			for p, r := range good {
				ss.set("MLSD "+p, r)
			}
			s := newScriptSource(t, ss, nil)
			found := runSource(t, s)
			if got := collect(t, found, 4, 3*time.Second); paths(got) != "a.wav,b.wav,sub/a.wav,sub/b.wav" {
				t.Fatalf("found %q", paths(got))
			}
			ss.set("MLSD "+tc.path, tc.bad)
			st := s.Stats()
			waitFor(t, "the problem, twice", func() bool {
				now := s.Stats()
				return strings.Contains(s.Problem(), tc.problem) &&
					(now.Scans >= st.Scans+2 || tc.failed && s.stats.failures.Load() >= 2)
			})
			if want := 1; !tc.failed && s.Stats().Unreadable != want {
				t.Errorf("unreadable %d, want %d", s.Stats().Unreadable, want)
			}
			// Whole again, with one new file: only that one is offered.
			good["/sub"] = scriptReply{data: a + b + mlsdLine("file", 1, mt, "c.wav")}
			for p, r := range good {
				ss.set("MLSD "+p, r)
			}
			if got := collect(t, found, 1, 3*time.Second); paths(got) != "sub/c.wav" {
				t.Fatalf("after the listing came back whole: %q", paths(got))
			}
			n := s.Stats().Scans
			waitFor(t, "more polls", func() bool { return s.Stats().Scans >= n+2 })
			if more := collect(t, found, 1, 50*time.Millisecond); len(more) > 0 {
				t.Fatalf("offered again: %v", more)
			}
			if p := s.Problem(); p != "" {
				t.Errorf("problem %q", p)
			}
			if u := s.Stats().Unreadable; u != 0 {
				t.Errorf("unreadable %d", u)
			}
		})
	}
}

// When the connection dialled to list with LIST cannot log in, the poll
// fails with the reason and the next one starts afresh.
func TestMLSDRefusedRedialFails(t *testing.T) {
	for name, path := range map[string]string{"root": "/", "below": "/sub"} {
		t.Run(name, func(t *testing.T) {
			ss := startScript(t)
			mt := time.Now().Add(-2 * time.Hour).Truncate(time.Second).UTC()
			folderReplies(ss, mt)
			ss.set("MLSD "+path, scriptReply{refuse: "500 MLSD not understood"})
			ss.mu.Lock()
			ss.refuse = func(session int) bool { return session > 1 && session < 4 }
			ss.mu.Unlock()
			s := newScriptSource(t, ss, nil)
			found := runSource(t, s)
			waitFor(t, "problem", func() bool { return strings.Contains(s.Problem(), `login refused for user "rec": 530 not you`) })
			if got := collect(t, found, 2, 3*time.Second); paths(got) != "a.wav,sub/b.wav" {
				t.Fatalf("found %q (problem %q)", paths(got), s.Problem())
			}
			if p := s.Problem(); p != "" {
				t.Errorf("problem %q", p)
			}
		})
	}
}

// Check lists as the polls do: it falls back to LIST and says so, and
// reports a failed redial as a failed list step.
func TestCheckMLSDRefused(t *testing.T) {
	ss := startScript(t)
	folderReplies(ss, time.Now().Add(-time.Hour))
	ss.set("MLSD /", scriptReply{refuse: "500 MLSD not understood"})
	s := newScriptSource(t, ss, nil)
	res := s.Check(context.Background())
	if last := res[len(res)-1]; last.Step != "list" || !last.OK || last.Detail != "/ lists 3 entries (LIST, with MDTM for exact times; the server refused MLSD: 500 MLSD not understood)" {
		t.Errorf("check: %+v", res)
	}
	ss.mu.Lock()
	ss.refuse = func(session int) bool { return session == 6 } // the second Check: TCP probe, login, redial
	ss.mu.Unlock()
	res = s.Check(context.Background())
	if last := res[len(res)-1]; last.Step != "list" || last.OK || !strings.Contains(last.Detail, "530") {
		t.Errorf("check with the redial refused: %+v", res)
	}
	ss.set("MLSD /", scriptReply{data: "type=file;size=x; a.wav\r\n"})
	res = s.Check(context.Background())
	if last := res[len(res)-1]; last.Step != "list" || last.OK || !strings.Contains(last.Detail, "/ lists 0 entries, but not whole: 1 MLSD line(s) not understood") {
		t.Errorf("check of a bad listing: %+v", res)
	}
}
