//go:build windows

package upload

import (
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

// reparseTagNameSurrogate is the bit of a reparse tag that marks a link to
// another file or folder: symbolic links, junctions, mount points.
const reparseTagNameSurrogate = 0x20000000

// fileAttributeTagInfo is FILE_ATTRIBUTE_TAG_INFO.
type fileAttributeTagInfo struct {
	FileAttributes uint32
	ReparseTag     uint32
}

// openNoFollow opens path for reading without following a symbolic link,
// junction or other link in its last element, and shares it for reading,
// writing and deleting, so that the recorder may still write, rename or
// delete the file while it is read.
//
// It opens the reparse point itself (FILE_FLAG_OPEN_REPARSE_POINT) and
// refuses it if it is a link. A reparse point that is not a link (a
// deduplicated or cloud file) only gives its content when opened normally:
// it is opened again so, and kept only if that is the same file.
func openNoFollow(path string) (*os.File, error) {
	h, err := createFile(path, windows.FILE_FLAG_OPEN_REPARSE_POINT)
	if err != nil {
		return nil, err
	}
	var fi windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &fi); err != nil {
		windows.CloseHandle(h)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if fi.FileAttributes&windows.FILE_ATTRIBUTE_REPARSE_POINT == 0 {
		return os.NewFile(uintptr(h), path), nil
	}
	var tag fileAttributeTagInfo
	err = windows.GetFileInformationByHandleEx(h, windows.FileAttributeTagInfo, (*byte)(unsafe.Pointer(&tag)), uint32(unsafe.Sizeof(tag)))
	windows.CloseHandle(h)
	switch {
	case err != nil:
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	case tag.ReparseTag&reparseTagNameSurrogate != 0:
		return nil, fmt.Errorf("%s: %w: a symbolic link or junction", path, ErrChanged)
	}
	h, err = createFile(path, 0)
	if err != nil {
		return nil, err
	}
	var again windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &again); err != nil {
		windows.CloseHandle(h)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if again.VolumeSerialNumber != fi.VolumeSerialNumber || again.FileIndexHigh != fi.FileIndexHigh || again.FileIndexLow != fi.FileIndexLow {
		windows.CloseHandle(h)
		return nil, fmt.Errorf("%s: %w: replaced while it was opened", path, ErrChanged)
	}
	return os.NewFile(uintptr(h), path), nil
}

// createFile opens an existing file or folder for reading with every
// sharing mode and the given flags. Folders open too
// (FILE_FLAG_BACKUP_SEMANTICS, as os.Open does), so that the caller's
// check refuses them as not regular files.
func createFile(path string, flags uint32) (windows.Handle, error) {
	p, err := windows.UTF16PtrFromString(longPath(path))
	if err != nil {
		return windows.InvalidHandle, &os.PathError{Op: "open", Path: path, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_FLAG_BACKUP_SEMANTICS|flags, 0)
	if err != nil {
		return windows.InvalidHandle, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return h, nil
}

// longPath returns path in the \\?\ form when it is too long for the
// classic Windows API, as package os does.
func longPath(path string) string {
	if len(path) < 248 || strings.HasPrefix(path, `\\?\`) || strings.HasPrefix(path, `\\.\`) {
		return path
	}
	abs, err := windows.FullPath(path)
	if err != nil {
		return path
	}
	if strings.HasPrefix(abs, `\\`) {
		return `\\?\UNC\` + abs[2:]
	}
	return `\\?\` + abs
}
