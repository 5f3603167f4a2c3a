package audiotest

import (
	"bytes"
	"testing"

	"github.com/vela-agent/vela-agent/agent/meta/audio"
)

func TestFilesAreAudio(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      []byte
		format audio.Format
		secs   float64
	}{
		{"wav", WAV(16_044, 7), audio.WAV, 1},
		{"stamped odd", Stamp(bytes.Repeat([]byte("ab"), 5001)[:10_001]), audio.WAV, 0.622},
		{"mp3", MP3(40), audio.MP3, 1.045},
	} {
		info, err := audio.Probe(bytes.NewReader(tc.b), int64(len(tc.b)))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if d := info.Duration.Seconds() - tc.secs; info.Format != tc.format || d > 0.01 || d < -0.01 {
			t.Errorf("%s: %+v, want %s of %.3f s", tc.name, info, tc.format, tc.secs)
		}
	}
}
