//go:build linux && (amd64 || arm64 || riscv64)

package watcher

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fastLister says that newLister reads folders with getdents64 and
// allocates nothing a file.
const fastLister = true

// direntBuf is the size of a lister's buffer for getdents64: a few hundred
// entries a system call.
const direntBuf = 32 << 10

// newLister returns the getdents64 lister: names are read into a buffer
// reused from folder to folder, and each file is described by fstatat
// relative to the folder's descriptor, so that a scan allocates nothing a
// file, only a little a folder.
func newLister() lister { return &direntLister{fd: -1, buf: make([]byte, direntBuf)} }

// direntLister lists a folder with getdents64 and describes its entries
// with fstatat.
type direntLister struct {
	fd       int
	abs      string
	buf      []byte
	pos, end int // the unread part of buf
	nameAt   int // offset in buf of the current entry's name, NUL-terminated
	nameLen  int
	typ      byte // the current entry's d_type
	failed   error
	st       unix.Stat_t
}

func (l *direntLister) open(abs string, follow bool) error {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	var err error
	for {
		fd, err = unix.Open(abs, flags, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		if !follow && (err == unix.ELOOP || err == unix.ENOTDIR) {
			return &fs.PathError{Op: "open", Path: abs, Err: fmt.Errorf("%w: no longer a folder", fs.ErrNotExist)}
		}
		return &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	l.fd, l.abs, l.pos, l.end, l.failed = fd, abs, 0, 0, nil
	return nil
}

func (l *direntLister) next() bool {
	for {
		if l.pos >= l.end {
			n, err := unix.Getdents(l.fd, l.buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				l.failed = &fs.PathError{Op: "readdirent", Path: l.abs, Err: err}
				return false
			}
			if n <= 0 {
				return false
			}
			l.pos, l.end = 0, n
		}
		// struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name.
		rec := l.buf[l.pos:l.end]
		if len(rec) < 19 {
			l.failed = &fs.PathError{Op: "readdirent", Path: l.abs, Err: fmt.Errorf("short record of %d bytes", len(rec))}
			return false
		}
		reclen := int(binary.NativeEndian.Uint16(rec[16:]))
		if reclen < 19 || reclen > len(rec) {
			l.failed = &fs.PathError{Op: "readdirent", Path: l.abs, Err: fmt.Errorf("record length %d of %d bytes left", reclen, len(rec))}
			return false
		}
		ino := binary.NativeEndian.Uint64(rec)
		name := rec[19:reclen]
		n := 0
		for n < len(name) && name[n] != 0 {
			n++
		}
		at := l.pos + 19
		l.pos += reclen
		if ino == 0 || n == len(name) { // deleted entry, or no NUL: skip it
			continue
		}
		if n == 1 && name[0] == '.' || n == 2 && name[0] == '.' && name[1] == '.' {
			continue
		}
		l.nameAt, l.nameLen, l.typ = at, n, rec[18]
		return true
	}
}

func (l *direntLister) name() string { return bytesString(l.buf[l.nameAt : l.nameAt+l.nameLen]) }

func (l *direntLister) kind() (fs.FileMode, bool) {
	switch l.typ {
	case unix.DT_REG:
		return 0, true
	case unix.DT_DIR:
		return fs.ModeDir, true
	case unix.DT_LNK:
		return fs.ModeSymlink, true
	case unix.DT_FIFO:
		return fs.ModeNamedPipe, true
	case unix.DT_SOCK:
		return fs.ModeSocket, true
	case unix.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice, true
	case unix.DT_BLK:
		return fs.ModeDevice, true
	}
	return 0, false
}

func (l *direntLister) stat() (size, mtime int64, typ fs.FileMode, err error) {
	for {
		// The name is NUL-terminated in buf, which is neither moved nor
		// changed during the call: no copy of it is needed.
		_, _, e := unix.Syscall6(sysFstatat, uintptr(l.fd), uintptr(unsafe.Pointer(&l.buf[l.nameAt])),
			uintptr(unsafe.Pointer(&l.st)), unix.AT_SYMLINK_NOFOLLOW, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, 0, 0, &fs.PathError{Op: "lstat", Path: l.abs + string(os.PathSeparator) + l.name(), Err: e}
		}
		break
	}
	switch l.st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		typ = fs.ModeDir
	case unix.S_IFLNK:
		typ = fs.ModeSymlink
	case unix.S_IFIFO:
		typ = fs.ModeNamedPipe
	case unix.S_IFSOCK:
		typ = fs.ModeSocket
	case unix.S_IFCHR:
		typ = fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		typ = fs.ModeDevice
	default:
		typ = fs.ModeIrregular
	}
	return l.st.Size, l.st.Mtim.Sec*1e9 + l.st.Mtim.Nsec, typ, nil
}

func (l *direntLister) err() error { return l.failed }

func (l *direntLister) close() {
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}
