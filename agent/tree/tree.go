// Package tree opens, removes and moves files inside a folder without
// following symbolic links or leaving it.
//
// Every function takes the folder (root) and a slash-separated path inside
// it (rel), as a job records them. The folder itself may be reached through
// links: it is the administrator's configuration. Below it nothing is
// followed. Each component of rel is looked up in the folder opened for the
// component before it (an os.Root), checked with Lstat, opened, and checked
// again to be the very directory or file that Lstat described; a symbolic
// link in any component, or on Windows a junction or other reparse point,
// is refused with ErrLink. A component swapped for a link between the check
// and the open is refused the same way, so a file outside the folder is
// never read, removed or moved, and neither is a file inside it reached by
// another name.
//
// ErrLink, ErrNotRegular and ErrNotLocal are permanent: trying again does
// not help until someone fixes the folder or the path.
package tree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

var (
	// ErrLink reports a component of the path that is a symbolic link or
	// a reparse point (junction, mount point), or that was replaced while
	// it was being opened.
	ErrLink = errors.New("symbolic link or reparse point, not followed")
	// ErrNotRegular reports a file that is not a regular file (a folder,
	// a named pipe, a device, a socket).
	ErrNotRegular = errors.New("not a regular file")
	// ErrNotLocal reports a path that is absolute, not clean, or leaves
	// the folder.
	ErrNotLocal = errors.New("not a clean relative path inside the folder")
	// ErrChanged reports a file that changed while it was being moved.
	ErrChanged = errors.New("file changed while it was being moved")
)

// errReplaced reports a component that was a directory or a regular file
// when it was checked and something else when it was opened.
var errReplaced = fmt.Errorf("replaced while being opened: %w", ErrLink)

// remove removes name from d. Tests replace it to inject failures.
var remove = (*os.Root).Remove

// dirPerm is the mode of the folders Move creates.
const dirPerm = 0o750

// filePerm is the mode of the copies Move writes across devices.
const filePerm = 0o640

// Open opens root/rel for reading. No component of rel may be a link
// (ErrLink) and the file must be a regular file (ErrNotRegular). Opening
// never blocks on a named pipe. On Windows the file is opened with
// FILE_SHARE_READ|FILE_SHARE_WRITE|FILE_SHARE_DELETE (os.Root's own sharing
// mode), so the program that wrote it can still rename or delete it while
// it is read.
func Open(root, rel string) (*os.File, error) {
	d, name, err := walk("open", root, rel, false)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	f, _, err := openIn(d, name)
	if err != nil {
		return nil, pathErr("open", filepath.Join(d.Name(), name), err)
	}
	return f, nil
}

// Lstat describes root/rel itself: the last component is not followed and
// may be anything, a link included. A link in any earlier component is
// refused with ErrLink.
func Lstat(root, rel string) (fs.FileInfo, error) {
	d, name, err := walk("lstat", root, rel, false)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fi, err := d.Lstat(name)
	if err != nil {
		return nil, pathErr("lstat", filepath.Join(d.Name(), name), err)
	}
	return fi, nil
}

// Remove removes root/rel if it is a regular file reached without links.
// A file that does not exist, or whose folder does not, is not an error:
// Remove may be called again after it succeeded.
func Remove(root, rel string) error {
	d, name, err := walk("remove", root, rel, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if err := removeIn(d, name, nil); err != nil {
		return pathErr("remove", filepath.Join(d.Name(), name), err)
	}
	return nil
}

// removeIn removes the regular file name in d. If want is not nil, the
// file must still be the one want describes (ErrChanged). A missing file
// is not an error. If name is swapped for a link between the check and
// the removal, the link itself is removed, never what it points to.
func removeIn(d *os.Root, name string, want fs.FileInfo) error {
	fi, err := d.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	}
	if err := checkFile(fi); err != nil {
		return err
	}
	if want != nil && !unchanged(want, fi) {
		return ErrChanged
	}
	if err := remove(d, name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// split checks rel and returns its components.
func split(rel string) ([]string, error) {
	p := filepath.FromSlash(rel)
	if !filepath.IsLocal(p) || filepath.Clean(p) != p {
		return nil, ErrNotLocal
	}
	return strings.Split(p, string(filepath.Separator)), nil
}

// walk opens the folder of root/rel that holds rel's last component, one
// component at a time, each inside the one before, refusing links. With
// create, missing folders are made (dirPerm), root included. It returns that folder, which
// the caller closes, and the last component's name.
func walk(op, root, rel string, create bool) (*os.Root, string, error) {
	parts, err := split(rel)
	if err != nil {
		return nil, "", &fs.PathError{Op: op, Path: rel, Err: err}
	}
	d, err := os.OpenRoot(root)
	if create && errors.Is(err, fs.ErrNotExist) {
		// The folder itself is configuration: it may be reached by links.
		if err = os.MkdirAll(root, dirPerm); err == nil {
			d, err = os.OpenRoot(root)
		}
	}
	if err != nil {
		return nil, "", pathErr(op, root, err)
	}
	for _, c := range parts[:len(parts)-1] {
		path := filepath.Join(d.Name(), c)
		next, err := enter(d, c, create)
		d.Close()
		if err != nil {
			return nil, "", pathErr(op, path, err)
		}
		d = next
	}
	return d, parts[len(parts)-1], nil
}

// enter opens the directory c of d, which must be a directory and not a
// link; with create, a missing c is made first.
func enter(d *os.Root, c string, create bool) (*os.Root, error) {
	fi, err := d.Lstat(c)
	if create && errors.Is(err, fs.ErrNotExist) {
		if err = d.Mkdir(c, dirPerm); err == nil || errors.Is(err, fs.ErrExist) {
			fi, err = d.Lstat(c)
		}
	}
	switch {
	case err != nil:
		return nil, err
	case isLink(fi):
		return nil, ErrLink
	case !fi.IsDir():
		return nil, syscall.ENOTDIR
	}
	// os.Root follows a link that stays inside d: make sure what was
	// opened is the directory Lstat saw, not a link swapped in since.
	next, err := d.OpenRoot(c)
	if err != nil {
		return nil, err
	}
	st, err := next.Stat(".")
	if err == nil && !os.SameFile(fi, st) {
		err = errReplaced
	}
	if err != nil {
		next.Close()
		return nil, err
	}
	return next, nil
}

// openIn opens the regular file name in d for reading, without following
// a link, and returns it with its description taken after it was opened.
func openIn(d *os.Root, name string) (*os.File, fs.FileInfo, error) {
	fi, err := d.Lstat(name)
	if err != nil {
		return nil, nil, err
	}
	if err := checkFile(fi); err != nil {
		return nil, nil, err
	}
	// openFlag does not block on a named pipe swapped in since Lstat.
	f, err := d.OpenFile(name, openFlag, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	switch {
	case err != nil:
	case !os.SameFile(fi, st):
		err = errReplaced
	case !st.Mode().IsRegular():
		err = ErrNotRegular
	default:
		err = blocking(f)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// checkFile refuses anything but a regular file that is not a link.
func checkFile(fi fs.FileInfo) error {
	switch {
	case isLink(fi):
		return ErrLink
	case !fi.Mode().IsRegular():
		return ErrNotRegular
	}
	return nil
}

// unchanged reports whether b describes the same version of the same file
// as a.
func unchanged(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// pathErr says what was being done to which path. os.Root names only the
// part of the path it was given; the full path replaces it.
func pathErr(op, path string, err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		err = pe.Err
	}
	return &fs.PathError{Op: op, Path: path, Err: err}
}
