package config

import (
	"errors"
	"os"
	"testing"
)

var wholeFile = map[string]bool{
	"empty configuration":                                    true,
	"the file is UTF-16; save it as UTF-8":                   true,
	"the file is larger than 256 KiB; is it the right file?": true,
}

// FuzzLoad checks that no input makes Parse panic, and that every failure
// is Errors whose problems all name the file, with a line number unless
// the problem is a key missing from the file.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../../configs/vela-agent.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, tc := range errorCases {
		f.Add([]byte(tc.yaml))
	}
	f.Add([]byte("x: &a {<<: *a}\n"))
	f.Add([]byte("api: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("/etc/vela-agent/vela-agent.yaml", data)
		if err == nil {
			if c == nil || len(c.Sources) == 0 {
				t.Fatalf("Parse returned no error and no usable config: %+v", c)
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error is %T, want Errors: %v", err, err)
		}
		for _, e := range errs {
			if e.File != "/etc/vela-agent/vela-agent.yaml" {
				t.Errorf("error without file: %v", e)
			}
			// A problem with a line, a key missing from the file, or one of
			// the problems of the file as a whole.
			if e.Line == 0 && e.Key == "" && !wholeFile[e.Msg] {
				t.Errorf("error without line or key: %v", e)
			}
		}
	})
}
