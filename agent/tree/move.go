package tree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// rename moves oldName in src to newName in dst without replacing an
// existing newName (an error wrapping fs.ErrExist). Move calls it once per
// attempt, before falling back to a copy. Tests replace it.
var rename = renameAt

// maxNames bounds the numbered names Move tries.
const maxNames = 10000

var errSameFile = errors.New("source and destination are the same file")

// Move moves srcRoot/rel to dstRoot/rel and returns where the file now is.
// The source must be a regular file reached without links. dstRoot and
// the folders of rel inside it are made if missing (mode 0750); no link is
// followed below dstRoot either.
//
// Move never replaces a file: when dstRoot/rel holds another file, the
// first free numbered name is used (x.wav, then x.1.wav, x.2.wav, ...).
// A destination that already holds the same bytes as the source is taken
// to be an earlier copy whose source could not be removed: the source is
// removed and nothing is copied again. Move may therefore be called again
// after any failure, and after success (it then fails with an error
// wrapping fs.ErrNotExist). The returned path is set whenever the file is
// at the destination, even if err is not nil (the source could not be
// removed after a copy, or the folder could not be synced).
//
// On one device the file is renamed. Across devices (EXDEV on Unix,
// ERROR_NOT_SAME_DEVICE on Windows) it is copied to a temporary name in
// the destination folder, synced, given the source's modification time
// (best effort: some shares refuse it, and sameness is judged by content),
// renamed into place, and only then is the source removed; a half copy is
// never under the final name. A source that changes during the copy is
// left alone and the copy discarded (ErrChanged).
func Move(srcRoot, rel, dstRoot string) (dst string, err error) {
	sd, name, err := walk("move", srcRoot, rel, false)
	if err != nil {
		return "", err
	}
	defer sd.Close()
	src := filepath.Join(sd.Name(), name)
	in, fi, err := openIn(sd, name)
	if err != nil {
		return "", pathErr("move", src, err)
	}
	defer in.Close()
	dd, _, err := walk("move", dstRoot, rel, true)
	if err != nil {
		return "", err
	}
	defer dd.Close()

	for i := range maxNames {
		n := numbered(name, i)
		to := filepath.Join(dd.Name(), n)
		st, err := dd.Lstat(n)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			copied, err := put(sd, name, in, fi, dd, n)
			switch {
			case errors.Is(err, fs.ErrExist):
				continue // taken since Lstat
			case err != nil && !copied:
				return "", moveErr(src, to, err)
			case err != nil:
				return "", moveErr(src, to, fmt.Errorf("copy: %w", err))
			case !copied:
				if err := syncDir(dd); err != nil {
					return to, moveErr(src, to, fmt.Errorf("renamed, but the folder could not be synced: %w", err))
				}
				return to, nil
			}
		case err != nil:
			return "", moveErr(src, to, err)
		case os.SameFile(fi, st):
			return "", moveErr(src, to, errSameFile)
		case checkFile(st) != nil:
			continue // a link or a folder: someone else's, never followed
		default:
			same, err := sameContent(dd, n, in, fi.Size())
			if err != nil {
				return "", moveErr(src, to, err)
			}
			if !same {
				continue
			}
		}
		// to holds a complete copy of the source.
		if err := removeIn(sd, name, fi); err != nil {
			return to, moveErr(src, to, fmt.Errorf("copied, but the source could not be removed: %w", err))
		}
		return to, nil
	}
	return "", moveErr(src, filepath.Join(dd.Name(), name), fmt.Errorf("no free name after %d tries", maxNames))
}

// put moves the source to the free name n in dd, by renaming it or,
// across devices, by copying it. copied reports a copy: the source is
// then still to be removed.
func put(sd *os.Root, name string, in *os.File, fi fs.FileInfo, dd *os.Root, n string) (copied bool, err error) {
	if err = rename(sd, name, dd, n); err == nil || !crossDevice(err) {
		return false, err
	}
	return true, copyIn(in, fi, dd, n)
}

// copyIn copies in, described by fi, to n in d through a temporary name,
// so that n is either absent or complete.
func copyIn(in *os.File, fi fs.FileInfo, d *os.Root, n string) (err error) {
	tmp, out, err := createTemp(d, n)
	if err != nil {
		return err
	}
	defer func() {
		if out != nil {
			out.Close()
		}
		if err != nil {
			d.Remove(tmp)
		}
	}()
	if _, err = in.Seek(0, io.SeekStart); err != nil {
		return err
	}
	w, err := io.Copy(out, in)
	if err != nil {
		return err
	}
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if w != fi.Size() || !unchanged(fi, st) {
		return ErrChanged
	}
	if err = out.Sync(); err != nil {
		return err
	}
	err, out = out.Close(), nil
	if err != nil {
		return err
	}
	// Best effort: the copy is judged by its bytes, not its time.
	_ = d.Chtimes(tmp, time.Time{}, fi.ModTime())
	if err = renameAt(d, tmp, d, n); err != nil {
		return err
	}
	return syncDir(d)
}

// createTemp creates a new file in d for a copy that will be named n.
func createTemp(d *os.Root, n string) (string, *os.File, error) {
	for {
		tmp := fmt.Sprintf(".%s.%08x.part", n, rand.Uint32())
		if len(tmp) > 255 {
			tmp = fmt.Sprintf(".%08x.part", rand.Uint32())
		}
		// O_EXCL never follows a link.
		f, err := d.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return tmp, f, err
	}
}

// sameContent reports whether the regular file name in d holds the first
// size bytes of in and nothing else.
func sameContent(d *os.Root, name string, in *os.File, size int64) (bool, error) {
	f, st, err := openIn(d, name)
	switch {
	case errors.Is(err, ErrLink), errors.Is(err, ErrNotRegular):
		return false, nil
	case err != nil:
		return false, err
	}
	defer f.Close()
	if st.Size() != size {
		return false, nil
	}
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	for off := int64(0); off < size; {
		k := int(min(int64(len(a)), size-off))
		if _, err := in.ReadAt(a[:k], off); err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil // the source shrank
			}
			return false, err
		}
		if _, err := io.ReadFull(f, b[:k]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return false, nil
			}
			return false, err
		}
		if !bytes.Equal(a[:k], b[:k]) {
			return false, nil
		}
		off += int64(k)
	}
	return true, nil
}

// numbered returns name for i == 0, else name with .i before its
// extension: x.wav, x.1.wav, x.2.wav.
func numbered(name string, i int) string {
	if i == 0 {
		return name
	}
	ext := filepath.Ext(name)
	return fmt.Sprintf("%s.%d%s", strings.TrimSuffix(name, ext), i, ext)
}

// moveErr says what was being moved where.
func moveErr(src, dst string, err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		err = e.Err
	case *os.LinkError:
		err = e.Err
	}
	return &os.LinkError{Op: "move", Old: src, New: dst, Err: err}
}
