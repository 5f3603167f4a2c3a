package audio

import "bytes"

// maxChunks bounds the chunks walked before fmt and data are found.
const maxChunks = 1 << 12

// WAVE format tags that matter here.
const (
	wavPCM        = 0x0001
	wavFloat      = 0x0003
	wavExtensible = 0xFFFE
)

func isWAV(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch string(head[:4]) {
	case "RIFF", "RF64", "BW64":
		// A header cut before the form type is still a (truncated) WAV.
		return len(head) < 12 || string(head[8:12]) == "WAVE"
	}
	return false
}

// wavFmt is the part of a fmt chunk Probe uses.
type wavFmt struct {
	tag        uint16 // format code, the subformat's for WAVE_FORMAT_EXTENSIBLE
	channels   uint16
	rate       uint32
	byteRate   uint32
	blockAlign uint16
	bits       uint16
}

// probeWAV walks the chunks of a RIFF/WAVE (or RF64/BW64) file to fmt and
// data. A data size of 0 or 0xFFFFFFFF, or one that runs past the end of
// the file, is a header the recorder never patched: the data runs to the
// end of the file.
func probeWAV(s *source, head []byte) (Info, error) {
	if s.size < 12 {
		return Info{}, corrupt(WAV, "truncated RIFF header (%d bytes)", s.size)
	}
	rf64 := string(head[:4]) != "RIFF"
	var (
		format     *wavFmt
		fact       uint64
		hasFact    bool
		ds64Data   uint64
		hasDS64    bool
		dataLen    int64
		dataOpen   bool // data runs to the end of the file
		hasData    bool
		off        = int64(12)
		chunkHead  [8]byte
		body       [40]byte
		chunksSeen int
		cutHeader  bool
	)
	for !(hasData && format != nil) {
		if chunksSeen++; chunksSeen > maxChunks {
			return Info{}, corrupt(WAV, "more than %d chunks before fmt and data", maxChunks)
		}
		if s.size-off < 8 {
			cutHeader = s.size > off
			break
		}
		if err := s.readAt(chunkHead[:], off); err != nil {
			return Info{}, s.fail(WAV, "chunk header", err)
		}
		id, n := string(chunkHead[:4]), int64(le32(chunkHead[4:]))
		at := off + 8
		rest := s.size - at
		switch id {
		case "ds64":
			if !rf64 || n < 16 {
				break
			}
			b := body[:16]
			if err := s.readAt(b, at); err != nil {
				return Info{}, s.fail(WAV, "ds64 chunk", err)
			}
			ds64Data, hasDS64 = le64(b[8:]), true
		case "fmt ":
			if n < 14 {
				return Info{}, corrupt(WAV, "fmt chunk of %d bytes", n)
			}
			b := body[:min(n, int64(len(body)))]
			if err := s.readAt(b, at); err != nil {
				return Info{}, s.fail(WAV, "fmt chunk", err)
			}
			f, err := parseWAVFmt(b)
			if err != nil {
				return Info{}, err
			}
			format = &f
		case "fact":
			if n < 4 {
				break
			}
			b := body[:4]
			if err := s.readAt(b, at); err != nil {
				return Info{}, s.fail(WAV, "fact chunk", err)
			}
			fact, hasFact = uint64(le32(b)), true
		case "data":
			hasData = true
			size := uint64(n)
			if rf64 && n == 0xFFFFFFFF && hasDS64 {
				size = ds64Data
			}
			if size == 0 || n == 0xFFFFFFFF && size == 0xFFFFFFFF || size > uint64(rest) {
				dataLen, dataOpen = rest, true
			} else {
				dataLen = int64(size)
				n = dataLen
			}
		}
		if dataOpen {
			break
		}
		off = at + n + n&1
		if off > s.size {
			break
		}
	}
	if format == nil {
		if hasData {
			return Info{}, corrupt(WAV, "no fmt chunk before the data")
		}
		if cutHeader {
			return Info{}, corrupt(WAV, "truncated chunk header at %d", off)
		}
		return Info{}, corrupt(WAV, "no fmt chunk")
	}
	if !hasData {
		if cutHeader {
			return Info{}, corrupt(WAV, "truncated chunk header at %d", off)
		}
		return Info{}, corrupt(WAV, "no data chunk")
	}
	info := Info{Format: WAV, SampleRate: int(format.rate), Channels: int(format.channels)}
	var ok bool
	switch {
	case format.tag == wavPCM || format.tag == wavFloat:
		align := uint64(format.blockAlign)
		if want := uint64(format.channels) * ((uint64(format.bits) + 7) / 8); align == 0 {
			align = want
		}
		if align == 0 {
			return Info{}, corrupt(WAV, "PCM block size 0")
		}
		info.Duration, ok = span(uint64(dataLen)/align, uint64(format.rate))
	case hasFact && fact > 0 && !dataOpen:
		// Compressed codecs (GSM, ADPCM...): the fact chunk counts samples.
		info.Duration, ok = span(fact, uint64(format.rate))
	default:
		if format.byteRate == 0 {
			return Info{}, corrupt(WAV, "byte rate 0 for format 0x%04x", format.tag)
		}
		info.Duration, ok = span(uint64(dataLen), uint64(format.byteRate))
	}
	if !ok {
		return Info{}, corrupt(WAV, "duration out of range")
	}
	return info, nil
}

// extensibleGUIDTail is the part of a WAVE_FORMAT_EXTENSIBLE subformat GUID
// after its format code.
var extensibleGUIDTail = []byte("\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71")

func parseWAVFmt(b []byte) (wavFmt, error) {
	f := wavFmt{
		tag:        le16(b),
		channels:   le16(b[2:]),
		rate:       le32(b[4:]),
		byteRate:   le32(b[8:]),
		blockAlign: le16(b[12:]),
	}
	if len(b) >= 16 {
		f.bits = le16(b[14:])
	}
	if f.tag == wavExtensible {
		if len(b) < 40 {
			return f, corrupt(WAV, "WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes", len(b))
		}
		f.tag = le16(b[24:])
		if !bytes.Equal(b[26:40], extensibleGUIDTail) {
			f.tag = wavExtensible // a subformat outside the WAVE format codes
		}
	}
	if f.channels == 0 {
		return f, corrupt(WAV, "fmt chunk has 0 channels")
	}
	if f.rate == 0 {
		return f, corrupt(WAV, "fmt chunk has sample rate 0")
	}
	return f, nil
}
