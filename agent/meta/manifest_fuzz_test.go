package meta

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
)

// checkManifest reads data as the manifest name and checks what any
// manifest that reads at all must hold.
func checkManifest(t *testing.T, name string, data []byte) {
	opts := ManifestOptions{Columns: map[string]string{"Agent": "agent_name", "Call Start": "date_of_call"}}
	m, err := ReadManifest(name, bytes.NewReader(data), opts)
	if err != nil {
		if m != nil {
			t.Fatalf("ReadManifest returned a manifest and %v", err)
		}
		return
	}
	names := m.Names()
	if len(names) != m.Len() {
		t.Fatalf("Names() has %d names, Len() is %d", len(names), m.Len())
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Fatalf("Names() has %q twice", n)
		}
		seen[n] = true
		if n == "" || n == "." || n[0] == '/' || hasDriveLetter(n) || hasDotDot(n) || strings.Contains(n, `\`) {
			t.Fatalf("name %q is not a clean name inside the folder", n)
		}
		r, ok := m.Lookup(n)
		if !ok || r.Name != n {
			t.Fatalf("Lookup(%q) = %+v, %v", n, r, ok)
		}
		if !strings.HasPrefix(r.Where(), name+" ") {
			t.Fatalf("Where() = %q", r.Where())
		}
		for k, v := range r.Fields {
			if !slices.Contains(Fields, k) {
				t.Fatalf("row %q has field %q", n, k)
			}
			if s, ok := v.(string); ok && s == "" {
				t.Fatalf("row %q has an empty %s", n, k)
			}
		}
		if r, ok := m.Lookup(strings.ToUpper(n)); ok && r == nil {
			t.Fatalf("Lookup(%q) found a nil row", strings.ToUpper(n))
		}
	}
	for _, p := range m.Problems {
		if p == "" {
			t.Fatal("an empty problem")
		}
	}
}

func FuzzManifestCSV(f *testing.F) {
	for _, s := range []string{
		"\ufeff  File Name ,Agent_Name,Team,Notes\r\na.wav,\"Nkosi, T\",Sales,\"x\"\"y\"\r\nb.wav,S,\"two\r\nlines\",\r\n,,,\r\n",
		"filename,agent_name,team\na.wav,T\nb.wav,S,Sales,x\n,x\n../c.wav,A,B\nC:\\d.wav,A,B\n",
		"filename,agent_name\na.wav,\"T\"x\nb.wav,S\"\nc.wav,\"open\nd.wav,D\n",
		"filename;agent;Call Start\na.wav;T;15/01/2025 10:00\n",
		"sep=|\nfilename|team\na.wav|A\n",
		"filename,team\nCall.wav,A\ncall.wav,B\ncall.wav,C\n",
		"filename,team\rJos\xe9.wav,A\r",
		"filename\tagent_name\n\"a\tb.wav\"\tT\n",
		utf16Text("filename\tteam\r\nZoë.wav\tOps\r\n", false),
		utf16Text("filename\tteam\n🎧.wav\tOps\n", true) + "\x00",
		"filename,agent_name,Agent Name\n",
		"a.wav, \"x\"y\"\"z\",\"multi\r\nline\" ,\"q\"\n",
		"  \"a\",\t\"b\"\"c\"\t\"\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkManifest(t, "metadata.csv", data)
		checkManifest(t, "metadata.tsv", data)
		checkLazyCell(t, data)
	})
}

func FuzzManifestJSON(f *testing.F) {
	for _, s := range []string{
		`[{"filename": "a.wav", "agent_name": "T", "tags": ["vip"], "contact": 27821234567, "Notes": 1},
		  {"File Name": "sub\\b.wav", "team": null}, "c.wav", {"team": {"x": 1}}, {"filename": "../d.wav"},
		  {"filename": "a.wav"}, {"file": "e.wav", "filename": "f.wav"}, {"filename": "g.wav", "agent": "a@b.co", "email": "c@d.co"}]`,
		`{"a.wav": {"agent_name": "T"}, "b.wav": null, "c.wav": "x", "d.wav": {"filename": "e.wav"}, "A.WAV": {}, "../f.wav": {}}`,
		"\ufeff[]",
		utf16Text(`[{"filename": "Zoë.wav"}]`, false),
		`[] []`,
		`["a.wav"]`,
		`{"filename": "a.wav"}`,
		`[{"filename": "a.wav"`,
		`"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkManifest(t, "metadata.json", data)
	})
}

func FuzzSidecar(f *testing.F) {
	for _, s := range []string{
		`{"agent_name": "T", "agent": "t@example.com", "tags": ["vip"], "contact": 27821234567}`,
		`{"agent": "a@b.co", "email": "c@d.co", "Notes": "x", "team": null}`,
		"\ufeff{}",
		utf16Text(`{"team": "Zoë"}`, true),
		`{} {}`,
		`[]`,
		`{"team": `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fields, problems, err := ReadSidecar(bytes.NewReader(data))
		if err != nil {
			if fields != nil || problems != nil {
				t.Fatalf("ReadSidecar returned fields or problems and %v", err)
			}
			return
		}
		for k, v := range fields {
			if !slices.Contains(Fields, k) {
				t.Fatalf("field %q", k)
			}
			if v == nil || v == "" {
				t.Fatalf("%s is empty", k)
			}
		}
	})
}

// checkLazyCell compares lazyCell with encoding/csv reading the first
// record of data with LazyQuotes.
func checkLazyCell(t *testing.T, data []byte) {
	if len(bytes.TrimLeft(data, "\r\n")) != len(data) {
		return // encoding/csv skips blank lines before a record; lazyCell is given none
	}
	for _, comma := range []rune{',', '\t', ';'} {
		r := csv.NewReader(bytes.NewReader(data))
		r.Comma, r.LazyQuotes, r.FieldsPerRecord, r.TrimLeadingSpace = comma, true, -1, csvTrimLeading(comma)
		rec, err := r.Read()
		if err != nil {
			continue
		}
		for i := 0; i <= len(rec); i++ {
			want := ""
			if i < len(rec) {
				want = rec[i]
			}
			if got := lazyCell(string(data), comma, csvTrimLeading(comma), i); strings.TrimSpace(got) != strings.TrimSpace(want) {
				t.Fatalf("lazyCell(%q, %q, %d) = %q; encoding/csv reads %q", data, comma, i, got, want)
			}
		}
	}
}
