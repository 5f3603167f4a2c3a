package audio

// maxBoxes bounds the boxes walked at any one level of an MP4 file.
const (
	maxBoxes = 1 << 12
	maxEdits = 64
)

func isMP4(head []byte) bool {
	if len(head) < 8 {
		return false
	}
	switch string(head[4:8]) {
	case "ftyp", "moov", "mdat", "wide", "free", "skip", "pnot":
		// Old QuickTime files have no ftyp box.
		return be32(head) >= 8 || be32(head) == 1
	}
	return false
}

// mp4Image names an ftyp brand of an image format built on the same boxes,
// or returns "".
func mp4Image(head []byte) string {
	if len(head) < 12 || string(head[4:8]) != "ftyp" {
		return ""
	}
	switch string(head[8:12]) {
	case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
		return "HEIF image"
	case "avif", "avis":
		return "AVIF image"
	case "crx ":
		return "Canon raw image"
	case "jp2 ", "jpx ", "jpm ":
		return "JPEG 2000 image"
	}
	return ""
}

// box is one MP4 box: its type, where its payload starts and where it ends.
type box struct {
	typ       string
	body, end int64
}

// boxes iterates over the boxes in [off, end). A box that runs past end is
// an error, except that a top-level box may be cut by the end of the file:
// then cut is set and the walk stops.
type boxes struct {
	s        *source
	off, end int64
	top      bool
	n        int
	cut      bool
}

// next returns the next box, or false at the end.
func (w *boxes) next() (box, bool, error) {
	if w.end-w.off < 8 {
		return box{}, false, nil
	}
	if w.n++; w.n > maxBoxes {
		return box{}, false, corrupt(M4A, "more than %d boxes in a row", maxBoxes)
	}
	var h [16]byte
	if err := w.s.readAt(h[:8], w.off); err != nil {
		return box{}, false, w.s.fail(M4A, "box header", err)
	}
	typ := string(h[4:8])
	size, hdr := uint64(be32(h[:])), int64(8)
	switch size {
	case 0: // to the end
		size = uint64(w.end - w.off)
	case 1:
		if w.end-w.off < 16 {
			return box{}, false, corrupt(M4A, "truncated %q box header", typ)
		}
		if err := w.s.readAt(h[8:], w.off+8); err != nil {
			return box{}, false, w.s.fail(M4A, "box header", err)
		}
		size, hdr = be64(h[8:]), 16
	}
	if size < uint64(hdr) {
		return box{}, false, corrupt(M4A, "%q box at %d has size %d", typ, w.off, size)
	}
	if size > uint64(w.end-w.off) {
		if !w.top {
			return box{}, false, corrupt(M4A, "%q box at %d runs past its parent", typ, w.off)
		}
		w.cut = true
		size = uint64(w.end - w.off)
	}
	b := box{typ: typ, body: w.off + hdr, end: w.off + int64(size)}
	w.off = b.end
	return b, true, nil
}

func (s *source) children(b box) *boxes {
	return &boxes{s: s, off: b.body, end: b.end}
}

// mp4Track is what a trak box says about its track.
type mp4Track struct {
	handler    string
	timescale  uint32 // of the media
	duration   uint64 // in the media timescale
	hasMedia   bool
	edits      uint64 // presentation length in the movie timescale
	hasEdits   bool
	channels   int
	sampleRate int
}

// probeMP4 walks the top-level boxes to moov, wherever it is, and reads the
// duration of the sound track: its edit list's length when it has one (what
// players present, without the encoder's priming samples), else its media
// header's, else the movie header's.
func probeMP4(s *source) (Info, error) {
	top := &boxes{s: s, end: s.size, top: true}
	for {
		b, ok, err := top.next()
		if err != nil {
			return Info{}, err
		}
		if !ok {
			return Info{}, corrupt(M4A, "no moov box (the recording was not finished)")
		}
		if b.typ != "moov" {
			if top.cut {
				return Info{}, corrupt(M4A, "%q box runs past the end of the file and no moov box came before it", b.typ)
			}
			continue
		}
		if top.cut {
			return Info{}, corrupt(M4A, "truncated moov box")
		}
		return readMoov(s, b)
	}
}

func readMoov(s *source, moov box) (Info, error) {
	var (
		timescale uint32
		duration  uint64
		hasMovie  bool
		fragments bool   // mvex: the samples are in movie fragments
		fragment  uint64 // mehd: duration of a fragmented file
		tracks    []mp4Track
		buf       [32]byte
	)
	w := s.children(moov)
	for {
		b, ok, err := w.next()
		if err != nil {
			return Info{}, err
		}
		if !ok {
			break
		}
		switch b.typ {
		case "mvhd":
			v, err := fullBox(s, b, buf[:], 20, 32)
			if err != nil {
				return Info{}, err
			}
			if v[0] == 1 {
				timescale, duration = be32(v[20:]), be64(v[24:])
			} else {
				timescale, duration = be32(v[12:]), uint64(be32(v[16:]))
				if duration == 0xFFFFFFFF {
					duration = 0
				}
			}
			hasMovie = true
		case "mvex":
			fragments = true
			if fragment, err = readMehd(s, b); err != nil {
				return Info{}, err
			}
		case "trak":
			if len(tracks) >= maxBoxes {
				break
			}
			t, err := readTrak(s, b)
			if err != nil {
				return Info{}, err
			}
			tracks = append(tracks, t)
		}
	}
	var sound *mp4Track
	for i := range tracks {
		if tracks[i].handler == "soun" {
			sound = &tracks[i]
			break
		}
	}
	if sound == nil {
		if len(tracks) > 0 {
			return Info{}, notAudio("MP4 media without a sound track")
		}
		return Info{}, corrupt(M4A, "moov box holds no tracks")
	}
	info := Info{Format: M4A, SampleRate: sound.sampleRate, Channels: sound.channels}
	if info.SampleRate == 0 && sound.hasMedia {
		info.SampleRate = int(sound.timescale)
	}
	var ok bool
	switch {
	case sound.hasEdits && timescale > 0:
		info.Duration, ok = span(sound.edits, uint64(timescale))
	case sound.hasMedia && sound.timescale > 0 && sound.duration > 0:
		info.Duration, ok = span(sound.duration, uint64(sound.timescale))
	case hasMovie && timescale > 0 && duration > 0:
		info.Duration, ok = span(duration, uint64(timescale))
	case fragment > 0 && timescale > 0:
		info.Duration, ok = span(fragment, uint64(timescale))
	case hasMovie && timescale > 0:
		// No header gives a length: a file that holds no samples, unless
		// they are in fragments of unknown length.
		if fragments {
			return Info{}, corrupt(M4A, "fragmented file without a duration")
		}
		ok = true
	default:
		return Info{}, corrupt(M4A, "no movie or media header with a timescale")
	}
	if !ok {
		return Info{}, corrupt(M4A, "duration out of range")
	}
	return info, nil
}

// fullBox reads the payload of a full box b (version and flags first) into
// buf: at least n0 bytes for version 0 and n1 for version 1.
func fullBox(s *source, b box, buf []byte, n0, n1 int) ([]byte, error) {
	if b.end-b.body < 1 {
		return nil, corrupt(M4A, "empty %q box", b.typ)
	}
	if err := s.readAt(buf[:1], b.body); err != nil {
		return nil, s.fail(M4A, b.typ+" box", err)
	}
	n := n0
	if buf[0] == 1 {
		n = n1
	}
	if b.end-b.body < int64(n) {
		return nil, corrupt(M4A, "%q box of %d bytes", b.typ, b.end-b.body)
	}
	if err := s.readAt(buf[:n], b.body); err != nil {
		return nil, s.fail(M4A, b.typ+" box", err)
	}
	return buf[:n], nil
}

func readMehd(s *source, mvex box) (uint64, error) {
	var buf [16]byte
	w := s.children(mvex)
	for {
		b, ok, err := w.next()
		if err != nil || !ok {
			return 0, err
		}
		if b.typ != "mehd" {
			continue
		}
		v, err := fullBox(s, b, buf[:], 8, 12)
		if err != nil {
			return 0, err
		}
		if v[0] == 1 {
			return be64(v[4:]), nil
		}
		return uint64(be32(v[4:])), nil
	}
}

func readTrak(s *source, trak box) (mp4Track, error) {
	var t mp4Track
	var buf [40]byte
	w := s.children(trak)
	for {
		b, ok, err := w.next()
		if err != nil {
			return t, err
		}
		if !ok {
			return t, nil
		}
		switch b.typ {
		case "edts":
			if err := readEdits(s, b, &t); err != nil {
				return t, err
			}
		case "mdia":
			m := s.children(b)
			for {
				c, ok, err := m.next()
				if err != nil {
					return t, err
				}
				if !ok {
					break
				}
				switch c.typ {
				case "hdlr":
					v, err := fullBox(s, c, buf[:], 12, 12)
					if err != nil {
						return t, err
					}
					t.handler = string(v[8:12])
				case "mdhd":
					v, err := fullBox(s, c, buf[:], 20, 32)
					if err != nil {
						return t, err
					}
					if v[0] == 1 {
						t.timescale, t.duration = be32(v[20:]), be64(v[24:])
					} else {
						t.timescale, t.duration = be32(v[12:]), uint64(be32(v[16:]))
						if t.duration == 0xFFFFFFFF {
							t.duration = 0
						}
					}
					if t.duration == 1<<64-1 {
						t.duration = 0
					}
					t.hasMedia = true
				case "minf":
					if err := readSampleEntry(s, c, &t); err != nil {
						return t, err
					}
				}
			}
		}
	}
}

// readEdits adds up the edit list of a track: the media it presents,
// leaving out empty edits (a delay before the track starts).
func readEdits(s *source, edts box, t *mp4Track) error {
	w := s.children(edts)
	for {
		b, ok, err := w.next()
		if err != nil || !ok {
			return err
		}
		if b.typ != "elst" {
			continue
		}
		var h [8]byte
		if b.end-b.body < 8 {
			return corrupt(M4A, "elst box of %d bytes", b.end-b.body)
		}
		if err := s.readAt(h[:], b.body); err != nil {
			return s.fail(M4A, "elst box", err)
		}
		entry := int64(12)
		if h[0] == 1 {
			entry = 20
		}
		count := int64(be32(h[4:]))
		if count > (b.end-b.body-8)/entry {
			return corrupt(M4A, "elst box counts %d edits in %d bytes", count, b.end-b.body)
		}
		if count == 0 || count > maxEdits {
			return nil // no usable edit list: use the media header
		}
		var e [20]byte
		var total uint64
		for i := range count {
			if err := s.readAt(e[:entry], b.body+8+i*entry); err != nil {
				return s.fail(M4A, "elst box", err)
			}
			var d uint64
			var empty bool
			if entry == 20 {
				d, empty = be64(e[:]), int64(be64(e[8:])) == -1
			} else {
				d, empty = uint64(be32(e[:])), int32(be32(e[4:])) == -1
			}
			if empty {
				continue
			}
			if total+d < total {
				return corrupt(M4A, "edit list length out of range")
			}
			total += d
		}
		// Some muxers give an edit of length 0 for "all the media".
		t.edits, t.hasEdits = total, total > 0
		return nil
	}
}

// readSampleEntry reads the channel count and sample rate of the first
// audio sample entry in minf/stbl/stsd.
func readSampleEntry(s *source, minf box, t *mp4Track) error {
	for _, want := range []string{"stbl", "stsd"} {
		w := s.children(minf)
		found := false
		for {
			b, ok, err := w.next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if b.typ == want {
				minf, found = b, true
				break
			}
		}
		if !found {
			return nil
		}
	}
	// stsd: version and flags, entry count, then sample entries.
	stsd := minf
	if stsd.end-stsd.body < 8 {
		return nil
	}
	w := &boxes{s: s, off: stsd.body + 8, end: stsd.end}
	b, ok, err := w.next()
	if err != nil || !ok {
		return err
	}
	// Audio sample entry: 6 reserved bytes, data reference index, version,
	// revision, vendor, channel count, sample size, compression id, packet
	// size, sample rate (16.16).
	var e [28]byte
	if b.end-b.body < int64(len(e)) {
		return nil
	}
	if err := s.readAt(e[:], b.body); err != nil {
		return s.fail(M4A, "sample description", err)
	}
	if t.handler != "" && t.handler != "soun" {
		return nil
	}
	version := be16(e[8:])
	if version > 1 {
		return nil // QuickTime version 2 entries keep the rate elsewhere
	}
	t.channels = int(be16(e[16:]))
	t.sampleRate = int(be32(e[24:]) >> 16)
	if b.typ != "mp4a" {
		return nil
	}
	// The channel count of an AAC entry is a fixed 2; the decoder
	// configuration in its esds box has the real one.
	t.channels = 0
	children := b.body + 28
	if version == 1 {
		children += 16
	}
	if children > b.end {
		return nil
	}
	c := &boxes{s: s, off: children, end: b.end}
	for {
		esds, ok, err := c.next()
		if err != nil || !ok {
			return err
		}
		if esds.typ != "esds" {
			continue
		}
		var d [64]byte
		n := min(esds.end-esds.body, int64(len(d)))
		if err := s.readAt(d[:n], esds.body); err != nil {
			return s.fail(M4A, "esds box", err)
		}
		if n > 4 {
			t.channels = aacChannels(d[4:n])
		}
		return nil
	}
}

// aacChannels reads the channel configuration from the descriptors of an
// esds box, or returns 0.
func aacChannels(b []byte) int {
	p := 0
	// descriptor reads a descriptor header and returns its tag.
	descriptor := func() byte {
		if p >= len(b) {
			return 0
		}
		tag := b[p]
		p++
		for range 4 { // length: up to four 7-bit groups
			if p >= len(b) {
				return 0
			}
			more := b[p]&0x80 != 0
			p++
			if !more {
				break
			}
		}
		return tag
	}
	if descriptor() != 3 || p+3 > len(b) {
		return 0
	}
	flags := b[p+2]
	p += 3
	if flags&0x80 != 0 {
		p += 2
	}
	if flags&0x40 != 0 {
		if p >= len(b) {
			return 0
		}
		p += 1 + int(b[p])
	}
	if flags&0x20 != 0 {
		p += 2
	}
	if descriptor() != 4 {
		return 0
	}
	p += 13
	if descriptor() != 5 {
		return 0
	}
	// AudioSpecificConfig: object type (5 bits, 31 escapes to 6 more),
	// sampling frequency index (4 bits, 15 escapes to 24 more), channel
	// configuration (4 bits).
	var acc uint64
	bits := 0
	for i := 0; i < 8 && p+i < len(b); i++ {
		acc = acc<<8 | uint64(b[p+i])
		bits += 8
	}
	take := func(n int) (uint64, bool) {
		if bits < n {
			return 0, false
		}
		bits -= n
		return acc >> bits & (1<<n - 1), true
	}
	obj, ok := take(5)
	if ok && obj == 31 {
		_, ok = take(6)
	}
	freq, ok2 := take(4)
	if ok2 && freq == 15 {
		_, ok2 = take(24)
	}
	cfg, ok3 := take(4)
	if !ok || !ok2 || !ok3 {
		return 0
	}
	switch {
	case cfg >= 1 && cfg <= 6:
		return int(cfg)
	case cfg == 7:
		return 8
	}
	return 0 // given in a program config element, or reserved
}
