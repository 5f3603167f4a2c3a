package ftp

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptServer is an FTP server on 127.0.0.1 that speaks just enough of
// the protocol for a Source to log in and list (USER, PASS, FEAT, OPTS,
// TYPE, PWD, CWD, NOOP, EPSV, PASV, MLSD, LIST, MDTM, QUIT) and answers
// MLSD, LIST and MDTM as the test scripts them, however badly.
type scriptServer struct {
	t    *testing.T
	addr string
	ln   net.Listener
	wg   sync.WaitGroup

	mu       sync.Mutex // guards the fields below
	feat     []string   // FEAT's feature lines
	replies  map[string]scriptReply
	mdtm     map[string]string      // path -> the MDTM reply's time
	refuse   func(session int) bool // sessions whose PASS gets 530
	log      []string               // "<session> <command>" of every command received
	sessions int
	conns    map[net.Conn]struct{}
}

// scriptReply is the answer to one "MLSD path" or "LIST path".
type scriptReply struct {
	refuse string // a whole reply line instead of 150, e.g. "500 Unknown command"
	data   string // written on the data connection, which is then closed
	end    string // the reply after the data; default "226 Transfer complete"
}

// scriptFeat is FEAT of a server that offers MLSD and MDTM.
var scriptFeat = []string{"MLST type*;size*;modify*;", "MDTM", "EPSV", "PASV", "UTF8"}

func startScript(t *testing.T) *scriptServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ss := &scriptServer{
		t: t, addr: ln.Addr().String(), ln: ln, feat: scriptFeat,
		replies: map[string]scriptReply{}, mdtm: map[string]string{}, conns: map[net.Conn]struct{}{},
	}
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ss.mu.Lock()
			ss.sessions++
			id := ss.sessions
			ss.conns[c] = struct{}{}
			ss.mu.Unlock()
			ss.wg.Add(1)
			go func() {
				defer ss.wg.Done()
				ss.serve(c, id)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		ss.dropSessions()
		ss.wg.Wait()
	})
	return ss
}

// set scripts the answer to cmd ("MLSD /x", "LIST /x").
func (ss *scriptServer) set(cmd string, r scriptReply) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.replies[cmd] = r
}

// dropSessions closes every control connection, as a server restart would.
func (ss *scriptServer) dropSessions() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for c := range ss.conns {
		c.Close()
	}
}

// commands returns the commands received that start with prefix, each as
// "<session> <command>".
func (ss *scriptServer) commands(prefix string) []string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var out []string
	for _, l := range ss.log {
		_, cmd, _ := strings.Cut(l, " ")
		if strings.HasPrefix(cmd, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// sent reports whether session sent a command that starts with prefix.
func (ss *scriptServer) sent(session int, prefix string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return slices.ContainsFunc(ss.log, func(l string) bool {
		return strings.HasPrefix(l, fmt.Sprintf("%d %s", session, prefix))
	})
}

func (ss *scriptServer) serve(c net.Conn, id int) {
	defer func() {
		c.Close()
		ss.mu.Lock()
		delete(ss.conns, c)
		ss.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	reply := func(format string, args ...any) bool {
		_, err := fmt.Fprintf(c, format+"\r\n", args...)
		return err == nil
	}
	var pasv net.Listener
	defer func() {
		if pasv != nil {
			pasv.Close()
		}
	}()
	if !reply("220 script ready") {
		return
	}
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		ss.mu.Lock()
		if verb == "PASS" {
			ss.log = append(ss.log, fmt.Sprintf("%d PASS", id))
		} else {
			ss.log = append(ss.log, fmt.Sprintf("%d %s", id, line))
		}
		feat := ss.feat
		ss.mu.Unlock()
		ok := true
		switch verb {
		case "USER":
			ok = reply("331 password please")
		case "PASS":
			ss.mu.Lock()
			no := ss.refuse != nil && ss.refuse(id)
			ss.mu.Unlock()
			if no {
				ok = reply("530 not you")
			} else {
				ok = reply("230 logged in")
			}
		case "FEAT":
			var b strings.Builder
			b.WriteString("211-Features:\r\n")
			for _, f := range feat {
				b.WriteString(" " + f + "\r\n")
			}
			b.WriteString("211 End")
			ok = reply("%s", b.String())
		case "OPTS", "TYPE", "NOOP":
			ok = reply("200 ok")
		case "PWD":
			ok = reply(`257 "/" is the current folder`)
		case "CWD":
			ok = reply("250 ok")
		case "EPSV", "PASV":
			if pasv != nil {
				pasv.Close()
			}
			if pasv, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				ok = reply("425 no data port")
				break
			}
			port := pasv.Addr().(*net.TCPAddr).Port
			if verb == "EPSV" {
				ok = reply("229 Entering Extended Passive Mode (|||%d|)", port)
			} else {
				ok = reply("227 Entering Passive Mode (127,0,0,1,%d,%d)", port/256, port%256)
			}
		case "MLSD", "LIST":
			ss.mu.Lock()
			sr, found := ss.replies[verb+" "+arg]
			ss.mu.Unlock()
			ok = ss.transfer(c, &pasv, sr, found, reply)
		case "MDTM":
			ss.mu.Lock()
			ts, found := ss.mdtm[arg]
			ss.mu.Unlock()
			if found {
				ok = reply("213 %s", ts)
			} else {
				ok = reply("550 no such file")
			}
		case "QUIT":
			reply("221 bye")
			return
		default:
			ok = reply("502 %s not implemented", verb)
		}
		if !ok {
			return
		}
	}
}

// transfer answers a listing command on the passive data connection.
func (ss *scriptServer) transfer(c net.Conn, pasv *net.Listener, sr scriptReply, found bool, reply func(string, ...any) bool) bool {
	ln := *pasv
	*pasv = nil
	if ln != nil {
		defer ln.Close()
	}
	switch {
	case !found:
		return reply("550 no such folder")
	case sr.refuse != "":
		return reply("%s", sr.refuse)
	case ln == nil:
		return reply("425 use EPSV or PASV first")
	}
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	d, err := ln.Accept()
	if err != nil {
		return reply("425 no data connection")
	}
	if !reply("150 here it comes") {
		d.Close()
		return false
	}
	_, _ = d.Write([]byte(sr.data))
	d.Close()
	end := sr.end
	if end == "" {
		end = "226 Transfer complete"
	}
	return reply("%s", end)
}

// mlsdLine is one MLSD line of a file.
func mlsdLine(typ string, size int, mtime time.Time, name string) string {
	return fmt.Sprintf("type=%s;size=%d;modify=%s;perm=r; %s\r\n", typ, size, mtime.UTC().Format("20060102150405"), name)
}

// lsLine is one LIST line as ls -l writes it, of a file ("-"), a folder
// ("d") or a link ("l", with name "a -> b").
func lsLine(typ string, size int, mtime time.Time, name string) string {
	return fmt.Sprintf("%srw-r--r--    1 0        0        %8d %s %s\r\n", typ, size, mtime.UTC().Format("Jan _2 15:04"), name)
}
