package ftp

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMLSD(t *testing.T) {
	mt := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		line string
		want item
		err  string
	}{
		{line: "type=file;size=12;modify=20250304050607; a b;c.wav", want: item{name: "a b;c.wav", kind: kindFile, size: 12, time: mt}},
		{line: "Type=FILE;Size=0;Modify=20250304050607.25;UNIX.mode=0644; x", want: item{name: "x", kind: kindFile, time: mt.Add(250 * time.Millisecond)}},
		{line: "type=file;size=1;modify=20250304050607;  lead", want: item{name: " lead", kind: kindFile, size: 1, time: mt}},
		{line: "type=dir;modify=20250304050607; sub", want: item{name: "sub", kind: kindFolder, time: mt}},
		{line: "type=cdir; /calls", want: item{name: "/calls", kind: kindSelf}},
		{line: "type=pdir; ..", want: item{name: "..", kind: kindSelf}},
		{line: "type=OS.unix=symlink;size=9; l", want: item{name: "l", kind: kindLink, what: "OS.unix=symlink", size: 9}},
		{line: "type=OS.unix=slink:/etc/passwd; l", want: item{name: "l", kind: kindLink, what: "OS.unix=slink:/etc/passwd"}},
		{line: "type=os.UNIX=SLINK; l", want: item{name: "l", kind: kindLink, what: "os.UNIX=SLINK"}},
		{line: "type=OS.unix=blk-8/0; sda", want: item{name: "sda", kind: kindOther, what: "type OS.unix=blk-8/0"}},
		{line: "type=filex;size=1;modify=20250304050607; f", want: item{name: "f", kind: kindOther, what: "type filex", size: 1, time: mt}},
		{line: "size=1;modify=20250304050607; f", want: item{name: "f", kind: kindOther, what: "no type", size: 1, time: mt}},
		{line: " f", want: item{name: "f", kind: kindOther, what: "no type"}},
		{line: "type=file;size=1; f", err: "without its size and modify"},
		{line: "type=file;modify=20250304050607; f", err: "without its size and modify"},
		{line: "type=file;size=-1;modify=20250304050607; f", err: "not a byte count"},
		{line: "type=file;size=+1;modify=20250304050607; f", err: "not a byte count"},
		{line: "type=file;size=0x10;modify=20250304050607; f", err: "not a byte count"},
		{line: "type=file;size=99999999999999999999;modify=20250304050607; f", err: "not a byte count"},
		{line: "type=file;size=1;modify=2025030405060; f", err: "not YYYYMMDDHHMMSS"},
		{line: "type=file;size=1;modify=20251304050607; f", err: "month out of range"},
		{line: "type=file;size=1;modify=20250304050607.; f", err: "not YYYYMMDDHHMMSS"},
		{line: "type=file;type=dir; f", err: "two type facts"},
		{line: "type=file;size=1 f", err: "do not end with ';'"},
		{line: "type=file;;size=1; f", err: "not name=value"},
		{line: "=file; f", err: "not name=value"},
		{line: "no-space-at-all", err: "no space"},
		{line: "", err: "no space"},
	} {
		got, err := parseMLSD(tc.line)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.line, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("%q: %v", tc.line, err)
		case tc.err == "" && !reflect.DeepEqual(got, tc.want):
			t.Errorf("%q:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

// tapAll feeds data to a new tap in pieces of n bytes.
func tapAll(data []byte, n int) *mlsdTap {
	t := &mlsdTap{}
	for len(data) > 0 {
		k := min(n, len(data))
		t.write(data[:k])
		data = data[k:]
	}
	return t
}

func TestMLSDTap(t *testing.T) {
	data := []byte("type=file;size=1;modify=20250304050607; a\r\n\r\n" +
		"garbage\n" +
		"type=dir;modify=20250304050607; d\n" +
		"type=file;size=1;modify=20250304050607; " + strings.Repeat("x", maxLine) + "\r\n" +
		"type=file;size=2;modify=20250304050607; b\r\n" +
		"type=file;size=3;mod")
	for _, n := range []int{1, 3, 64, len(data)} {
		tp := tapAll(data, n)
		var names []string
		for _, it := range tp.items {
			names = append(names, it.name)
		}
		if strings.Join(names, ",") != "a,d,b" || tp.bad != 2 || !tp.cut() || tp.bytes != int64(len(data)) {
			t.Errorf("pieces of %d: items %v, bad %d, cut %v, bytes %d", n, names, tp.bad, tp.cut(), tp.bytes)
		}
		if !strings.HasPrefix(tp.sample, `"garbage": no space`) {
			t.Errorf("pieces of %d: sample %q", n, tp.sample)
		}
	}
	if tp := tapAll([]byte("type=dir; d\r\n"), 5); tp.cut() || tp.bad != 0 || len(tp.items) != 1 {
		t.Errorf("a whole listing: %+v", tp)
	}
}

func TestSameTime(t *testing.T) {
	exact := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	joburg := time.FixedZone("SAST", 2*3600)
	for _, tc := range []struct {
		coarse time.Time
		tz     *time.Location
		want   bool
	}{
		{time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC), nil, true},
		{time.Date(2025, 3, 4, 5, 7, 0, 0, time.UTC), nil, false},
		{time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC), nil, true}, // day-precise LIST date
		{time.Date(2025, 3, 5, 0, 0, 0, 0, time.UTC), nil, false},
		{time.Date(2025, 3, 4, 7, 6, 0, 0, time.UTC), joburg, true}, // LIST in server time
		{time.Date(2025, 3, 4, 5, 6, 0, 0, time.UTC), joburg, false},
	} {
		if got := sameTime(exact, true, tc.coarse, tc.tz); got != tc.want {
			t.Errorf("sameTime(%v, %v, %v) = %v", exact, tc.coarse, tc.tz, got)
		}
		if got := sameTime(tc.coarse, false, exact, tc.tz); got != tc.want {
			t.Errorf("sameTime(%v, %v, %v) reversed = %v", tc.coarse, exact, tc.tz, got)
		}
	}
}

// FuzzParseMLSD checks that no line makes the parser panic, and that only
// a line with a type=file fact, a size and a time gives a file.
func FuzzParseMLSD(f *testing.F) {
	for _, s := range []string{
		"type=file;size=12;modify=20250304050607; a.wav",
		"type=OS.unix=slink:/etc; l",
		"Type=File;Size=1;Modify=20250304050607.123; x",
		"type=cdir; /",
		" bare",
		"type=file;size=1 f",
		"size=1;modify=20250304050607; f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		it, err := parseMLSD(line)
		if err != nil {
			return
		}
		if it.kind < kindFile || it.kind > kindSelf || it.size < 0 {
			t.Fatalf("%q: %+v", line, it)
		}
		if it.kind != kindFile {
			return
		}
		facts, _, _ := strings.Cut(line, " ")
		isFile := false
		for fact := range strings.SplitSeq(facts, ";") {
			if strings.EqualFold(fact, "type=file") {
				isFile = true
			}
		}
		if !isFile || it.time.IsZero() && !strings.Contains(strings.ToLower(facts), "modify=") {
			t.Fatalf("%q taken for a file: %+v", line, it)
		}
	})
}

// FuzzMLSDTap checks that the tap finds the same entries however the
// listing is cut into reads.
func FuzzMLSDTap(f *testing.F) {
	f.Add([]byte("type=file;size=1;modify=20250304050607; a\r\ngarbage\ntype=dir; d\r\ntype=fi"), uint8(3))
	f.Add([]byte("\r\n\n\r"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		whole := tapAll(data, len(data)+1)
		parts := tapAll(data, int(n)+1)
		if !reflect.DeepEqual(whole.items, parts.items) || whole.bad != parts.bad || whole.cut() != parts.cut() || whole.sample != parts.sample {
			t.Fatalf("whole: %+v\nin pieces of %d: %+v", whole, int(n)+1, parts)
		}
	})
}
