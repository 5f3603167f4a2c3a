package tree

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// crossDevice reports a rename refused because it crosses volumes.
func crossDevice(err error) bool {
	return errors.Is(err, windows.ERROR_NOT_SAME_DEVICE) || errors.Is(err, syscall.EXDEV)
}

// syncDir is a no-op: a folder opened for reading cannot be flushed on
// Windows, and NTFS journals renames itself.
func syncDir(*os.Root) error { return nil }

// fileRenameInformation is FILE_RENAME_INFORMATION (ntifs.h).
type fileRenameInformation struct {
	ReplaceIfExists bool
	RootDirectory   windows.Handle
	FileNameLength  uint32
	FileName        [windows.MAX_PATH]uint16
}

// renameAt renames oldName in src to newName in dst, relative to the two
// open folders, so no reparse point above either name is followed, and
// never replaces newName. oldName itself is opened without following a
// reparse point and must be a regular file.
func renameAt(src *os.Root, oldName string, dst *os.Root, newName string) error {
	old := filepath.Join(src.Name(), oldName)
	if err := renameHandles(src, oldName, dst, newName, old); err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: filepath.Join(dst.Name(), newName), Err: err}
	}
	return nil
}

func renameHandles(src *os.Root, oldName string, dst *os.Root, newName, old string) error {
	sd, err := src.Open(".")
	if err != nil {
		return err
	}
	defer sd.Close()
	dd, err := dst.Open(".")
	if err != nil {
		return err
	}
	defer dd.Close()

	name, err := windows.NewNTUnicodeString(oldName)
	if err != nil {
		return err
	}
	oa := &windows.OBJECT_ATTRIBUTES{
		RootDirectory: windows.Handle(sd.Fd()),
		ObjectName:    name,
		Attributes:    windows.OBJ_CASE_INSENSITIVE | windows.OBJ_DONT_REPARSE,
	}
	oa.Length = uint32(unsafe.Sizeof(*oa))
	var h windows.Handle
	err = windows.NtCreateFile(&h,
		windows.DELETE|windows.SYNCHRONIZE|windows.FILE_READ_ATTRIBUTES,
		oa, &windows.IO_STATUS_BLOCK{}, nil, 0,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		windows.FILE_OPEN,
		windows.FILE_OPEN_REPARSE_POINT|windows.FILE_NON_DIRECTORY_FILE|windows.FILE_SYNCHRONOUS_IO_NONALERT|windows.FILE_OPEN_FOR_BACKUP_INTENT,
		0, 0)
	if err != nil {
		return ntErr(err)
	}
	f := os.NewFile(uintptr(h), old)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkFile(fi); err != nil {
		return err
	}

	p, err := windows.UTF16FromString(newName)
	if err != nil {
		return err
	}
	var info fileRenameInformation
	if len(p) > len(info.FileName) {
		return syscall.ENAMETOOLONG
	}
	info.RootDirectory = windows.Handle(dd.Fd())
	info.FileNameLength = uint32((len(p) - 1) * 2)
	copy(info.FileName[:], p)
	err = windows.NtSetInformationFile(h, &windows.IO_STATUS_BLOCK{},
		(*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), windows.FileRenameInformation)
	return ntErr(err)
}

// ntErr turns an NTSTATUS into the Win32 error the rest of Go knows
// (ERROR_ALREADY_EXISTS is fs.ErrExist, ERROR_NOT_SAME_DEVICE a move
// across volumes).
func ntErr(err error) error {
	if st, ok := err.(windows.NTStatus); ok {
		return st.Errno()
	}
	return err
}
