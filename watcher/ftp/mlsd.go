package ftp

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// kind is what a listed entry is.
type kind int

const (
	kindFile   kind = iota + 1 // a regular file: the only kind ever offered
	kindFolder                 // a folder, listed in turn when recursive
	kindLink                   // a symbolic link: never followed
	kindOther                  // anything else (device, FIFO, a type not known): skipped
	kindSelf                   // MLSD's cdir and pdir: the folder itself and its parent
)

// item is one entry of a listing, from MLSD or LIST.
type item struct {
	name string
	kind kind
	what string // the type as listed, for kindLink and kindOther
	size int64
	time time.Time // UTC with MLSD; the server's wall clock, labelled UTC, with LIST
}

// maxLine caps the length of one MLSD line; a longer one is not understood.
var maxLine = 8 << 10

// parseMLSD reads one line of an MLSD listing (RFC 3659 section 7): facts,
// each "name=value;", a space, and the name. Fact names and type values are
// matched without regard to case. Only type=file is a file, and it must
// carry its size and modification time; dir is a folder, cdir and pdir are
// the folder itself and its parent, OS.unix=symlink and OS.unix=slink are
// links, and any other type, or none, is kindOther: never taken as a file.
func parseMLSD(line string) (item, error) {
	facts, name, ok := strings.Cut(line, " ")
	if !ok {
		return item{}, errors.New("no space before the name")
	}
	if facts != "" && !strings.HasSuffix(facts, ";") {
		return item{}, errors.New("facts do not end with ';'")
	}
	it := item{name: name, kind: kindOther, size: -1}
	var typ string
	haveType, haveTime := false, false
	for f := range strings.SplitSeq(strings.TrimSuffix(facts, ";"), ";") {
		if f == "" && facts == "" {
			break
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return item{}, fmt.Errorf("fact %q is not name=value", f)
		}
		switch strings.ToLower(k) {
		case "type":
			if haveType {
				return item{}, errors.New("two type facts")
			}
			haveType, typ = true, v
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || v[0] == '+' {
				return item{}, fmt.Errorf("size %q is not a byte count", v)
			}
			it.size = n
		case "modify":
			t, err := parseMLSDTime(v)
			if err != nil {
				return item{}, err
			}
			it.time, haveTime = t, true
		}
	}
	lower := strings.ToLower(typ)
	switch {
	case !haveType:
		it.what = "no type"
	case lower == "file":
		it.kind = kindFile
	case lower == "dir":
		it.kind = kindFolder
	case lower == "cdir" || lower == "pdir":
		it.kind = kindSelf
	case lower == "os.unix=symlink" || lower == "os.unix=slink" || strings.HasPrefix(lower, "os.unix=slink:"):
		it.kind, it.what = kindLink, typ
	default:
		it.what = "type " + typ
	}
	if it.kind == kindFile && (it.size < 0 || !haveTime) {
		return item{}, errors.New("a file without its size and modify facts")
	}
	if it.size < 0 {
		it.size = 0
	}
	return it, nil
}

// parseMLSDTime reads a time-val of RFC 3659: YYYYMMDDHHMMSS and optional
// fractions of a second, in UTC.
func parseMLSDTime(v string) (time.Time, error) {
	whole, frac, hasFrac := strings.Cut(v, ".")
	bad := len(whole) != 14 || (hasFrac && frac == "")
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			bad = true
		}
	}
	if bad {
		return time.Time{}, fmt.Errorf("modify %q is not YYYYMMDDHHMMSS[.sss]", v)
	}
	t, err := time.Parse("20060102150405", whole)
	if err != nil {
		return time.Time{}, fmt.Errorf("modify %q: %w", v, err)
	}
	for i, scale := 0, time.Second/10; i < len(frac) && scale > 0; i, scale = i+1, scale/10 {
		t = t.Add(time.Duration(frac[i]-'0') * scale)
	}
	return t, nil
}

// mlsdTap reads an MLSD listing as it passes on the data connection: it
// sees every byte the client library reads, splits lines at LF (dropping
// a CR before it) and parses them itself, keeping the facts the library
// throws away. One tap serves one listing; the goroutine running it owns it.
type mlsdTap struct {
	items   []item
	dialled bool // a data connection was opened for the listing
	bytes   int64
	bad     int    // lines not understood
	sample  string // the first of them, quoted and shortened, and why
	partial []byte // the line read so far
	long    bool   // the line read so far is longer than maxLine
}

func (t *mlsdTap) write(p []byte) {
	t.bytes += int64(len(p))
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.add(p)
			return
		}
		t.add(p[:i])
		t.line()
		p = p[i+1:]
	}
}

func (t *mlsdTap) add(p []byte) {
	if t.long {
		return
	}
	if len(t.partial)+len(p) > maxLine {
		t.long = true
		t.partial = append(t.partial, p[:maxLine-len(t.partial)]...)
		return
	}
	t.partial = append(t.partial, p...)
}

// line parses the line read so far.
func (t *mlsdTap) line() {
	l := bytes.TrimSuffix(t.partial, []byte("\r"))
	defer func() { t.partial, t.long = t.partial[:0], false }()
	if len(l) == 0 && !t.long {
		return // a blank line says nothing
	}
	if t.long {
		t.fail(l, fmt.Errorf("longer than %d bytes", maxLine))
		return
	}
	it, err := parseMLSD(string(l))
	if err != nil {
		t.fail(l, err)
		return
	}
	t.items = append(t.items, it)
}

func (t *mlsdTap) fail(l []byte, why error) {
	t.bad++
	if t.sample == "" {
		const show = 80
		s := string(l)
		if len(s) > show {
			s = s[:show] + "…"
		}
		t.sample = fmt.Sprintf("%s: %v", strconv.Quote(s), why)
	}
}

// cut reports whether the listing stopped in the middle of a line, as
// when the data connection was closed early: RFC 3659 ends every line with
// CRLF, so the bytes after the last LF are not a whole entry.
func (t *mlsdTap) cut() bool { return len(t.partial) > 0 || t.long }
