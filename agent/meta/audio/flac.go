package audio

// FLAC limits: metadata blocks walked, and how much of the file end is read
// to find the last frame when STREAMINFO does not count the samples.
const (
	maxFLACBlocks = 1 << 12
	flacTail      = 256 << 10
	maxFLACTail   = 4 << 20
	maxFrameCRCs  = 8 // candidate last frames whose CRC-16 is checked
)

// probeFLAC reads the STREAMINFO block of a FLAC stream at off.
func probeFLAC(s *source, off int64) (Info, error) {
	var b [4 + 4 + 34]byte
	if err := s.readAt(b[:], off); err != nil {
		return Info{}, s.fail(FLAC, "STREAMINFO block", err)
	}
	if b[4]&0x7F != 0 || be24(b[5:]) < 34 {
		return Info{}, corrupt(FLAC, "first metadata block is not STREAMINFO")
	}
	si := b[8:]
	maxBlock := be16(si[2:])
	maxFrame := be24(si[7:])
	v := be64(si[10:])
	rate := v >> 44
	channels := int(v>>41&7) + 1
	total := v & (1<<36 - 1)
	if rate == 0 {
		return Info{}, corrupt(FLAC, "STREAMINFO has sample rate 0")
	}
	info := Info{Format: FLAC, SampleRate: int(rate), Channels: channels}
	if total == 0 {
		var err error
		if total, err = flacSamplesFromEnd(s, off+4, maxBlock, maxFrame); err != nil {
			return Info{}, err
		}
	}
	var ok bool
	if info.Duration, ok = span(total, rate); !ok {
		return Info{}, corrupt(FLAC, "duration out of range")
	}
	return info, nil
}

// flacSamplesFromEnd counts the samples of a stream whose STREAMINFO leaves
// the count out (an encoder that could not seek back to write it), from the
// number of the last frame: the frame that ends the file and whose CRC-16
// holds.
func flacSamplesFromEnd(s *source, blocks int64, maxBlock uint16, maxFrame uint32) (uint64, error) {
	audio, err := flacAudioStart(s, blocks)
	if err != nil {
		return 0, err
	}
	end := s.size
	if end-audio >= 128 {
		var t [3]byte
		if err := s.readAt(t[:], end-128); err != nil {
			return 0, s.fail(FLAC, "trailing tag", err)
		}
		if string(t[:]) == "TAG" {
			end -= 128
		}
	}
	if end == audio {
		return 0, nil // no frames: no samples
	}
	window := int64(flacTail)
	if maxFrame > 0 {
		window = min(int64(maxFrame)+64, maxFLACTail)
	}
	window = min(window, end-audio)
	buf := make([]byte, window)
	if err := s.readAt(buf, end-window); err != nil {
		return 0, s.fail(FLAC, "last frame", err)
	}
	crcs := 0
	for i := len(buf) - 2; i >= 0 && crcs < maxFrameCRCs; i-- {
		if buf[i] != 0xFF || buf[i+1]&0xFE != 0xF8 {
			continue
		}
		h, ok := parseFLACFrame(buf[i:])
		if !ok {
			continue
		}
		crcs++
		frame := buf[i:]
		if len(frame) < h.headerLen+2 || crc16(frame[:len(frame)-2]) != be16(frame[len(frame)-2:]) {
			continue
		}
		if h.variable {
			return h.number + uint64(h.blockSize), nil
		}
		return h.number*uint64(maxBlock) + uint64(h.blockSize), nil
	}
	return 0, corrupt(FLAC, "STREAMINFO does not count the samples and no last frame was found")
}

// flacAudioStart returns the offset after the metadata blocks that start at
// off.
func flacAudioStart(s *source, off int64) (int64, error) {
	var h [4]byte
	for range maxFLACBlocks {
		if err := s.readAt(h[:], off); err != nil {
			return 0, s.fail(FLAC, "metadata block header", err)
		}
		off += 4 + int64(be24(h[1:]))
		if off > s.size {
			return 0, corrupt(FLAC, "metadata block runs past the end of the file")
		}
		if h[0]&0x80 != 0 {
			return off, nil
		}
	}
	return 0, corrupt(FLAC, "more than %d metadata blocks", maxFLACBlocks)
}

// flacFrame is what a FLAC frame header says about the frame's place.
type flacFrame struct {
	variable  bool   // number counts samples, else frames
	number    uint64 // first sample or frame number
	blockSize int
	headerLen int
}

// parseFLACFrame decodes the frame header at the start of b, checking its
// CRC-8.
func parseFLACFrame(b []byte) (flacFrame, bool) {
	if len(b) < 6 {
		return flacFrame{}, false
	}
	f := flacFrame{variable: b[1]&1 != 0}
	bsCode, srCode := b[2]>>4, b[2]&15
	chans, sizeCode := b[3]>>4, b[3]>>1&7
	if bsCode == 0 || srCode == 15 || chans > 10 || sizeCode == 3 || b[3]&1 != 0 {
		return flacFrame{}, false
	}
	// The frame or sample number, coded like UTF-8 up to 36 bits.
	p := 4
	c := b[p]
	var extra int
	switch {
	case c < 0x80:
		extra = 0
	case c&0xE0 == 0xC0:
		extra = 1
	case c&0xF0 == 0xE0:
		extra = 2
	case c&0xF8 == 0xF0:
		extra = 3
	case c&0xFC == 0xF8:
		extra = 4
	case c&0xFE == 0xFC:
		extra = 5
	case c == 0xFE:
		extra = 6
	default:
		return flacFrame{}, false
	}
	if extra == 6 && !f.variable {
		return flacFrame{}, false
	}
	if len(b) < p+1+extra {
		return flacFrame{}, false
	}
	f.number = uint64(c & (0x7F >> extra))
	if extra == 6 {
		f.number = 0
	}
	for i := 1; i <= extra; i++ {
		if b[p+i]&0xC0 != 0x80 {
			return flacFrame{}, false
		}
		f.number = f.number<<6 | uint64(b[p+i]&0x3F)
	}
	p += 1 + extra
	switch {
	case bsCode == 1:
		f.blockSize = 192
	case bsCode <= 5:
		f.blockSize = 576 << (bsCode - 2)
	case bsCode == 6:
		if len(b) < p+1 {
			return flacFrame{}, false
		}
		f.blockSize = int(b[p]) + 1
		p++
	case bsCode == 7:
		if len(b) < p+2 {
			return flacFrame{}, false
		}
		f.blockSize = int(be16(b[p:])) + 1
		p += 2
	default:
		f.blockSize = 256 << (bsCode - 8)
	}
	switch srCode {
	case 12:
		p++
	case 13, 14:
		p += 2
	}
	if len(b) < p+1 || crc8(b[:p]) != b[p] {
		return flacFrame{}, false
	}
	f.headerLen = p + 1
	return f, true
}

var crc8Table, crc16Table = crcTables()

// crcTables builds the tables of FLAC's CRC-8 (polynomial 0x07) and CRC-16
// (polynomial 0x8005), both starting from 0.
func crcTables() (t8 [256]uint8, t16 [256]uint16) {
	for i := range 256 {
		c8, c16 := uint8(i), uint16(i)<<8
		for range 8 {
			if c8&0x80 != 0 {
				c8 = c8<<1 ^ 0x07
			} else {
				c8 <<= 1
			}
			if c16&0x8000 != 0 {
				c16 = c16<<1 ^ 0x8005
			} else {
				c16 <<= 1
			}
		}
		t8[i], t16[i] = c8, c16
	}
	return t8, t16
}

func crc8(b []byte) uint8 {
	var c uint8
	for _, x := range b {
		c = crc8Table[c^x]
	}
	return c
}

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crc16Table[byte(c>>8)^x]
	}
	return c
}
