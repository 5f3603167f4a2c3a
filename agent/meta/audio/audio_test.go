package audio_test

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta/audio"
)

func TestFormatOf(t *testing.T) {
	tests := []struct {
		name string
		want audio.Format
		ok   bool
	}{
		{"call.wav", audio.WAV, true},
		{"CALL.WAV", audio.WAV, true},
		{"a/b/call.Mp3", audio.MP3, true},
		{"call.m4a", audio.M4A, true},
		{"call.MP4", audio.M4A, true},
		{"call.flac", audio.FLAC, true},
		{`C:\rec\call.FLAC`, audio.FLAC, true},
		{"call.ogg", "", false},
		{"call.wav.part", "", false},
		{"wav", "", false},
		{".wav", audio.WAV, true},
		{"dir.wav/call", "", false},
		{`dir.wav\call`, "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := audio.FormatOf(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormatOf(%q) = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

// encoding makes one kind of recording from a 16-bit PCM tone.
type encoding struct {
	name     string
	format   audio.Format
	rate     int // of the tone
	channels int
	ext      string
	long     bool // also tried at 600 s
	// encode writes dst from src; nil means the tone itself.
	encode func(t testing.TB, src, dst string)
}

func withSox(args ...string) func(testing.TB, string, string) {
	return func(t testing.TB, src, dst string) {
		run(t, "sox", append(append([]string{src}, args...), dst)...)
	}
}

func withLame(args ...string) func(testing.TB, string, string) {
	return func(t testing.TB, src, dst string) {
		run(t, "lame", append(append([]string{"--quiet"}, args...), src, dst)...)
	}
}

func withFFmpeg(args ...string) func(testing.TB, string, string) {
	return func(t testing.TB, src, dst string) {
		run(t, "ffmpeg", append(append([]string{"-v", "error", "-y", "-i", src}, args...), dst)...)
	}
}

var encodings = []encoding{
	{"wav pcm 8k mono", audio.WAV, 8000, 1, ".wav", true, nil},
	{"wav pcm 44.1k stereo", audio.WAV, 44100, 2, ".wav", true, nil},
	{"wav a-law", audio.WAV, 8000, 1, ".wav", true, withSox("-e", "a-law")},
	{"wav mu-law", audio.WAV, 8000, 1, ".wav", false, withSox("-e", "u-law")},
	{"wav gsm", audio.WAV, 8000, 1, ".wav", false, withSox("-e", "gsm-full-rate")},
	{"wav ima adpcm", audio.WAV, 8000, 1, ".wav", false, withSox("-e", "ima-adpcm")},
	{"wav ms adpcm", audio.WAV, 8000, 1, ".wav", false, withSox("-e", "ms-adpcm")},
	{"wav float", audio.WAV, 8000, 1, ".wav", false, withSox("-e", "floating-point", "-b", "32")},
	{"wav extensible 24-bit", audio.WAV, 8000, 1, ".wav", false, withFFmpeg("-c:a", "pcm_s24le")},
	{"wav rf64", audio.WAV, 8000, 1, ".wav", false, withFFmpeg("-rf64", "always")},
	{"mp3 cbr 8k mono", audio.MP3, 8000, 1, ".mp3", true, withLame("-b", "32")},
	{"mp3 cbr 44.1k stereo", audio.MP3, 44100, 2, ".mp3", false, withLame("-b", "128")},
	{"mp3 cbr without info header", audio.MP3, 16000, 1, ".mp3", false, withLame("-t", "-b", "48")},
	{"mp3 vbr 8k mono", audio.MP3, 8000, 1, ".mp3", false, withLame("-V", "6")},
	{"mp3 vbr 44.1k stereo", audio.MP3, 44100, 2, ".mp3", true, withLame("-V", "4")},
	{"mp2 layer II", audio.MP3, 16000, 1, ".mp3", false, withFFmpeg("-c:a", "mp2", "-f", "mp2")},
	{"m4a aac 8k mono", audio.M4A, 8000, 1, ".m4a", true, withFFmpeg("-c:a", "aac")},
	{"m4a aac 44.1k stereo faststart", audio.M4A, 44100, 2, ".m4a", false, withFFmpeg("-c:a", "aac", "-movflags", "+faststart")},
	{"flac 8k mono", audio.FLAC, 8000, 1, ".flac", true, func(t testing.TB, src, dst string) {
		run(t, "flac", "--silent", "-o", dst, src)
	}},
	{"flac sox 44.1k stereo", audio.FLAC, 44100, 2, ".flac", false, withSox()},
}

// TestProbeMatchesFFprobe compares Probe with ffprobe on recordings made by
// real encoders.
func TestProbeMatchesFFprobe(t *testing.T) {
	for _, e := range encodings {
		for _, secs := range []float64{3, 61.5, 600} {
			t.Run(e.name+" "+strconv.FormatFloat(secs, 'f', -1, 64)+"s", func(t *testing.T) {
				if secs > 100 && (!e.long || testing.Short()) {
					t.Skip("no 600 s recording of this kind, or -short")
				}
				t.Parallel()
				dir := t.TempDir()
				path := tone(t, filepath.Join(dir, "tone.wav"), e.rate, e.channels, secs)
				if e.encode != nil {
					dst := filepath.Join(dir, "call"+e.ext)
					e.encode(t, path, dst)
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
					path = dst
				}
				want := ffprobe(t, path)
				got, err := probeFile(t, path)
				if err != nil {
					t.Fatalf("Probe: %v", err)
				}
				if got.Format != e.format {
					t.Errorf("Format = %q, want %q", got.Format, e.format)
				}
				if !near(got.Duration, want.duration) {
					t.Errorf("Duration = %v, ffprobe says %v", got.Duration, want.duration)
				}
				if got.SampleRate != want.sampleRate || got.Channels != want.channels {
					t.Errorf("SampleRate, Channels = %d, %d; ffprobe says %d, %d",
						got.SampleRate, got.Channels, want.sampleRate, want.channels)
				}
			})
		}
	}
}

// patchWAVData rewrites the size of the data chunk of a WAV file.
func patchWAVData(t testing.TB, b []byte, size uint32) []byte {
	t.Helper()
	i := bytes.Index(b[:min(len(b), 512)], []byte("data"))
	if i < 0 {
		t.Fatal("no data chunk in the first 512 bytes")
	}
	c := bytes.Clone(b)
	binary.LittleEndian.PutUint32(c[i+4:], size)
	return c
}

// TestProbeUnpatchedWAV reads WAV files whose recorder never wrote the
// data size: their data runs to the end of the file.
func TestProbeUnpatchedWAV(t *testing.T) {
	dir := t.TempDir()
	pcm := readFile(t, tone(t, filepath.Join(dir, "tone.wav"), 8000, 1, 61.5))
	alaw := filepath.Join(dir, "alaw.wav")
	withSox("-e", "a-law")(t, filepath.Join(dir, "tone.wav"), alaw)
	alawBytes := readFile(t, alaw)
	full := 61500 * time.Millisecond
	riffZero := patchWAVData(t, pcm, 0)
	binary.LittleEndian.PutUint32(riffZero[4:], 0)
	tests := []struct {
		name string
		b    []byte
		want time.Duration
		// ffprobe says the same
		ffprobe bool
	}{
		{"data size 0xFFFFFFFF", patchWAVData(t, pcm, 0xFFFFFFFF), full, true},
		{"data and RIFF size 0", riffZero, full, true},
		// The recording was cut: the header promises more than there is.
		{"data larger than the file", pcm[:len(pcm)/2], time.Duration(len(pcm)/2-44) / 2 * time.Second / 8000, true},
		// The fact chunk was not patched either: what is there counts.
		// (ffprobe believes the fact chunk here.)
		{"a-law cut with size 0xFFFFFFFF", patchWAVData(t, alawBytes, 0xFFFFFFFF)[:len(alawBytes)/2],
			time.Duration(len(alawBytes)/2-dataStart(t, alawBytes)) * time.Second / 8000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "call.wav", tt.b)
			got, err := probeFile(t, path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if !near(got.Duration, tt.want) {
				t.Errorf("Duration = %v, want %v", got.Duration, tt.want)
			}
			if tt.ffprobe {
				if p := ffprobe(t, path); !near(got.Duration, p.duration) {
					t.Errorf("Duration = %v, ffprobe says %v", got.Duration, p.duration)
				}
			}
		})
	}
}

// dataStart returns the offset of the samples in a WAV file.
func dataStart(t testing.TB, b []byte) int {
	t.Helper()
	i := bytes.Index(b[:min(len(b), 512)], []byte("data"))
	if i < 0 {
		t.Fatal("no data chunk in the first 512 bytes")
	}
	return i + 8
}

// TestProbeMoovPlacement reads M4A files with the moov box after the
// samples (ffmpeg's default) and before them (faststart).
func TestProbeMoovPlacement(t *testing.T) {
	dir := t.TempDir()
	src := tone(t, filepath.Join(dir, "tone.wav"), 8000, 1, 61.5)
	for _, tt := range []struct {
		name      string
		args      []string
		moovFirst bool
	}{
		{"moov at end", []string{"-c:a", "aac"}, false},
		{"faststart", []string{"-c:a", "aac", "-movflags", "+faststart"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "call.m4a")
			withFFmpeg(tt.args...)(t, src, path)
			b := readFile(t, path)
			if moov, mdat := bytes.Index(b, []byte("moov")), bytes.Index(b, []byte("mdat")); moov < mdat != tt.moovFirst {
				t.Fatalf("moov at %d, mdat at %d: not the layout under test", moov, mdat)
			}
			got, err := probeFile(t, path)
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if want := ffprobe(t, path).duration; !near(got.Duration, want) {
				t.Errorf("Duration = %v, ffprobe says %v", got.Duration, want)
			}
		})
	}
}

// noise returns n bytes from a fixed seed.
func noise(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestProbeMP3BigID3 reads an MP3 whose ID3v2 tag holds a cover picture of
// some megabytes.
func TestProbeMP3BigID3(t *testing.T) {
	dir := t.TempDir()
	src := tone(t, filepath.Join(dir, "tone.wav"), 8000, 1, 61.5)
	plain := filepath.Join(dir, "plain.mp3")
	withLame("-b", "32")(t, src, plain)

	img := image.NewNRGBA(image.Rect(0, 0, 1200, 1200))
	px := noise(len(img.Pix), 7)
	for i := range img.Pix {
		img.Pix[i] = px[i] | 0x03 // opaque, noisy: big once compressed
	}
	var pic bytes.Buffer
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	cover := writeFile(t, dir, "cover.png", pic.Bytes())
	path := filepath.Join(dir, "call.mp3")
	run(t, "ffmpeg", "-v", "error", "-y", "-i", plain, "-i", cover, "-map", "0", "-map", "1", "-c", "copy",
		"-id3v2_version", "3", "-metadata:s:v", "comment=Cover (front)", path)
	b := readFile(t, path)
	if string(b[:3]) != "ID3" {
		t.Fatal("ffmpeg wrote no ID3v2 tag")
	}
	tagSize := int(b[6])<<21 | int(b[7])<<14 | int(b[8])<<7 | int(b[9])
	if tagSize < 1<<20 {
		t.Fatalf("ID3v2 tag of %d bytes; want a big one", tagSize)
	}
	got, err := probeFile(t, path)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if want := ffprobe(t, path).duration; !near(got.Duration, want) {
		t.Errorf("Duration = %v, ffprobe says %v", got.Duration, want)
	}
}

// id3v24 returns an ID3v2.4 tag with one text frame, and a footer.
func id3v24(text string) []byte {
	syncsafe := func(n int) []byte {
		return []byte{byte(n >> 21 & 127), byte(n >> 14 & 127), byte(n >> 7 & 127), byte(n & 127)}
	}
	frame := append([]byte("TIT2"), syncsafe(len(text)+1)...)
	frame = append(frame, 0, 0, 3) // flags, UTF-8
	frame = append(frame, text...)
	head := append([]byte("ID3\x04\x00\x10"), syncsafe(len(frame))...)
	foot := append([]byte("3DI\x04\x00\x10"), syncsafe(len(frame))...)
	return append(append(head, frame...), foot...)
}

// apev2 returns an APEv2 tag with a header, one item and a footer.
func apev2(key string, value []byte) []byte {
	item := binary.LittleEndian.AppendUint32(nil, uint32(len(value)))
	item = binary.LittleEndian.AppendUint32(item, 0)
	item = append(append(append(item, key...), 0), value...)
	part := func(flags uint32) []byte {
		p := append([]byte("APETAGEX"), 0xD0, 0x07, 0, 0) // version 2000
		p = binary.LittleEndian.AppendUint32(p, uint32(len(item)+32))
		p = binary.LittleEndian.AppendUint32(p, 1)
		p = binary.LittleEndian.AppendUint32(p, flags)
		return append(p, make([]byte, 8)...)
	}
	return append(append(part(1<<31|1<<29), item...), part(1<<31)...)
}

// TestProbeMP3Tags reads an MP3 without an Info header, so that its length
// comes from its size, wrapped in an ID3v2.4 tag with a footer in front and
// APEv2, Lyrics3v2 and ID3v1 tags behind: the tags must not count.
func TestProbeMP3Tags(t *testing.T) {
	dir := t.TempDir()
	src := tone(t, filepath.Join(dir, "tone.wav"), 8000, 1, 61.5)
	bare := filepath.Join(dir, "bare.mp3")
	withLame("-t", "-b", "16")(t, src, bare)
	want, err := probeFile(t, bare)
	if err != nil {
		t.Fatalf("Probe bare: %v", err)
	}
	if p := ffprobe(t, bare).duration; !near(want.Duration, p) {
		t.Fatalf("bare Duration = %v, ffprobe says %v", want.Duration, p)
	}
	lyrics := "LYRICSBEGIN" + "IND00002" + "10" + "LYR00005" + "hello"
	lyrics += strings.Repeat("0", 6-len(strconv.Itoa(len(lyrics)))) + strconv.Itoa(len(lyrics)) + "LYRICS200"
	id3v1 := append([]byte("TAG"), make([]byte, 125)...)
	var b []byte
	b = append(b, id3v24(strings.Repeat("title ", 2000))...)
	b = append(b, readFile(t, bare)...)
	b = append(b, apev2("Comment", bytes.Repeat([]byte("x"), 20000))...)
	b = append(b, lyrics...)
	b = append(b, id3v1...)
	got, err := probeFile(t, writeFile(t, dir, "tagged.mp3", b))
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if d := got.Duration - want.Duration; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("Duration = %v, want %v as without the tags", got.Duration, want.Duration)
	}
}

// TestProbeFLACAfterID3 reads a FLAC stream behind an ID3v2 tag, as some
// taggers write it.
func TestProbeFLACAfterID3(t *testing.T) {
	dir := t.TempDir()
	src := tone(t, filepath.Join(dir, "tone.wav"), 8000, 1, 61.5)
	path := filepath.Join(dir, "plain.flac")
	run(t, "flac", "--silent", "-o", path, src)
	b := append(id3v24(strings.Repeat("title ", 1000)), readFile(t, path)...)
	got, err := probeFile(t, writeFile(t, dir, "call.flac", b))
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if got.Format != audio.FLAC || got.Duration != 61500*time.Millisecond {
		t.Errorf("Probe = %+v, want FLAC of 61.5s", got)
	}
}

// TestProbeMP3FrameScan reads a VBR MP3 without a Xing header: its frames
// are counted.
func TestProbeMP3FrameScan(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tone.wav")
	// A sweep with noise makes the bit rate vary.
	run(t, "sox", "-n", "-r", "44100", "-c", "2", "-b", "16", src,
		"synth", "61.5", "sine", "100-8000", "synth", "pinknoise", "amod", "0.3")
	path := filepath.Join(dir, "call.mp3")
	withLame("-t", "-V", "2")(t, src, path)
	out := run(t, "ffprobe", "-v", "error", "-count_packets", "-show_entries", "stream=nb_read_packets",
		"-of", "csv=p=0", path)
	frames, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("ffprobe packet count %q: %v", out, err)
	}
	got, err := probeFile(t, path)
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if want := time.Duration(frames) * 1152 * time.Second / 44100; got.Duration != want {
		t.Errorf("Duration = %v, want %d frames = %v", got.Duration, frames, want)
	}
	if !near(got.Duration, 61500*time.Millisecond) {
		t.Errorf("Duration = %v, want about 61.5s", got.Duration)
	}
}

// TestProbeFLACWithoutSampleCount reads a FLAC stream encoded to a pipe:
// STREAMINFO does not count its samples, the last frame's number does.
func TestProbeFLACWithoutSampleCount(t *testing.T) {
	need(t, "flac")
	dir := t.TempDir()
	src := tone(t, filepath.Join(dir, "tone.wav"), 8000, 1, 61.5)
	raw := filepath.Join(dir, "tone.raw")
	run(t, "sox", src, "-t", "raw", raw)
	in, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out, stderr bytes.Buffer
	cmd := exec.Command("flac", "--silent", "--force-raw-format", "--endian=little", "--sign=signed",
		"--channels=1", "--bps=16", "--sample-rate=8000", "-c", "-")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("flac: %v\n%s", err, stderr.Bytes())
	}
	b := out.Bytes()
	if len(b) < 42 || binary.BigEndian.Uint64(b[18:])&(1<<36-1) != 0 {
		t.Fatal("flac counted the samples in STREAMINFO: not the case under test")
	}
	got, err := probeFile(t, writeFile(t, dir, "call.flac", b))
	if err != nil {
		t.Fatalf("Probe: %v", err)
	}
	if want := 61500 * time.Millisecond; got.Duration != want {
		t.Errorf("Duration = %v, want %v", got.Duration, want)
	}
	// Cut short, the last frame is lost and nothing says how long it is.
	_, err = probeFile(t, writeFile(t, dir, "cut.flac", b[:len(b)-100]))
	var ce *audio.CorruptError
	if !errors.As(err, &ce) || ce.Format != audio.FLAC {
		t.Errorf("Probe of a cut stream: %v, want a corrupt FLAC", err)
	}
}

// TestProbeNotAudio names what files that are not audio hold.
func TestProbeNotAudio(t *testing.T) {
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, err := zw.Create("call.wav")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(noise(5000, 1)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	if _, err := gw.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	var pic bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.White)
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	// Noise with MPEG frame sync words strewn in, some in pairs a frame apart.
	stray := noise(1<<20, 2)
	for i := 0; i+2000 < len(stray); i += 9973 {
		copy(stray[i:], "\xff\xfb\x90\x64") // MPEG 1 layer III, 128 kbit/s, 44.1 kHz: 417 bytes
		if i%2 == 0 {
			copy(stray[i+417:], "\xff\xfb\x90\x64")
		}
	}
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"text named .wav", []byte("Call notes: customer asked for a refund.\r\nNext: follow up on Monday.\n"), "text"},
		{"empty", nil, "empty file"},
		{"zip", zipped.Bytes(), "ZIP archive"},
		{"gzip", gz.Bytes(), "gzip data"},
		{"png", pic.Bytes(), "PNG image"},
		{"pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), "PDF document"},
		{"text that looks like a box", []byte("The free trial ends on Monday.\n"), "text"},
		{"text that starts with ID3", []byte("ID3 tags hold the title and artist.\n"), "text"},
		{"html", []byte("<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"), "text"},
		{"utf-16 text", []byte("\xff\xfeh\x00e\x00l\x00l\x00o\x00"), "text (UTF-16)"},
		{"zeros", make([]byte, 4096), "zero bytes"},
		{"noise", noise(1<<16, 3), "binary data"},
		{"noise with stray frame syncs", stray, "binary data"},
		{"riff avi", append([]byte("RIFF\x00\x10\x00\x00AVI LIST"), make([]byte, 64)...), `RIFF "AVI " data`},
		{"aac adts after an id3 tag", append(id3v24("title"), "\xff\xf1\x50\x80\x02\x1f\xfc"...), "AAC ADTS"},
		{"ogg", append([]byte("OggS\x00\x02"), make([]byte, 64)...), "Ogg"},
		{"heif", append([]byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), make([]byte, 64)...), "HEIF image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := audio.Probe(bytes.NewReader(tt.b), int64(len(tt.b)))
			if !errors.Is(err, audio.ErrNotAudio) {
				t.Fatalf("Probe: %v, want ErrNotAudio", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Probe: %q, want it to say %q", err, tt.want)
			}
		})
	}
}

// TestProbeUnsupportedAudio names real recordings in formats the agent does
// not upload.
func TestProbeUnsupportedAudio(t *testing.T) {
	dir := t.TempDir()
	src := tone(t, filepath.Join(dir, "tone.wav"), 16000, 1, 3)
	tests := []struct {
		name, file string
		encode     func(testing.TB, string, string)
		want       string
	}{
		{"aiff", "call.aiff", withSox(), "AIFF audio"},
		{"ogg vorbis", "call.ogg", withSox(), "Ogg"},
		{"aac adts", "call.aac", withFFmpeg("-c:a", "aac", "-f", "adts"), "AAC ADTS"},
		{"mp4 without sound", "call.mp4", func(t testing.TB, _, dst string) {
			run(t, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=d=1:s=64x64", "-c:v", "mpeg4", dst)
		}, "without a sound track"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			tt.encode(t, src, path)
			_, err := probeFile(t, path)
			if !errors.Is(err, audio.ErrNotAudio) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Probe: %v, want ErrNotAudio saying %q", err, tt.want)
			}
		})
	}
}

// TestProbeCorrupt reads damaged files of the four formats.
func TestProbeCorrupt(t *testing.T) {
	dir := t.TempDir()
	src := tone(t, filepath.Join(dir, "tone.wav"), 8000, 1, 10)
	wav := readFile(t, src)
	flacPath := filepath.Join(dir, "call.flac")
	run(t, "flac", "--silent", "-o", flacPath, src)
	flacBytes := readFile(t, flacPath)
	m4aEnd := filepath.Join(dir, "end.m4a")
	withFFmpeg("-c:a", "aac")(t, src, m4aEnd)
	m4aEndBytes := readFile(t, m4aEnd)
	m4aStart := filepath.Join(dir, "start.m4a")
	withFFmpeg("-c:a", "aac", "-movflags", "+faststart")(t, src, m4aStart)
	m4aStartBytes := readFile(t, m4aStart)
	noChannels := bytes.Clone(wav)
	binary.LittleEndian.PutUint16(noChannels[22:], 0)
	id3Garbage := append(id3v24("title"), noise(20000, 4)...)
	id3PastEnd := append([]byte("ID3\x03\x00\x00\x00\x7f\x7f\x7f"), noise(1000, 5)...)

	tests := []struct {
		name   string
		b      []byte
		format audio.Format
	}{
		{"wav header cut at 30 bytes", wav[:30], audio.WAV},
		{"wav cut at 8 bytes", wav[:8], audio.WAV},
		{"wav cut before the data chunk", wav[:dataStart(t, wav)-8], audio.WAV},
		{"wav with 0 channels", noChannels, audio.WAV},
		{"flac cut in STREAMINFO", flacBytes[:20], audio.FLAC},
		{"m4a cut before its moov", m4aEndBytes[:len(m4aEndBytes)/2], audio.M4A},
		{"m4a cut in its moov", m4aStartBytes[:bytes.Index(m4aStartBytes, []byte("moov"))+200], audio.M4A},
		{"id3 tag then noise", id3Garbage, audio.MP3},
		{"id3 tag past the end", id3PastEnd, audio.MP3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := audio.Probe(bytes.NewReader(tt.b), int64(len(tt.b)))
			var ce *audio.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Probe: %v, want a CorruptError", err)
			}
			if ce.Format != tt.format {
				t.Errorf("Probe: %v, want format %s", err, tt.format)
			}
			if errors.Is(err, audio.ErrNotAudio) {
				t.Errorf("Probe: %v is also ErrNotAudio", err)
			}
		})
	}
}

// failingReader fails every read with an error that is not about the end
// of the file.
type failingReader struct{}

var errDisk = errors.New("input/output error")

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errDisk }

func TestProbeReadError(t *testing.T) {
	_, err := audio.Probe(failingReader{}, 1000)
	var ce *audio.CorruptError
	if !errors.Is(err, errDisk) || errors.Is(err, audio.ErrNotAudio) || errors.As(err, &ce) {
		t.Errorf("Probe: %v, want the read error alone", err)
	}
	// A file shorter than its size is not a read error.
	_, err = audio.Probe(bytes.NewReader([]byte("RIFF")), 1000)
	if !errors.As(err, &ce) {
		t.Errorf("Probe of a file shorter than its size: %v, want a CorruptError", err)
	}
}

// TestProbeReadsHeadersOnly checks that Probe reads a small part of a long
// recording.
func TestProbeReadsHeadersOnly(t *testing.T) {
	dir := t.TempDir()
	src := tone(t, filepath.Join(dir, "tone.wav"), 8000, 1, 600)
	files := map[string]string{"wav": src}
	for name, enc := range map[string]func(testing.TB, string, string){
		"mp3 vbr": withLame("-V", "6"),
		"mp3 cbr": withLame("-t", "-b", "32"),
		"m4a":     withFFmpeg("-c:a", "aac"),
		"flac":    withSox(),
	} {
		dst := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+"."+strings.Fields(name)[0])
		enc(t, src, dst)
		files[name] = dst
	}
	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			b := readFile(t, path)
			r := &countingReader{r: bytes.NewReader(b)}
			info, err := audio.Probe(r, int64(len(b)))
			if err != nil {
				t.Fatalf("Probe: %v", err)
			}
			if !near(info.Duration, 600*time.Second) && !near(info.Duration-100*time.Millisecond, 600*time.Second) {
				t.Errorf("Duration = %v, want about 600s", info.Duration)
			}
			if limit := int64(256 << 10); r.n > limit {
				t.Errorf("read %d of %d bytes, want at most %d", r.n, len(b), limit)
			}
		})
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r     io.ReaderAt
	n     int64
	calls int
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	c.calls++
	return n, err
}
