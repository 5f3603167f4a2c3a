package audio_test

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/vela-agent/vela-agent/agent/meta/audio"
)

// benchSize is the size of the recordings BenchmarkProbe reads.
const benchSize = 100 << 20

// repeatTo writes head and then copies of body until the file holds at
// least benchSize bytes, and returns how many copies it wrote.
func repeatTo(b *testing.B, path string, head, body []byte) int {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(head); err != nil {
		b.Fatal(err)
	}
	n := 0
	for size := len(head); size < benchSize; size += len(body) {
		if _, err := f.Write(body); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkProbe probes 100 MB recordings: a WAV, an MP3 with an Info
// header, a CBR MP3 without one (its rate is checked at the start and in
// the middle) and a VBR MP3 without one (its frames are counted). It
// reports the bytes Probe read.
func BenchmarkProbe(b *testing.B) {
	dir := b.TempDir()
	src := tone(b, filepath.Join(dir, "tone.wav"), 44100, 2, 60)
	// Noise keeps a VBR encoder's bit rate moving.
	noisy := filepath.Join(dir, "noise.wav")
	run(b, "sox", "-n", "-r", "44100", "-c", "2", "-b", "16", noisy, "synth", "60", "pinknoise", "amod", "0.3")
	cbr, bare := filepath.Join(dir, "cbr.mp3"), filepath.Join(dir, "bare.mp3")
	withLame("-b", "320")(b, src, cbr)
	withLame("-t", "-b", "320")(b, src, bare)
	vbr := filepath.Join(dir, "vbr.mp3")
	withLame("-t", "-V", "0")(b, noisy, vbr)

	frames := readFile(b, bare)
	tagged := readFile(b, cbr)
	info := bytes.Clone(tagged[:len(tagged)-len(frames)]) // the Info frame
	at := bytes.Index(info, []byte("Info"))
	if at < 0 || !bytes.Equal(tagged[len(info):], frames) {
		b.Fatal("lame's output with and without an Info header differ in more than that frame")
	}
	perCopy := binary.BigEndian.Uint32(info[at+8:])

	files := []struct{ name, path string }{
		{"wav", filepath.Join(dir, "big.wav")},
		{"mp3 info header", filepath.Join(dir, "info.mp3")},
		{"mp3 cbr", filepath.Join(dir, "cbr-big.mp3")},
		{"mp3 vbr frame scan", filepath.Join(dir, "vbr-big.mp3")},
	}
	tone(b, files[0].path, 44100, 2, 600) // 106 MB
	copies := repeatTo(b, files[1].path, info, frames)
	binary.BigEndian.PutUint32(info[at+8:], perCopy*uint32(copies))
	repeatTo(b, files[1].path, info, frames)
	repeatTo(b, files[2].path, nil, frames)
	repeatTo(b, files[3].path, nil, readFile(b, vbr))

	for _, file := range files {
		b.Run(file.name, func(b *testing.B) {
			f, err := os.Open(file.path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				b.Fatal(err)
			}
			r := &countingReader{r: f}
			b.ReportAllocs()
			var got audio.Info
			for b.Loop() {
				if got, err = audio.Probe(r, st.Size()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(r.n)/float64(b.N), "B-read/op")
			b.Logf("%s: %d bytes, %v", file.name, st.Size(), got.Duration)
		})
	}
}
