package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEsc(t *testing.T) {
	tests := []struct{ in, want string }{
		{"call_001.wav", "call_001.wav"},
		{"été/日本/Ωmega 😀.wav", "été/日本/Ωmega 😀.wav"},
		{`C:\Recordings\a.wav`, `C:\Recordings\a.wav`},
		{"\x1b[31mred\x1b[0m.wav", `\x1b[31mred\x1b[0m.wav`},
		{"\x1b]0;owned\x07.wav", `\x1b]0;owned\x07.wav`},
		{"tab\there\nnew\rline", `tab\x09here\x0anew\x0dline`},
		{"nul\x00del\x7f", `nul\x00del\x7f`},
		{"c1 \u009b31m csi", `c1 \u009b31m csi`},
		{"bad \xff\xfe utf8 \xc3", `bad \xff\xfe utf8 \xc3`},
		{"real \ufffd stays", "real \ufffd stays"},
		{"abc\u202egnp.exe", `abc\u202egnp.exe`},
		{"line\u2028sep", `line\u2028sep`},
		{"", ""},
	}
	for _, tc := range tests {
		if got := esc(tc.in); got != tc.want {
			t.Errorf("esc(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEscLines(t *testing.T) {
	in := "a.yaml:1:2: x: bad \x1b[2J\na.yaml:3:4: y: worse\x07"
	want := "a.yaml:1:2: x: bad \\x1b[2J\na.yaml:3:4: y: worse\\x07"
	if got := escLines(in); got != want {
		t.Errorf("escLines = %q, want %q", got, want)
	}
}

func TestJSONWriter(t *testing.T) {
	v := map[string]string{"path": "a\x1b[31m\u009b\x7f\u202e日本é\xff.wav"}
	var buf bytes.Buffer
	enc := json.NewEncoder(jsonWriter{&buf})
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if s := buf.String(); strings.ContainsFunc(s, func(r rune) bool { return needsEscape(r, utf8.RuneLen(r)) && r != '\n' }) {
		t.Errorf("JSON output holds characters a terminal obeys: %q", s)
	}
	var back map[string]string
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	want := strings.ToValidUTF8(v["path"], "\ufffd")
	if back["path"] != want {
		t.Errorf("round trip = %q, want %q", back["path"], want)
	}
}

// FuzzEsc checks that esc leaves nothing a terminal obeys, changes nothing
// that needs no change, and is idempotent.
func FuzzEsc(f *testing.F) {
	for _, s := range []string{"", "plain.wav", "\x1b[31m", "\x1b]0;t\x07", "\u009b", "日本\xff", "\u202e", `a\x1b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := esc(s)
		if !utf8.ValidString(got) {
			t.Fatalf("esc(%q) = %q: not UTF-8", s, got)
		}
		for i, r := range got {
			if needsEscape(r, utf8.RuneLen(r)) {
				t.Fatalf("esc(%q) = %q: %U at %d", s, got, r, i)
			}
		}
		clean := true
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if needsEscape(r, size) {
				clean = false
			}
			i += size
		}
		if clean != (got == s) {
			t.Fatalf("esc(%q) = %q, but the input needed escaping: %v", s, got, !clean)
		}
		if again := esc(got); again != got {
			t.Fatalf("esc is not idempotent: %q -> %q -> %q", s, got, again)
		}
		if lines := escLines(s); strings.Count(lines, "\n") != strings.Count(s, "\n") {
			t.Fatalf("escLines(%q) = %q: line breaks changed", s, lines)
		}
	})
}
