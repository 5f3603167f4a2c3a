package audio

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// MP3 search limits. The first frame must lie within mp3Search bytes of
// the start of the audio, and it counts only when mp3Chain frames follow
// each other from it (fewer when the audio ends first).
const (
	mp3Search   = 64 << 10
	mp3Chain    = 4
	maxFrameLen = 2881 // MPEG 2 layer II, 160 kbit/s at 8 kHz, padded
	scanBuffer  = 64 << 10
	cbrCheck    = 8 // frames at the start, and again mid-file, that must share the bit rate
)

// mpegFrame is a decoded MPEG audio frame header.
type mpegFrame struct {
	header     uint32
	mpeg1      bool // MPEG 1, else MPEG 2 or 2.5 (half the samples per layer III frame)
	layer      int
	bitrate    int // bit/s
	sampleRate int
	channels   int
	crc        bool
	size       int // bytes, header included
	samples    int // per frame
}

// streamMask covers the header bits that stay the same across the frames
// of one stream: sync, version, layer and sample rate.
const streamMask = 0xFFFE0C00

var mpegBitrates = [5][15]int{ // kbit/s by bitrate index
	{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448}, // MPEG 1 layer I
	{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384},    // MPEG 1 layer II
	{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320},     // MPEG 1 layer III
	{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256},    // MPEG 2/2.5 layer I
	{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160},         // MPEG 2/2.5 layers II, III
}

var mpegRates = [4][3]int{ // Hz by version bits, then sample rate index
	{11025, 12000, 8000},  // MPEG 2.5
	{},                    // reserved
	{22050, 24000, 16000}, // MPEG 2
	{44100, 48000, 32000}, // MPEG 1
}

// parseFrame decodes an MPEG audio frame header. Free-format bit rates and
// reserved values are refused.
func parseFrame(h uint32) (mpegFrame, bool) {
	version := h >> 19 & 3
	layerBits := h >> 17 & 3
	brIndex := h >> 12 & 15
	srIndex := h >> 10 & 3
	if h&0xFFE00000 != 0xFFE00000 || version == 1 || layerBits == 0 ||
		brIndex == 0 || brIndex == 15 || srIndex == 3 || h&3 == 2 {
		return mpegFrame{}, false
	}
	f := mpegFrame{
		header:     h,
		mpeg1:      version == 3,
		layer:      int(4 - layerBits),
		sampleRate: mpegRates[version][srIndex],
		crc:        h>>16&1 == 0,
		channels:   2,
	}
	if h>>6&3 == 3 {
		f.channels = 1
	}
	table := f.layer - 1
	if !f.mpeg1 {
		table = 4
		if f.layer == 1 {
			table = 3
		}
	}
	f.bitrate = mpegBitrates[table][brIndex] * 1000
	pad := int(h >> 9 & 1)
	switch {
	case f.layer == 1:
		f.samples = 384
		f.size = (12*f.bitrate/f.sampleRate + pad) * 4
	case f.layer == 3 && !f.mpeg1:
		f.samples = 576
		f.size = 72*f.bitrate/f.sampleRate + pad
	default:
		f.samples = 1152
		f.size = 144*f.bitrate/f.sampleRate + pad
	}
	return f, true
}

// follows reports whether g can be the frame after f in the same stream.
func (f mpegFrame) follows(g uint32) bool {
	_, ok := parseFrame(g)
	return ok && g&streamMask == f.header&streamMask
}

// probeMP3 looks for MPEG audio frames from start on. found is false when
// there are none (and err is nil).
func probeMP3(s *source, start int64, tagged bool) (info Info, found bool, err error) {
	end, err := audioEnd(s, start)
	if err != nil {
		return Info{}, false, err
	}
	off, first, err := findFrames(s, start, end, tagged)
	if err != nil || off < 0 {
		return Info{}, false, err
	}
	info = Info{Format: MP3, SampleRate: first.sampleRate, Channels: first.channels}
	frames, audio, err := vbrHeader(s, off, end, first)
	if err != nil {
		return Info{}, true, err
	}
	if frames > 0 {
		info.Duration, _ = span(frames*uint64(first.samples), uint64(first.sampleRate))
		return info, true, nil
	}
	if cbr, err := constantRate(s, audio, end, first); err != nil {
		return Info{}, true, err
	} else if cbr {
		info.Duration, _ = span(uint64(end-audio), uint64(first.bitrate/8))
		return info, true, nil
	}
	samples, err := countSamples(s, audio, end, first)
	if err != nil {
		return Info{}, true, err
	}
	info.Duration, _ = span(samples, uint64(first.sampleRate))
	return info, true, nil
}

// audioEnd returns where the MPEG audio of a file ends: before a trailing
// ID3v1 tag (and its extended TAG+ block), APEv2 tag or Lyrics3v2 block.
func audioEnd(s *source, start int64) (int64, error) {
	end := s.size
	var b [32]byte
	// at reads n bytes starting back bytes before end, or returns nil when
	// the audio is shorter than back.
	at := func(n, back int64) ([]byte, error) {
		if end-start < back {
			return nil, nil
		}
		if err := s.readAt(b[:n], end-back); err != nil {
			return nil, s.fail(MP3, "trailing tags", err)
		}
		return b[:n], nil
	}
	for range 4 {
		t, err := at(4, 128)
		if err != nil {
			return 0, err
		}
		if t != nil && string(t[:3]) == "TAG" {
			end -= 128
			if t, err := at(4, 227); err != nil {
				return 0, err
			} else if t != nil && string(t) == "TAG+" {
				end -= 227
			}
			continue
		}
		if t, err = at(32, 32); err != nil {
			return 0, err
		}
		if t != nil && string(t[:8]) == "APETAGEX" {
			n := int64(le32(t[12:]))
			if le32(t[20:])&(1<<31) != 0 {
				n += 32 // header
			}
			if n >= 32 && n <= end-start {
				end -= n
				continue
			}
		}
		if t, err = at(15, 15); err != nil {
			return 0, err
		}
		if t != nil && string(t[6:]) == "LYRICS200" {
			n, err := strconv.ParseUint(string(t[:6]), 10, 32)
			if err == nil && int64(n)+15 <= end-start {
				end -= int64(n) + 15
				continue
			}
		}
		break
	}
	return end, nil
}

// findFrames returns the offset and header of the first frame in
// [start, end) that begins a chain of consecutive frames, or -1.
func findFrames(s *source, start, end int64, tagged bool) (int64, mpegFrame, error) {
	n := min(end-start, mp3Search+mp3Chain*maxFrameLen+4)
	if n < 4 {
		return -1, mpegFrame{}, nil
	}
	buf := make([]byte, n)
	if err := s.readAt(buf, start); err != nil {
		return -1, mpegFrame{}, s.fail(MP3, "first frames", err)
	}
	atEnd := start+n == end
	for i := 0; i+4 <= len(buf) && i < mp3Search; i++ {
		if buf[i] != 0xFF || buf[i+1]&0xE0 != 0xE0 {
			continue
		}
		f, ok := parseFrame(be32(buf[i:]))
		if !ok {
			continue
		}
		frames, pos := 1, i+f.size
		for frames < mp3Chain && pos+4 <= len(buf) && f.follows(be32(buf[pos:])) {
			g, _ := parseFrame(be32(buf[pos:]))
			frames, pos = frames+1, pos+g.size
		}
		// A chain cut short by the end of the audio counts too, if the
		// file says it holds audio or more than one frame agrees.
		reachedEnd := atEnd && pos+4 > len(buf)
		if frames >= mp3Chain || reachedEnd && (tagged || frames >= 2) {
			return start + int64(i), f, nil
		}
	}
	return -1, mpegFrame{}, nil
}

// sideInfoLen is the layer III side information size after the header.
func (f mpegFrame) sideInfoLen() int {
	switch {
	case f.mpeg1 && f.channels == 2:
		return 32
	case f.mpeg1, f.channels == 2:
		return 17
	}
	return 9
}

// vbrHeader reads a Xing/Info or VBRI header in the first frame at off. It
// returns the frame count it gives (0 when there is none) and where the
// audio frames start: after the header frame, which holds no audio.
func vbrHeader(s *source, off, end int64, f mpegFrame) (frames uint64, audio int64, err error) {
	if f.layer != 3 {
		return 0, off, nil
	}
	var buf [maxFrameLen]byte
	b := buf[:min(int64(f.size), end-off)]
	if err := s.readAt(b, off); err != nil {
		return 0, 0, s.fail(MP3, "first frame", err)
	}
	// The smallest frame at this sample rate bounds how many frames fit.
	smallest, _ := parseFrame(f.header&^0xF200 | 1<<12)
	maxFrames := uint64(end-off)/uint64(smallest.size) + 1
	plausible := func(n uint64) bool { return n > 0 && n <= maxFrames }

	x := 4 + f.sideInfoLen()
	for _, at := range []int{x, x + 2} {
		if at+12 > len(b) {
			break
		}
		if tag := string(b[at : at+4]); tag != "Xing" && tag != "Info" {
			continue
		}
		if flags := be32(b[at+4:]); flags&1 != 0 {
			if n := uint64(be32(b[at+8:])); plausible(n) {
				return n, off + int64(f.size), nil
			}
		}
		return 0, off + int64(f.size), nil
	}
	if len(b) >= 36+18 && string(b[36:40]) == "VBRI" && be16(b[40:]) == 1 {
		if n := uint64(be32(b[50:])); plausible(n) {
			return n, off + int64(f.size), nil
		}
		return 0, off + int64(f.size), nil
	}
	return 0, off, nil
}

// constantRate reports whether the stream from audio on has one bit rate:
// cbrCheck frames at the start and cbrCheck frames found near the middle
// all have the first frame's.
func constantRate(s *source, audio, end int64, f mpegFrame) (bool, error) {
	same := func(from int64) (bool, error) {
		var buf [cbrCheck*maxFrameLen + 4]byte
		b := buf[:min(int64(len(buf)), end-from)]
		if err := s.readAt(b, from); err != nil {
			return false, s.fail(MP3, "frames", err)
		}
		pos := 0
		for range cbrCheck {
			if pos+4 > len(b) {
				return pos == len(b) || from+int64(len(b)) == end, nil
			}
			h := be32(b[pos:])
			g, ok := parseFrame(h)
			if !ok || !f.follows(h) || g.bitrate != f.bitrate {
				return false, nil
			}
			pos += g.size
		}
		return true, nil
	}
	if ok, err := same(audio); !ok || err != nil {
		return false, err
	}
	mid := audio + (end-audio)/2
	if end-mid < 4*maxFrameLen {
		return true, nil
	}
	at, _, err := findFrames(s, mid, end, false)
	if err != nil {
		return false, err
	}
	if at < 0 {
		return false, nil
	}
	return same(at)
}

// countSamples walks the frames in [audio, end) in one streaming pass and
// returns the samples they hold. Bytes that are not a frame of the stream
// are skipped one at a time until the next frame.
func countSamples(s *source, audio, end int64, f mpegFrame) (uint64, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(s.r, audio, end-audio), scanBuffer)
	var samples uint64
	for {
		b, err := br.Peek(4)
		if len(b) < 4 {
			if err == nil || errors.Is(err, io.EOF) {
				return samples, nil
			}
			return 0, s.fail(MP3, "frames", err)
		}
		h := be32(b)
		if !f.follows(h) {
			if _, err := br.Discard(1); err != nil {
				return 0, s.fail(MP3, "frames", err)
			}
			continue
		}
		g, _ := parseFrame(h)
		samples += uint64(g.samples)
		if _, err := br.Discard(g.size); err != nil {
			if errors.Is(err, io.EOF) {
				return samples, nil // the last frame is cut short
			}
			return 0, s.fail(MP3, "frames", err)
		}
	}
}
