package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// esc makes s safe to print on a terminal. File names, error messages and
// anything else that comes from outside may hold escape sequences (ESC[31m,
// an OSC title), which a terminal would obey, so everything the CLI prints
// for people goes through esc (or escLines) first.
//
// Escaped, in Go's notation: C0 controls (tab and newline too) as \xNN, DEL
// as \x7f, C1 controls as \u0080…\u009f, bytes that are not UTF-8 as \xNN,
// and the Unicode line separators and bidirectional controls, which can
// make a line read as something else, as \uNNNN. Everything else, é and 日本
// included, is kept as it is. Backslashes are kept too (Windows paths stay
// readable), so the output is for reading, not for parsing back.
func esc(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if needsEscape(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s // the usual case: nothing to do
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case !needsEscape(r, size):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError || r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

// escLines is esc for text of several lines, such as an error that lists
// every problem of a configuration file: each line is escaped, the line
// breaks are kept.
func escLines(s string) string {
	if !strings.Contains(s, "\n") {
		return esc(s)
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = esc(l)
	}
	return strings.Join(lines, "\n")
}

// needsEscape reports whether the rune r, decoded from size bytes, must not
// reach a terminal as it is.
func needsEscape(r rune, size int) bool {
	switch {
	case r == utf8.RuneError && size <= 1: // not UTF-8
		return true
	case r < 0x20, r >= 0x7f && r < 0xa0: // C0, DEL, C1
		return true
	case r == '\u2028', r == '\u2029': // line and paragraph separators
		return true
	case r == '\u061c', r == '\u200e', r == '\u200f', // bidi marks
		r >= '\u202a' && r <= '\u202e', // bidi embeddings and overrides
		r >= '\u2066' && r <= '\u2069': // bidi isolates
		return true
	}
	return false
}

// jsonWriter passes JSON on to w with the characters needsEscape names
// written as \u escapes. encoding/json already escapes C0 controls, the line
// separators and bad UTF-8 but not DEL, C1 or the bidirectional controls;
// such characters can only stand inside JSON strings, where the \u form
// means the same, so the document is unchanged for a parser and harmless on
// a terminal. Each Write must hold whole runes, as json.Encoder's one Write
// per value does.
type jsonWriter struct{ w io.Writer }

func (j jsonWriter) Write(p []byte) (int, error) {
	if !bytes.ContainsFunc(p, func(r rune) bool { return r >= 0x7f && needsEscape(r, utf8.RuneLen(r)) }) {
		return j.w.Write(p)
	}
	var b bytes.Buffer
	b.Grow(len(p) + 16)
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRune(p[i:])
		if r >= 0x7f && r != utf8.RuneError && needsEscape(r, size) {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			b.Write(p[i : i+size])
		}
		i += size
	}
	if _, err := j.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}
