package config

import (
	"fmt"
	"strings"
)

// Error is one problem in a configuration file.
//
// Its text has the form "FILE:LINE:COL: KEY: MESSAGE". Line and Column are
// 1-based and point at the offending key (or list item); both are 0 when the
// key is absent from the file, and the text is then "FILE: KEY: MESSAGE".
// Key is the dotted path of the setting, such as "sources[0].settle", and is
// empty for problems with the file as a whole. Messages never contain the
// value of a secret.
type Error struct {
	File   string
	Line   int
	Column int
	Key    string
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line == 0 {
			b.WriteString(": ")
		}
	}
	if e.Line > 0 {
		if e.File != "" {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration file, sorted by line.
// Load and Parse return it as their error when there is at least one.
type Errors []*Error

// Error returns one problem a line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that errors.As finds an *Error.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}
