package chat

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// input reads a chat file, failing once it is larger than max bytes or is
// not UTF-8. It validates what it reads before it hands any of it on, so
// that neither decoder sees such bytes.
type input struct {
	r   io.Reader
	max int64
	// buf holds bytes checked and not yet read, buf[i:j], then the start of
	// a rune that the last read from r cut, buf[j:k].
	buf     []byte
	i, j, k int
	off     int64 // offset in the file of buf[0]
	err     error // returned once buf[i:j] is read
}

func newInput(r io.Reader, max int64) *input {
	return &input{r: r, max: max, buf: make([]byte, 32<<10)}
}

func (in *input) Read(p []byte) (int, error) {
	for tries := 0; in.i == in.j; tries++ {
		if in.err != nil {
			return 0, in.err
		}
		if tries == 100 {
			return 0, &readError{io.ErrNoProgress}
		}
		in.fill()
	}
	n := copy(p, in.buf[in.i:in.j])
	in.i += n
	return n, nil
}

// fill reads once from r and checks what it read.
func (in *input) fill() {
	in.off += int64(in.j)
	in.k = copy(in.buf, in.buf[in.j:in.k])
	in.i, in.j = 0, 0
	n, err := in.r.Read(in.buf[in.k:])
	in.k += n
	eof := err == io.EOF
	switch {
	case in.off+int64(in.k) > in.max:
		in.err = errTooBig
		return
	case err != nil && !eof:
		in.err = &readError{err}
		return
	}
	end := in.k
	if !eof {
		end = cutRune(in.buf[:in.k])
	}
	if bad := invalidUTF8(in.buf[:end]); bad >= 0 {
		in.err = &badUTF8{offset: in.off + int64(bad)}
		return
	}
	in.j = end
	if eof {
		in.err = io.EOF
	}
}

// cutRune returns the length of b without a rune its end cuts.
func cutRune(b []byte) int {
	for k := len(b) - 1; k >= 0 && k >= len(b)-utf8.UTFMax; k-- {
		if utf8.RuneStart(b[k]) {
			if !utf8.FullRune(b[k:]) {
				return k
			}
			break
		}
	}
	return len(b)
}

// invalidUTF8 returns the offset of the first byte of b that is not UTF-8,
// or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for k := 0; k < len(b); {
		r, size := utf8.DecodeRune(b[k:])
		if r == utf8.RuneError && size <= 1 {
			return k
		}
		k += size
	}
	return -1
}

// errTooBig is input's error for a file over its limit.
var errTooBig = errors.New("file too big")

// badUTF8 is input's error for bytes that are not UTF-8.
type badUTF8 struct{ offset int64 }

func (e *badUTF8) Error() string {
	return fmt.Sprintf("is not UTF-8 text (byte %d): save it as UTF-8", e.offset)
}

// readError is an error of the underlying reader, not of the file's content.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// contentError returns the *FileError for an error of input, or nil for
// another error.
func contentError(err error) error {
	var bu *badUTF8
	var re *readError
	switch {
	case errors.Is(err, errTooBig):
		return &FileError{Reason: "is larger than " + size(maxFileSize)}
	case errors.As(err, &bu):
		return &FileError{Reason: bu.Error()}
	case errors.As(err, &re):
		return re
	}
	return nil
}

// size renders n bytes for a message.
func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
