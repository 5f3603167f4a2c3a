package watcher

import (
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// A lister lists folders one at a time, reusing its buffers from one to
// the next. The watcher has two: one for full scans, which may pause in
// the middle of a folder, and one for the folders events name.
type lister interface {
	// open starts listing the folder abs. Only the root may be reached
	// through a symbolic link (follow); a folder replaced since its parent
	// was listed fails with an error wrapping fs.ErrNotExist.
	open(abs string, follow bool) error
	// next moves to the next entry; false at the end of the folder or on
	// an error, which err then returns.
	next() bool
	// name is the entry's name. It may point into the lister's buffer:
	// it is valid only until the next call of next or close, and must be
	// copied (strings.Clone) to be kept.
	name() string
	// kind is the entry's type as the listing gives it (fs.ModeDir,
	// fs.ModeSymlink, ..., 0 for a regular file); false when it does not.
	kind() (fs.FileMode, bool)
	// stat describes the entry itself, following no link.
	stat() (size, mtime int64, typ fs.FileMode, err error)
	// err is the error that ended the listing early, if any.
	err() error
	// close ends the listing; the lister may then open another folder.
	close()
}

// readDirLister lists with os.ReadDir: one allocation or more a file, on
// systems without the fast lister.
type readDirLister struct {
	entries []fs.DirEntry
	i       int
	failed  error
}

func newReadDirLister() lister { return &readDirLister{} }

func (l *readDirLister) open(abs string, _ bool) error {
	entries, err := os.ReadDir(abs)
	l.entries, l.i, l.failed = entries, -1, nil
	if err != nil && len(entries) == 0 {
		return err
	}
	l.failed = err // listed in part: what was read is still looked at
	return nil
}

func (l *readDirLister) next() bool {
	l.i++
	return l.i < len(l.entries)
}

func (l *readDirLister) name() string { return l.entries[l.i].Name() }

func (l *readDirLister) kind() (fs.FileMode, bool) { return l.entries[l.i].Type(), true }

func (l *readDirLister) stat() (size, mtime int64, typ fs.FileMode, err error) {
	info, err := l.entries[l.i].Info()
	if err != nil {
		return 0, 0, 0, err
	}
	return info.Size(), info.ModTime().UnixNano(), info.Mode().Type(), nil
}

func (l *readDirLister) err() error { return l.failed }

func (l *readDirLister) close() { l.entries, l.i = nil, 0 }

// scratch holds the buffers the filters use to lower-case names without
// allocating.
type scratch struct{ name, rel []byte }

// bytesString is b as a string, without a copy: b must not change while
// the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// lower returns s in lower case, as strings.ToLower does. An ASCII name
// with capitals is lowered into buf, and the result is valid until buf is
// used again.
func lower(buf *[]byte, s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return s
	}
	*buf = appendLower((*buf)[:0], s)
	return bytesString(*buf)
}

// appendLower appends s, lower-cased, to b.
func appendLower(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return append(b, strings.ToLower(s)...)
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}
