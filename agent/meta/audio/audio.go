// Package audio reads the format and duration of call recordings from their headers.
package audio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strings"
	"time"
	"unicode/utf8"
)

// Format is a recording format the agent can upload.
type Format string

// The formats Probe recognises.
const (
	WAV  Format = "wav"
	MP3  Format = "mp3"
	M4A  Format = "m4a"
	FLAC Format = "flac"
)

// FormatOf returns the format a file name's extension promises
// (case-insensitive: .WAV is WAV; .m4a and .mp4 audio -> M4A), and false
// for any other extension.
func FormatOf(name string) (Format, bool) {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || strings.ContainsAny(name[i:], `/\`) {
		return "", false
	}
	switch strings.ToLower(name[i+1:]) {
	case "wav":
		return WAV, true
	case "mp3":
		return MP3, true
	case "m4a", "mp4":
		return M4A, true
	case "flac":
		return FLAC, true
	}
	return "", false
}

// Info is what Probe found in a recording.
type Info struct {
	Format   Format
	Duration time.Duration // 0 when the file holds no samples
	// SampleRate and Channels where known (0 otherwise).
	SampleRate int
	Channels   int
}

// ErrNotAudio is wrapped by Probe's error when the content is none of the
// four formats; the error's text says what the content looks like.
var ErrNotAudio = errors.New("not audio")

// CorruptError says the content is one of the four formats but its headers
// are damaged or truncated.
type CorruptError struct {
	Format Format
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt %s: %s", e.Format, e.Reason)
}

func corrupt(f Format, format string, args ...any) error {
	return &CorruptError{Format: f, Reason: fmt.Sprintf(format, args...)}
}

func notAudio(what string) error {
	return fmt.Errorf("%w: %s", ErrNotAudio, what)
}

// headLen is how much of the file start Probe reads to tell the formats apart.
const headLen = 512

// Probe reads the content of a file of the given size and says what it is.
// It returns an error wrapping ErrNotAudio when the content is none of the
// four formats (with a short description of what it looks like: "text",
// "empty file", "ZIP archive", "PDF document"...), and a *CorruptError
// (Format + reason) when it is one of them but its headers are damaged or
// truncated. Any other error is a read error from r, worth trying again.
// Probe goes by the content alone: compare Info.Format with FormatOf of
// the name to find a file whose extension lies.
//
// Probe reads only headers, except for an MP3 file that has neither a
// Xing/Info nor a VBRI header and whose bit rate varies: its frames are
// counted in one streaming pass with a fixed-size buffer. Every length and
// offset in the file is checked against size before it is used.
func Probe(r io.ReaderAt, size int64) (Info, error) {
	if size < 0 {
		return Info{}, fmt.Errorf("probe audio: negative size %d", size)
	}
	if size == 0 {
		return Info{}, notAudio("empty file")
	}
	s := &source{r: r, size: size}
	head := make([]byte, min(size, headLen))
	n, err := r.ReadAt(head, 0)
	if n < len(head) {
		if err != nil && !errors.Is(err, io.EOF) {
			return Info{}, fmt.Errorf("read audio file start: %w", err)
		}
		// The file is shorter than its size: what is there tells the
		// format, and the format's parser finds it cut.
		head = head[:n]
		if n == 0 {
			return Info{}, notAudio("empty file")
		}
	}
	switch {
	case isWAV(head):
		return probeWAV(s, head)
	case bytes.HasPrefix(head, []byte("fLaC")):
		return probeFLAC(s, 0)
	case isID3v2(head):
		return probeTagged(s)
	case isMP4(head) && (string(head[4:8]) == "ftyp" || !isText(head)):
		if what := mp4Image(head); what != "" {
			return Info{}, notAudio(what)
		}
		return probeMP4(s)
	}
	if what := describeMagic(head); what != "" {
		return Info{}, notAudio(what)
	}
	if isText(head) {
		return Info{}, notAudio("text")
	}
	info, found, err := probeMP3(s, 0, false)
	if found || err != nil {
		return info, err
	}
	return Info{}, notAudio(describeRest(head))
}

// probeTagged reads a file that starts with an ID3v2 tag: MP3 as a rule,
// FLAC sometimes.
func probeTagged(s *source) (Info, error) {
	off, err := skipID3v2(s, 0)
	if err != nil {
		return Info{}, err
	}
	var magic [4]byte
	if n := min(s.size-off, 4); n >= 2 {
		if err := s.readAt(magic[:n], off); err != nil {
			return Info{}, s.fail(MP3, "audio after the ID3v2 tag", err)
		}
		if string(magic[:]) == "fLaC" {
			return probeFLAC(s, off)
		}
	}
	info, found, err := probeMP3(s, off, true)
	if err != nil {
		return Info{}, err
	}
	if !found {
		if off+2 <= s.size && magic[0] == 0xFF && magic[1]&0xF6 == 0xF0 {
			return Info{}, notAudio("AAC ADTS audio (unsupported format)")
		}
		return Info{}, corrupt(MP3, "no MPEG audio frames after the ID3v2 tag at %d", off)
	}
	return info, nil
}

// isID3v2 reports whether b starts with an ID3v2 tag header.
func isID3v2(b []byte) bool {
	return len(b) >= 10 && string(b[:3]) == "ID3" && b[3] >= 2 && b[3] <= 4 &&
		(b[6]|b[7]|b[8]|b[9])&0x80 == 0
}

// maxID3Tags bounds how many ID3v2 tags in a row are skipped.
const maxID3Tags = 4

// skipID3v2 returns the offset after the ID3v2 tags starting at off.
func skipID3v2(s *source, off int64) (int64, error) {
	for range maxID3Tags {
		var h [10]byte
		if off+10 > s.size {
			if off == 0 {
				return 0, corrupt(MP3, "truncated ID3v2 tag header")
			}
			return off, nil
		}
		if err := s.readAt(h[:], off); err != nil {
			return 0, s.fail(MP3, "ID3v2 tag header", err)
		}
		if !isID3v2(h[:]) {
			return off, nil
		}
		n := int64(h[6])<<21 | int64(h[7])<<14 | int64(h[8])<<7 | int64(h[9])
		n += 10
		if h[3] >= 4 && h[5]&0x10 != 0 {
			n += 10 // footer
		}
		if n > s.size-off {
			return 0, corrupt(MP3, "ID3v2 tag of %d bytes at %d runs past the end of the file", n, off)
		}
		off += n
	}
	return off, nil
}

// source reads a file of a known size; reads past the size fail with
// errShort, never with a short buffer.
type source struct {
	r    io.ReaderAt
	size int64
}

var errShort = errors.New("unexpected end of file")

// readAt fills p from off.
func (s *source) readAt(p []byte, off int64) error {
	if off < 0 || off > s.size || int64(len(p)) > s.size-off {
		return errShort
	}
	n, err := s.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return errShort
	}
	return err
}

// fail turns a read error in part what of a file of format f into the error
// Probe returns: a CorruptError when the file is too short, else a read error.
func (s *source) fail(f Format, what string, err error) error {
	if errors.Is(err, errShort) {
		return corrupt(f, "truncated in the %s", what)
	}
	return fmt.Errorf("read %s %s: %w", f, what, err)
}

// span returns n units at perSec units a second as a duration, and false
// when perSec is 0 or the duration does not fit a time.Duration.
func span(n, perSec uint64) (time.Duration, bool) {
	if perSec == 0 {
		return 0, false
	}
	sec, rem := n/perSec, n%perSec
	if sec >= uint64(math.MaxInt64/int64(time.Second)) {
		return 0, false
	}
	hi, lo := bits.Mul64(rem, uint64(time.Second))
	frac, _ := bits.Div64(hi, lo, perSec) // hi < perSec since rem < perSec
	return time.Duration(sec)*time.Second + time.Duration(frac), true
}

// describeMagic names content with a known signature that is not one of the
// four formats, or returns "".
func describeMagic(b []byte) string {
	has := func(p string) bool { return bytes.HasPrefix(b, []byte(p)) }
	at := func(off int, p string) bool { return len(b) >= off+len(p) && string(b[off:off+len(p)]) == p }
	switch {
	case has("PK\x03\x04"), has("PK\x05\x06"), has("PK\x07\x08"):
		return "ZIP archive"
	case has("%PDF-"):
		return "PDF document"
	case has("\x1f\x8b"):
		return "gzip data"
	case has("\x89PNG\r\n\x1a\n"):
		return "PNG image"
	case has("\xff\xd8\xff"):
		return "JPEG image"
	case has("GIF87a"), has("GIF89a"):
		return "GIF image"
	case has("7z\xbc\xaf\x27\x1c"):
		return "7-Zip archive"
	case has("Rar!\x1a\x07"):
		return "RAR archive"
	case has("\x7fELF"):
		return "ELF executable"
	case has("MZ"):
		return "Windows executable"
	case has("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return "Microsoft Office document"
	case has("OggS"):
		return "Ogg audio or video (unsupported format)"
	case has("FORM") && (at(8, "AIFF") || at(8, "AIFC")):
		return "AIFF audio (unsupported format)"
	case has("#!AMR"):
		return "AMR audio (unsupported format)"
	case has("caff"):
		return "CAF audio (unsupported format)"
	case has(".snd"):
		return "Sun audio (unsupported format)"
	case has("\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return "ASF/WMA media (unsupported format)"
	case has("\x1a\x45\xdf\xa3"):
		return "Matroska/WebM media (unsupported format)"
	case has("RIFF") && len(b) >= 12:
		return fmt.Sprintf("RIFF %q data, not WAVE", b[8:12])
	}
	return ""
}

// describeRest names content that no signature identified.
func describeRest(b []byte) string {
	switch {
	case len(b) >= 2 && b[0] == 0xFF && b[1]&0xF6 == 0xF0:
		return "AAC ADTS audio (unsupported format)"
	case isUTF16(b):
		return "text (UTF-16)"
	case len(bytes.Trim(b, "\x00")) == 0:
		return "zero bytes"
	}
	return "binary data"
}

// isText reports whether b reads as UTF-8 text without control characters
// other than white space. A rune cut at the end of b is allowed.
func isText(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return !utf8.FullRune(b) && len(b) < utf8.UTFMax
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}

// isUTF16 reports whether b starts with a UTF-16 byte order mark followed
// by ASCII text.
func isUTF16(b []byte) bool {
	if len(b) < 6 {
		return false
	}
	var lo int
	switch {
	case b[0] == 0xFF && b[1] == 0xFE:
		lo = 0
	case b[0] == 0xFE && b[1] == 0xFF:
		lo = 1
	default:
		return false
	}
	for i := 2; i+1 < len(b); i += 2 {
		c, z := b[i+lo], b[i+1-lo]
		if z != 0 || c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c >= 0x7f {
			return false
		}
	}
	return true
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 { return uint32(le16(b)) | uint32(le16(b[2:]))<<16 }
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }
func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }
func be24(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }
func be32(b []byte) uint32 { return uint32(be16(b))<<16 | uint32(be16(b[2:])) }
func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }
