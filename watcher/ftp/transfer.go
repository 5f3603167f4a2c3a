package ftp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/textproto"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	jftp "github.com/jlaffaye/ftp"
)

// ErrShort is the error of a Download whose file ended before the size
// the listing gave: the file changed on the server or the transfer was cut
// in a way the server did not report. The .part is kept for a retry.
var ErrShort = errors.New("file shorter than listed")

// Download fetches path into dst and returns the SHA-256 (hex) of the whole
// file. It writes dst+".part", resuming an existing one from its length
// with REST (its bytes are hashed first), and after a dropped connection
// resumes again from where it stopped, as long as each attempt brings
// bytes. The result must be exactly size bytes: a short file is an error
// (see [ErrShort]) and is never renamed into place. The .part is fsynced,
// renamed to dst, and dst gets mtime as its modification time.
//
// Download may be called again after any error or a crash: it carries on
// from the .part, or, if dst is already complete (size and mtime match),
// only hashes it.
func (s *Source) Download(ctx context.Context, rel string, size int64, mtime time.Time, dst string) (sha256hex string, err error) {
	if err := checkRel(rel); err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	if size < 0 {
		return "", fmt.Errorf("download %s: size %d is negative", rel, size)
	}
	part := dst + ".part"
	if st, err := os.Stat(dst); err == nil && st.Size() == size && st.ModTime().Equal(mtime) {
		if _, err := os.Stat(part); errors.Is(err, os.ErrNotExist) {
			return hashFile(dst)
		}
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", rel, err)
	}
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("download %s: %w", rel, err)
	}
	off := st.Size()
	if off > size { // not a prefix of this version
		if err := f.Truncate(0); err != nil {
			return "", fmt.Errorf("download %s: %w", rel, err)
		}
		off = 0
	}
	h := sha256.New()
	if off > 0 {
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, off)); err != nil {
			return "", fmt.Errorf("download %s: hash %s: %w", rel, part, err)
		}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return "", fmt.Errorf("download %s: %w", rel, err)
	}
	remote := s.remote(rel)
	stalls := 0
	for off < size {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := s.retr(ctx, remote, off, f, h)
		off += n
		if err == nil {
			break
		}
		if errors.Is(err, errNoRest) {
			if err := f.Truncate(0); err != nil {
				return "", fmt.Errorf("download %s: %w", rel, err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return "", fmt.Errorf("download %s: %w", rel, err)
			}
			h.Reset()
			off = 0
		}
		var tp *textproto.Error
		if ctx.Err() != nil || (errors.As(err, &tp) && tp.Code/100 == 5 && !errors.Is(err, errNoRest)) {
			return "", fmt.Errorf("download %s: %w", rel, err)
		}
		if n == 0 {
			stalls++
		} else {
			stalls = 0
		}
		if stalls >= maxStalls {
			return "", fmt.Errorf("download %s at byte %d: %w", rel, off, err)
		}
		s.log.Debug("download interrupted; resuming", "path", rel, "offset", off, "err", err)
	}
	if off > size {
		return "", fmt.Errorf("download %s: got %d bytes, listed %d: changed on the server", rel, off, size)
	}
	if off != size {
		return "", fmt.Errorf("download %s: got %d bytes of %d: %w", rel, off, size, ErrShort)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("download %s: sync: %w", rel, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return "", fmt.Errorf("download %s: %w", rel, err)
	}
	if err := os.Rename(part, dst); err != nil {
		return "", fmt.Errorf("download %s: %w", rel, err)
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		return "", fmt.Errorf("download %s: set mtime: %w", rel, err)
	}
	syncDir(dst)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// errNoRest marks a server that refused REST: the download starts over.
var errNoRest = errors.New("server refused REST")

// retr runs one RETR from off into w and h, and returns the bytes written.
func (s *Source) retr(ctx context.Context, remote string, off int64, w io.Writer, h hash.Hash) (int64, error) {
	var n int64
	err := s.xfer.with(ctx, func(c *jftp.ServerConn) error {
		r, err := c.RetrFrom(remote, uint64(off))
		if err != nil {
			var tp *textproto.Error
			if off > 0 && errors.As(err, &tp) && (tp.Code == 500 || tp.Code == 502 || tp.Code == 504) {
				return fmt.Errorf("%w: %w", errNoRest, err)
			}
			return err
		}
		n, err = io.Copy(io.MultiWriter(w, h), r)
		cerr := r.Close()
		if err != nil {
			return err
		}
		return cerr
	})
	return n, err
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// syncDir fsyncs the folder holding p, so a rename survives a crash; where
// folders cannot be synced (Windows) it does nothing.
func syncDir(p string) {
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// Delete removes path from the server. A file already gone is not an error.
func (s *Source) Delete(ctx context.Context, rel string) error {
	if err := checkRel(rel); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	remote := s.remote(rel)
	err := s.xfer.with(ctx, func(c *jftp.ServerConn) error {
		err := c.Delete(remote)
		if err == nil {
			return nil
		}
		if _, exists, serr := stat(c, remote); serr == nil && !exists {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete %s: %w", remote, err)
	}
	return nil
}

// stat says whether remote exists, and its size, by SIZE, or by listing
// its folder where SIZE is not understood.
func stat(c *jftp.ServerConn, remote string) (size int64, exists bool, err error) {
	size, err = c.FileSize(remote)
	if err == nil {
		return size, true, nil
	}
	var tp *textproto.Error
	if !errors.As(err, &tp) {
		return 0, false, err
	}
	if tp.Code == 550 || tp.Code == 450 {
		// Not found, or not a plain file: look at the folder to tell.
	} else if tp.Code/100 != 5 {
		return 0, false, err
	}
	entries, err := c.List(path.Dir(remote))
	if err != nil {
		if errors.As(err, &tp) && tp.Code == 550 {
			return 0, false, nil // the folder is gone too
		}
		return 0, false, err
	}
	base := path.Base(remote)
	for _, e := range entries {
		if e.Name == base {
			return int64(e.Size), true, nil
		}
	}
	return 0, false, nil
}

// maxFreeName caps the names Move tries in a folder.
var maxFreeName = 1000

// Move moves path into the remote folder dir (absolute, or relative to
// Dir), creating dir as needed, and returns the new path, absolute on the
// server. A name already taken there gets a free one: x.wav becomes
// x.1.wav, x.2.wav, ... Move is idempotent: when path is gone and a file of
// the size last offered for it (or, if that is not known, of its name) is
// in dir, that file is taken as the result of an earlier Move.
func (s *Source) Move(ctx context.Context, rel, dir string) (dst string, err error) {
	if err := checkRel(rel); err != nil {
		return "", fmt.Errorf("move: %w", err)
	}
	if dir == "" || strings.ContainsAny(dir, "\\\x00\r\n") {
		return "", fmt.Errorf("move %s: bad folder %q", rel, dir)
	}
	if !strings.HasPrefix(dir, "/") {
		dir = path.Join(s.opts.Dir, dir)
	}
	dir = path.Clean(dir)
	src := s.remote(rel)
	s.mu.Lock()
	known, haveSize := s.sizes[rel]
	s.mu.Unlock()
	err = s.xfer.with(ctx, func(c *jftp.ServerConn) error {
		_, exists, err := stat(c, src)
		if err != nil {
			return err
		}
		if !exists {
			d, err := s.findMoved(c, rel, dir, known, haveSize)
			dst = d
			return err
		}
		if err := mkdirAll(c, dir); err != nil {
			return err
		}
		for i := 0; i < maxFreeName; i++ {
			cand := path.Join(dir, numbered(path.Base(rel), i))
			if cand == src {
				dst = src
				return nil
			}
			_, taken, err := stat(c, cand)
			if err != nil {
				return err
			}
			if taken {
				continue
			}
			if err := c.Rename(src, cand); err != nil {
				return err
			}
			dst = cand
			return nil
		}
		return fmt.Errorf("no free name in %s after %d tries", dir, maxFreeName)
	})
	if err != nil {
		return "", fmt.Errorf("move %s to %s: %w", src, dir, err)
	}
	return dst, nil
}

// findMoved looks in dir for the file an earlier Move of rel left there.
func (s *Source) findMoved(c *jftp.ServerConn, rel, dir string, size int64, haveSize bool) (string, error) {
	found := ""
	for i := 0; i < maxFreeName; i++ {
		cand := path.Join(dir, numbered(path.Base(rel), i))
		sz, exists, err := stat(c, cand)
		if err != nil {
			return "", err
		}
		if !exists {
			break
		}
		if !haveSize || sz == size {
			found = cand // the last one wins: later moves take higher numbers
		}
	}
	if found == "" {
		return "", fmt.Errorf("%s is gone from the server and not in %s", rel, dir)
	}
	return found, nil
}

// numbered returns name with i before its extension: x.wav, x.1.wav, ...
func numbered(name string, i int) string {
	if i == 0 {
		return name
	}
	ext := path.Ext(name)
	if ext == name {
		ext = ""
	}
	return strings.TrimSuffix(name, ext) + "." + strconv.Itoa(i) + ext
}

// mkdirAll creates dir and its parents; folders already there are fine.
func mkdirAll(c *jftp.ServerConn, dir string) error {
	if dir == "/" {
		return nil
	}
	var cur string
	var last error
	for el := range strings.SplitSeq(strings.TrimPrefix(dir, "/"), "/") {
		cur += "/" + el
		last = c.MakeDir(cur)
		if last != nil && isConnErr(last) {
			var tp *textproto.Error
			if !errors.As(last, &tp) {
				return last
			}
		}
	}
	if last == nil {
		return nil
	}
	// The last MKD failed: fine if the folder exists.
	if _, err := c.List(dir); err != nil {
		return fmt.Errorf("create folder %s: %w", dir, last)
	}
	return nil
}
