package audio_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/vela-agent/vela-agent/agent/meta/audio"
)

// The seed corpus: small headers of each format, built here.

func riffChunk(id string, body []byte) []byte {
	c := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	c = append(c, body...)
	if len(body)%2 == 1 {
		c = append(c, 0)
	}
	return c
}

func wavFmtBody(tag, channels uint16, rate uint32, bits uint16) []byte {
	align := channels * ((bits + 7) / 8)
	b := binary.LittleEndian.AppendUint16(nil, tag)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(align))
	b = binary.LittleEndian.AppendUint16(b, align)
	return binary.LittleEndian.AppendUint16(b, bits)
}

func riff(form string, chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte(form), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func seedWAVs() [][]byte {
	pcm := wavFmtBody(1, 1, 8000, 16)
	ext := append(wavFmtBody(0xFFFE, 2, 44100, 24), 22, 0, 24, 0, 3, 0, 0, 0)
	ext = append(ext, "\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"...)
	alaw := append(wavFmtBody(6, 1, 8000, 8), 0, 0)
	gsm := append(wavFmtBody(0x31, 1, 8000, 0), 2, 0, 0x40, 1)
	binary.LittleEndian.PutUint32(gsm[8:], 1625)
	binary.LittleEndian.PutUint16(gsm[12:], 65)
	fact := riffChunk("fact", binary.LittleEndian.AppendUint32(nil, 320))
	ds64 := make([]byte, 28)
	binary.LittleEndian.PutUint64(ds64[8:], 64)
	open := riffChunk("data", make([]byte, 32))
	binary.LittleEndian.PutUint32(open[4:], 0xFFFFFFFF)
	return [][]byte{
		riff("RIFF", riffChunk("fmt ", pcm), riffChunk("data", make([]byte, 160))),
		riff("RIFF", riffChunk("LIST", []byte("INFOISFT\x03\x00\x00\x00abc")), riffChunk("fmt ", ext), riffChunk("data", make([]byte, 60))),
		riff("RIFF", riffChunk("fmt ", alaw), fact, riffChunk("data", make([]byte, 320))),
		riff("RIFF", riffChunk("fmt ", gsm), fact, riffChunk("data", make([]byte, 65))),
		riff("RIFF", riffChunk("fmt ", pcm), open),
		riff("RF64", riffChunk("ds64", ds64), riffChunk("fmt ", pcm), open),
		riff("RIFF", riffChunk("fmt ", pcm))[:30],
	}
}

// flacCRC is FLAC's CRC of the given width and polynomial, from 0.
func flacCRC[T uint8 | uint16](b []byte, poly T, width int) T {
	var c T
	top := T(1) << (width - 1)
	for _, x := range b {
		c ^= T(x) << (width - 8)
		for range 8 {
			if c&top != 0 {
				c = c<<1 ^ poly
			} else {
				c <<= 1
			}
		}
	}
	return c
}

func seedFLACs() [][]byte {
	si := make([]byte, 34)
	binary.BigEndian.PutUint16(si[0:], 4096)
	binary.BigEndian.PutUint16(si[2:], 4096)
	binary.BigEndian.PutUint64(si[10:], 8000<<44|0<<41|15<<36|24000)
	head := append([]byte("fLaC\x80\x00\x00\x22"), si...)
	unknown := bytes.Clone(head)
	binary.BigEndian.PutUint64(unknown[18:], 8000<<44|15<<36)
	// A last frame: fixed block size, frame 5 of 4096 samples, mono, 16-bit.
	frame := []byte{0xFF, 0xF8, 0xC0, 0x08, 0x05}
	frame = append(frame, flacCRC[uint8](frame, 0x07, 8))
	frame = append(frame, 0x00, 0xAA, 0x55)
	frame = binary.BigEndian.AppendUint16(frame, flacCRC[uint16](frame, 0x8005, 16))
	tagged := append(id3v24("t"), head...)
	return [][]byte{head, append(unknown, frame...), tagged, head[:20]}
}

// mpegFrames returns n MPEG 2.5 layer III frames at 8 kbit/s, 8 kHz, mono,
// with empty audio: 72 bytes each.
func mpegFrames(n int) []byte {
	var b []byte
	for range n {
		f := make([]byte, 72)
		copy(f, "\xff\xe3\x18\xc4")
		b = append(b, f...)
	}
	return b
}

func seedMP3s() [][]byte {
	xing := mpegFrames(1)
	copy(xing[4+9:], "Xing\x00\x00\x00\x0f\x00\x00\x00\x05")
	vbri := mpegFrames(1)
	copy(vbri[36:], "VBRI\x00\x01\x04\x00\x00\x4b\x00\x00\x01\x68\x00\x00\x00\x05")
	layer2 := make([]byte, 4*144)
	for i := 0; i < len(layer2); i += 144 {
		copy(layer2[i:], "\xff\xfd\x18\xc4") // MPEG 1 layer II, 32 kbit/s, 32 kHz, mono
	}
	return [][]byte{
		mpegFrames(6),
		append(xing, mpegFrames(5)...),
		append(vbri, mpegFrames(5)...),
		append(id3v24("title"), mpegFrames(3)...),
		append(mpegFrames(4), append([]byte("TAG"), make([]byte, 125)...)...),
		layer2,
	}
}

func mp4Box(typ string, body ...[]byte) []byte {
	var payload []byte
	for _, b := range body {
		payload = append(payload, b...)
	}
	return append(append(binary.BigEndian.AppendUint32(nil, uint32(8+len(payload))), typ...), payload...)
}

func seedMP4s() [][]byte {
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	ftyp := mp4Box("ftyp", []byte("M4A \x00\x00\x02\x00M4A isomiso2"))
	mvhd := mp4Box("mvhd", make([]byte, 12), u32(1000), u32(3000), make([]byte, 80))
	mvhd1 := mp4Box("mvhd", []byte{1, 0, 0, 0}, make([]byte, 16), u32(1000), make([]byte, 4), u32(3000), make([]byte, 80))
	elst := mp4Box("elst", make([]byte, 4), u32(1), u32(3000), u32(1024), u32(0x10000))
	mdhd := mp4Box("mdhd", make([]byte, 12), u32(8000), u32(25600), make([]byte, 4))
	hdlr := mp4Box("hdlr", make([]byte, 8), []byte("soun"), make([]byte, 12), []byte("SoundHandler\x00"))
	esds := mp4Box("esds", make([]byte, 4), []byte("\x03\x19\x00\x01\x00\x04\x11\x40\x15\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x02\x15\x88\x06\x01\x02"))
	mp4a := mp4Box("mp4a", make([]byte, 6), []byte{0, 1}, make([]byte, 8), []byte{0, 2, 0, 16}, make([]byte, 4), u32(8000<<16), esds)
	stsd := mp4Box("stsd", make([]byte, 4), u32(1), mp4a)
	minf := mp4Box("minf", mp4Box("stbl", stsd))
	trak := mp4Box("trak", mp4Box("tkhd", make([]byte, 84)), mp4Box("edts", elst), mp4Box("mdia", mdhd, hdlr, minf))
	moov := mp4Box("moov", mvhd, trak)
	mdat := mp4Box("mdat", make([]byte, 64))
	large := append(binary.BigEndian.AppendUint32(nil, 1), "mdat"...)
	large = append(binary.BigEndian.AppendUint64(large, 16+64), make([]byte, 64)...)
	return [][]byte{
		append(append(ftyp, moov...), mdat...),
		append(append(ftyp, mdat...), moov...),
		append(append(ftyp, large...), mp4Box("moov", mvhd1, trak)...),
		append(append(ftyp, mdat...), moov[:40]...),
		append(ftyp, mp4Box("moov", mvhd, mp4Box("mvex", mp4Box("mehd", make([]byte, 4), u32(3000))), trak)...),
	}
}

// FuzzProbe checks that Probe never panics, returns only its two kinds of
// error on data in memory, and reads at most a bounded multiple of the
// input (no loops over untrusted counts).
func FuzzProbe(f *testing.F) {
	for _, seeds := range [][][]byte{seedWAVs(), seedFLACs(), seedMP3s(), seedMP4s()} {
		for _, s := range seeds {
			f.Add(s)
		}
	}
	f.Add([]byte("plain text"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int64{int64(len(data)), int64(len(data)) + 1000} {
			r := &countingReader{r: bytes.NewReader(data)}
			info, err := audio.Probe(r, size)
			var ce *audio.CorruptError
			switch {
			case err == nil:
				switch info.Format {
				case audio.WAV, audio.MP3, audio.M4A, audio.FLAC:
				default:
					t.Fatalf("Probe: format %q", info.Format)
				}
				if info.Duration < 0 || info.SampleRate < 0 || info.Channels < 0 {
					t.Fatalf("Probe: %+v", info)
				}
			case errors.Is(err, audio.ErrNotAudio):
			case errors.As(err, &ce):
				if ce.Format == "" || ce.Reason == "" {
					t.Fatalf("Probe: %#v", ce)
				}
			default:
				t.Fatalf("Probe: unexpected error %v", err)
			}
			if limit := 8*int64(len(data)) + 1<<20; r.n > limit {
				t.Fatalf("read %d bytes of %d", r.n, len(data))
			}
			if limit := 2*len(data) + 64; r.calls > limit {
				t.Fatalf("%d reads of %d bytes", r.calls, len(data))
			}
		}
	})
}
