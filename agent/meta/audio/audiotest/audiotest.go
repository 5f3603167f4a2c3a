// Package audiotest makes files that the agent takes for recordings, for
// tests and benchmarks: PCM WAV headers over any payload.
package audiotest

import (
	"bytes"
	"encoding/binary"
)

// HeaderLen is the length of the header Header writes.
const HeaderLen = 44

// Header returns the first HeaderLen bytes of a WAV file of size bytes in
// all: 8 kHz, 16-bit, mono PCM whose data chunk holds the rest of the file.
// size must be at least HeaderLen.
func Header(size int64) []byte {
	const rate, channels, bits = 8000, 1, 16
	b := make([]byte, 0, HeaderLen)
	b = append(b, "RIFF"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(size-8))
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1) // PCM
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*channels*bits/8)
	b = binary.LittleEndian.AppendUint16(b, channels*bits/8)
	b = binary.LittleEndian.AppendUint16(b, bits)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(size-HeaderLen))
	return b
}

// Stamp writes a WAV header over the first HeaderLen bytes of data, so that
// data, its length unchanged, is a WAV file, and returns data. data shorter
// than HeaderLen is returned as it is.
func Stamp(data []byte) []byte {
	if len(data) >= HeaderLen {
		copy(data, Header(int64(len(data))))
	}
	return data
}

// WAV returns a WAV file of n bytes (at least HeaderLen) whose samples are
// all fill.
func WAV(n int, fill byte) []byte {
	return Stamp(bytes.Repeat([]byte{fill}, n))
}

// mp3Frame is one MPEG-1 Layer III frame, 128 kbit/s at 44.1 kHz, without
// padding: 417 bytes, its audio silent.
var mp3Frame = func() []byte {
	f := make([]byte, 417)
	copy(f, []byte{0xff, 0xfb, 0x90, 0x64})
	return f
}()

// MP3 returns an MP3 file of frames silent frames (26 ms each).
func MP3(frames int) []byte {
	return bytes.Repeat(mp3Frame, frames)
}
