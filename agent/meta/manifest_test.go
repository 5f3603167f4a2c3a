package meta

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf16"
)

// wantRow is a row a test expects, in file order.
type wantRow struct {
	name   string
	line   int
	key    string
	fields map[string]any
	err    string // substring of Err; "" for none
}

type manifestTest struct {
	desc     string
	file     string // the manifest's name; "metadata.csv" when empty
	data     string
	opts     ManifestOptions
	rows     []wantRow
	problems []string
	err      string // substring of the whole-file error
}

// utf16Text encodes s as UTF-16 with a byte-order mark.
func utf16Text(s string, bigEndian bool) string {
	var b bytes.Buffer
	units := append([]uint16{0xFEFF}, utf16.Encode([]rune(s))...)
	for _, u := range units {
		if bigEndian {
			b.WriteByte(byte(u >> 8))
			b.WriteByte(byte(u))
		} else {
			b.WriteByte(byte(u))
			b.WriteByte(byte(u >> 8))
		}
	}
	return b.String()
}

func runManifestTests(t *testing.T, tests []manifestTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			file := tt.file
			if file == "" {
				file = "metadata.csv"
			}
			m, err := ReadManifest(file, strings.NewReader(tt.data), tt.opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ReadManifest error = %v, want %q", err, tt.err)
				}
				if !strings.Contains(err.Error(), file) {
					t.Errorf("error %q does not name %s", err, file)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadManifest: %v", err)
			}
			if m.Name != file {
				t.Errorf("Name = %q, want %q", m.Name, file)
			}
			var names []string
			for _, w := range tt.rows {
				names = append(names, w.name)
			}
			if got := m.Names(); !reflect.DeepEqual(got, names) && (len(got) != 0 || len(names) != 0) {
				t.Errorf("Names() = %q, want %q", got, names)
			}
			if m.Len() != len(tt.rows) {
				t.Errorf("Len() = %d, want %d", m.Len(), len(tt.rows))
			}
			for _, w := range tt.rows {
				r, ok := m.Lookup(w.name)
				if !ok {
					t.Errorf("Lookup(%q) found nothing", w.name)
					continue
				}
				if r.Name != w.name || r.Line != w.line || r.Key != w.key {
					t.Errorf("Lookup(%q) = name %q, line %d, key %q; want %q, %d, %q", w.name, r.Name, r.Line, r.Key, w.name, w.line, w.key)
				}
				if w.err == "" && r.Err != nil || w.err != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), w.err)) {
					t.Errorf("Lookup(%q).Err = %v, want %q", w.name, r.Err, w.err)
				}
				if w.err == "" && !reflect.DeepEqual(r.Fields, w.fields) {
					t.Errorf("Lookup(%q).Fields = %#v, want %#v", w.name, r.Fields, w.fields)
				}
			}
			if !reflect.DeepEqual(m.Problems, tt.problems) {
				t.Errorf("Problems:\n got %q\nwant %q", m.Problems, tt.problems)
			}
		})
	}
}

func TestReadManifestCSV(t *testing.T) {
	excel := "\ufeff  File Name ,Agent_Name,Team,Notes,TAGS\r\n" +
		"call_001.wav,\"Nkosi, Thandi\",Sales,\"said \"\"call back\"\"\",vip;billing\r\n" +
		"call_002.wav,  Sipho Dlamini ,\"Sales\r\nSupport\",,\r\n" +
		",,,,\r\n" +
		"sub\\call_003.wav,Lerato,,,\r\n"
	tests := []manifestTest{
		{
			desc: "Excel CSV UTF-8",
			data: excel,
			rows: []wantRow{
				{name: "call_001.wav", line: 2, fields: map[string]any{AgentName: "Nkosi, Thandi", Team: "Sales", Tags: "vip;billing"}},
				{name: "call_002.wav", line: 3, fields: map[string]any{AgentName: "Sipho Dlamini", Team: "Sales\nSupport"}},
				{name: "sub/call_003.wav", line: 6, fields: map[string]any{AgentName: "Lerato"}},
			},
			problems: []string{`column "Notes" is not a metadata field; it is ignored`},
		},
		{
			desc: "LF, blank lines, header below a blank line",
			data: "\nfilename,agent_name,direction\n\na.wav,Thandi,Inbound\n\n\nb.wav,,outbound\n",
			rows: []wantRow{
				{name: "a.wav", line: 4, fields: map[string]any{AgentName: "Thandi", Direction: "Inbound"}},
				{name: "b.wav", line: 7, fields: map[string]any{Direction: "outbound"}},
			},
		},
		{
			desc: "no final newline, spaces before quotes, names cleaned",
			data: "file_name, agent_name\n ./a.wav , \"Nkosi, T\"\nx//y/b.wav,Sipho",
			rows: []wantRow{
				{name: "a.wav", line: 2, fields: map[string]any{AgentName: "Nkosi, T"}},
				{name: "x/y/b.wav", line: 3, fields: map[string]any{AgentName: "Sipho"}},
			},
		},
		{
			desc: "old Macintosh CR line ends",
			data: "fileName,team\ra.wav,Sales\rb.wav,Support\r",
			rows: []wantRow{
				{name: "a.wav", line: 2, fields: map[string]any{Team: "Sales"}},
				{name: "b.wav", line: 3, fields: map[string]any{Team: "Support"}},
			},
		},
		{
			desc: "header words joined by spaces or hyphens",
			data: "File,Agent Name,Date-Of-Call,Notify Email,interaction id\na.wav,T,15/01/2025,qa@example.com,X1\n",
			rows: []wantRow{
				{name: "a.wav", line: 2, fields: map[string]any{AgentName: "T", DateOfCall: "15/01/2025", NotifyEmail: "qa@example.com", InteractionID: "X1"}},
			},
		},
		{
			desc: "semicolons, as Excel writes with a decimal comma",
			data: "filename;agent_name;contact\na.wav;Thandi;082 123 4567\n",
			rows: []wantRow{{name: "a.wav", line: 2, fields: map[string]any{AgentName: "Thandi", Contact: "082 123 4567"}}},
		},
		{
			desc: "sep= line",
			data: "sep=|\r\nfilename|team\r\na.wav|Sales, East\r\n",
			rows: []wantRow{{name: "a.wav", line: 3, fields: map[string]any{Team: "Sales, East"}}},
		},
		{
			desc: "Windows-1252, Excel's plain CSV",
			data: "filename,agent_name,tags\nJos\xe9.wav,Ren\xe9e M\xfcller,\x93vip\x94\n",
			rows: []wantRow{{name: "José.wav", line: 2, fields: map[string]any{AgentName: "Renée Müller", Tags: "“vip”"}}},
		},
		{
			desc: "mostly UTF-8 with a stray byte is not re-decoded",
			data: "filename,agent_name\nJosé.wav,Ren\xe9e\n",
			rows: []wantRow{{name: "José.wav", line: 2, fields: map[string]any{AgentName: "Ren\xe9e"}}},
		},
		{
			desc: "wrong column counts",
			data: "filename,agent_name,team\n" +
				"a.wav,Thandi\n" + // too few
				"b.wav,Sipho,Sales,,  \n" + // extra cells, all empty: fine
				"c.wav,Lerato,Sales,oops\n" + // extra cell with text
				",x\n" + // no name, and too few
				"d.wav,Zanele,Support\n",
			rows: []wantRow{
				{name: "a.wav", line: 2, err: "has 2 cells, but the header has 3"},
				{name: "b.wav", line: 3, fields: map[string]any{AgentName: "Sipho", Team: "Sales"}},
				{name: "c.wav", line: 4, err: "has 4 cells, but the header has 3"},
				{name: "d.wav", line: 6, fields: map[string]any{AgentName: "Zanele", Team: "Support"}},
			},
			problems: []string{"row 5: has 2 cells, but the header has 3, and no file name; the row is ignored"},
		},
		{
			desc: "names outside the folder and rows without a name",
			data: "filename,team\n" +
				"../x.wav,A\n" +
				"/etc/x.wav,A\n" +
				"C:\\calls\\x.wav,A\n" +
				"c:x.wav,A\n" +
				"sub\\..\\..\\x.wav,A\n" +
				"\\\\server\\share\\x.wav,A\n" +
				"  ,A\n" +
				"./,A\n" +
				"ok/a.wav,A\n",
			rows: []wantRow{{name: "ok/a.wav", line: 10, fields: map[string]any{Team: "A"}}},
			problems: []string{
				`row 2: file name "../x.wav" is outside the folder; the row is ignored`,
				`row 3: file name "/etc/x.wav" is outside the folder; the row is ignored`,
				`row 4: file name "C:/calls/x.wav" is outside the folder; the row is ignored`,
				`row 5: file name "c:x.wav" is outside the folder; the row is ignored`,
				`row 6: file name "sub/../../x.wav" is outside the folder; the row is ignored`,
				`row 7: file name "//server/share/x.wav" is outside the folder; the row is ignored`,
				`row 8: no file name; the row is ignored`,
				`row 9: file name "./" is not a file; the row is ignored`,
			},
		},
		{
			desc: "the same file named twice, three times",
			data: "filename,team\na.wav,A\nb.wav,B\na.wav,C\nc.wav,C\n./b.wav,D\nb.wav,E\n",
			rows: []wantRow{
				{name: "a.wav", line: 2, err: "named by rows 2 and 4"},
				{name: "b.wav", line: 3, err: "named by rows 3, 6 and 7"},
				{name: "c.wav", line: 5, fields: map[string]any{Team: "C"}},
			},
		},
		{
			desc: "unknown and unheaded columns are reported once",
			data: "filename,Notes,team,notes,,Duration\na.wav,x,A,y,z,\nb.wav,x,B,y,z,1\n",
			rows: []wantRow{
				{name: "a.wav", line: 2, fields: map[string]any{Team: "A"}},
				{name: "b.wav", line: 3, fields: map[string]any{Team: "B"}},
			},
			problems: []string{
				`column "Notes" is not a metadata field; it is ignored`,
				`column "Duration" is not a metadata field; it is ignored`,
				`column 5 has no header; its cells are ignored`,
			},
		},
		{
			desc: "Excel's trailing unheaded empty columns are quiet",
			data: "filename,team,,\r\na.wav,A,,\r\n",
			rows: []wantRow{{name: "a.wav", line: 2, fields: map[string]any{Team: "A"}}},
		},
		{
			desc: "Columns and FilenameColumn",
			data: "Recording,Agent,Call Start,email\nr1.wav,Thandi,15/01/2025 10:00,t@example.com\n",
			opts: ManifestOptions{Columns: map[string]string{" agent": "Agent_Name", "CALL START": "date_of_call"}, FilenameColumn: "recording "},
			rows: []wantRow{{name: "r1.wav", line: 2, fields: map[string]any{AgentName: "Thandi", DateOfCall: "15/01/2025 10:00", Email: "t@example.com"}}},
		},
		{
			desc: "FilenameColumn replaces the default names",
			data: "filename,Recording\na.wav,b.wav\n",
			opts: ManifestOptions{FilenameColumn: "Recording"},
			rows: []wantRow{{name: "b.wav", line: 2}},
			problems: []string{
				`column "filename" is not a metadata field; it is ignored`,
			},
		},
		{
			desc: "broken quotes cost only their own row",
			data: "filename,agent_name,team\n" +
				"a.wav,\"Thandi\"x,Sales\n" + // text after a closing quote
				"b.wav,Si\"pho,Sales\n" + // bare quote
				"c.wav,Lerato,Sales\n" +
				"d.wav,\"Zanele,Support\n" + // quote never closed
				"e.wav,Palesa,Support\n" +
				"f.wav,Naledi,Support\n",
			rows: []wantRow{
				{name: "a.wav", line: 2, err: `line 2, column 14: extraneous or missing " in quoted-field`},
				{name: "b.wav", line: 3, err: `line 3, column 9: bare " in non-quoted-field`},
				{name: "c.wav", line: 4, fields: map[string]any{AgentName: "Lerato", Team: "Sales"}},
				{name: "d.wav", line: 5, err: `extraneous or missing " in quoted-field`},
				{name: "e.wav", line: 6, fields: map[string]any{AgentName: "Palesa", Team: "Support"}},
				{name: "f.wav", line: 7, fields: map[string]any{AgentName: "Naledi", Team: "Support"}},
			},
		},
		{
			desc:     "a broken row without a readable name is a problem",
			data:     "agent_name,filename\nx\"y,a.wav\nb\"c\n",
			rows:     []wantRow{{name: "a.wav", line: 2, err: "bare"}},
			problems: []string{`row 3: line 3, column 2: bare " in non-quoted-field, and no file name; the row is ignored`},
		},
		{desc: "two columns give one field", data: "filename,agent_name,Agent Name\n", err: `line 1: columns "agent_name" and "Agent Name" both give agent_name`},
		{desc: "an alias and its field", data: "filename,Agent,email\n", err: `columns "Agent" and "email" both give email`},
		{desc: "a mapped column and a field", data: "filename,Agent,agent_name\n", opts: ManifestOptions{Columns: map[string]string{"agent": "agent_name"}}, err: `columns "Agent" and "agent_name" both give agent_name`},
		{desc: "two file-name columns", data: "filename,file\n", err: `columns "filename" and "file" both name the file`},
		{desc: "no file-name column", data: "\ufeffname,agent_name\na.wav,x\n", err: `line 1: no file-name column (headed "filename", "file_name", "fileName" or "file"); the header is "name", "agent_name"`},
		{desc: "no configured file-name column", data: "filename\na.wav\n", opts: ManifestOptions{FilenameColumn: "Recording"}, err: `no column is headed "Recording"`},
		{desc: "a mapping to an alias", data: "filename\n", opts: ManifestOptions{Columns: map[string]string{"Agent": "agent"}}},
		{desc: "a mapping to a bad field", data: "filename\n", opts: ManifestOptions{Columns: map[string]string{"Agent": "person"}}, err: `column "Agent" is mapped to "person", which is not a metadata field`},
		{desc: "empty", data: "", err: "it is empty"},
		{desc: "only blank rows", data: "\r\n,,\r\n", err: "it is empty"},
		{desc: "binary", data: "PK\x03\x04\x00\x00filename", err: "NUL bytes"},
		{desc: "header with an open quote", data: "filename,\"team\n", err: "line 1, column"},
		{desc: "unknown extension", file: "metadata.xlsx", data: "filename\n", err: `".xlsx" is not .csv, .tsv or .json`},
		{desc: "over MaxSize", data: "filename,team\na.wav,Sales\n", opts: ManifestOptions{MaxSize: 10}, err: "it is over 10 bytes"},
		{desc: "header only", file: "METADATA.CSV", data: "filename,team\r\n"},
	}
	runManifestTests(t, tests)
}

func TestReadManifestTSV(t *testing.T) {
	unicodeText := "filename\tagent_name\tteam\tcontact\r\n" +
		"Zoë.wav\tRenée\t\"Sales\tEast\"\t0821234567\r\n" +
		"b.wav\t\t\t+27 82 123 4567\r\n"
	want := []wantRow{
		{name: "Zoë.wav", line: 2, fields: map[string]any{AgentName: "Renée", Team: "Sales\tEast", Contact: "0821234567"}},
		{name: "b.wav", line: 3, fields: map[string]any{Contact: "+27 82 123 4567"}},
	}
	tests := []manifestTest{
		{desc: "UTF-8", file: "metadata.tsv", data: unicodeText, rows: want},
		{desc: "UTF-16 LE, Excel's Unicode Text", file: "metadata.TSV", data: utf16Text(unicodeText, false), rows: want},
		{desc: "UTF-16 BE", file: "metadata.tsv", data: utf16Text(unicodeText, true), rows: want},
		{desc: "UTF-16 named .csv", file: "metadata.csv", data: utf16Text(unicodeText, false), rows: want},
		{
			desc: "UTF-16 surrogate pairs, a lone surrogate and an odd byte",
			file: "metadata.tsv",
			data: utf16Text("filename\tteam\n🎧.wav\tA\n", false) + "\x00\xd8b\x00\t\x00B\x00\n\x00c",
			rows: []wantRow{
				{name: "🎧.wav", line: 2, fields: map[string]any{Team: "A"}},
				{name: "\ufffdb", line: 3, fields: map[string]any{Team: "B"}},
				{name: "\ufffd", line: 4, err: "has 1 cell, but the header has 2"},
			},
		},
		{
			desc: "quotes Excel writes round a cell with a quote in it",
			file: "metadata.tsv",
			data: "filename\tagent_name\n\"a \"\"1\"\".wav\"\t\"Thandi \"\"T\"\"\"\n",
			rows: []wantRow{{name: `a "1".wav`, line: 2, fields: map[string]any{AgentName: `Thandi "T"`}}},
		},
		{
			desc: "leading spaces of tab-separated cells do not eat empty cells",
			file: "metadata.tsv",
			data: "filename\tteam\tdepartment\na.wav\t \tOps\n",
			rows: []wantRow{{name: "a.wav", line: 2, fields: map[string]any{Department: "Ops"}}},
		},
		{
			desc: "a comma-separated file named .tsv",
			file: "metadata.tsv",
			data: "filename,team\na.wav,Sales\n",
			rows: []wantRow{{name: "a.wav", line: 2, fields: map[string]any{Team: "Sales"}}},
		},
	}
	runManifestTests(t, tests)
}

func TestReadManifestJSON(t *testing.T) {
	tests := []manifestTest{
		{
			desc: "array of entries",
			file: "metadata.json",
			data: `[
  {"filename": "a.wav", "agent_name": "Thandi", "tags": ["vip", "billing"], "contact": 27821234567, "Notes": "x", "validate": true},
  {"File Name": "sub\\b.wav", "team": null, "department": "", "direction": "inbound"},
  "c.wav",
  {"agent_name": "no name"},
  {"fileName": "d.wav", "team": {"name": "Sales"}},
  {"file": "../e.wav"},
  {"filename": 5},
  {"filename": "f.wav", "agent": "a@example.com", "email": "b@example.com"},
  {"filename": "a.wav", "notes": "again"},
  {"filename": "g.wav", "file": "h.wav"}
]`,
			rows: []wantRow{
				{name: "a.wav", line: 1, err: "named by entries 1 and 9"},
				{name: "sub/b.wav", line: 2, fields: map[string]any{Direction: "inbound"}},
				{name: "d.wav", line: 5, err: `"team" is an object, not a value`},
				{name: "f.wav", line: 8, err: `keys "agent" and "email" both give email`},
			},
			problems: []string{
				`key "Notes" is not a metadata field; it is ignored`,
				`key "validate" is not a metadata field; it is ignored`,
				`entry 3: it is a string, not an object; it is ignored`,
				`entry 4: no file name; the entry is ignored`,
				`entry 6: file name "../e.wav" is outside the folder; the entry is ignored`,
				`entry 7: the file name is a number, not text; the entry is ignored`,
				`entry 10: keys "file" and "filename" both name the file; the entry is ignored`,
			},
		},
		{
			desc: "array fields",
			file: "metadata.json",
			data: "\ufeff[{\"filename\":\"a.wav\",\"tags\":[\"vip\"],\"contact\":27821234567,\"date_of_call\":\"15/01/2025, 10:00:00\"}]\n",
			rows: []wantRow{{name: "a.wav", line: 1, fields: map[string]any{Tags: []any{"vip"}, Contact: json.Number("27821234567"), DateOfCall: "15/01/2025, 10:00:00"}}},
		},
		{
			desc: "object keyed by file name",
			file: "metadata.json",
			data: `{
  "a.wav": {"agent_name": "Thandi", "Team": "Sales"},
  "b.wav": null,
  "c.wav": "Thandi",
  "d.wav": {"filename": "d.wav", "team": "Ops"},
  "e.wav": {"filename": "other.wav"},
  "sub\\f.wav": {"team": "Ops"},
  "sub/f.wav": {"team": "Ops"},
  "../g.wav": {},
  "": {}
}`,
			rows: []wantRow{
				{name: "a.wav", key: "a.wav", fields: map[string]any{AgentName: "Thandi", Team: "Sales"}},
				{name: "b.wav", key: "b.wav"},
				{name: "c.wav", key: "c.wav", err: "it is a string, not an object of fields"},
				{name: "d.wav", key: "d.wav", fields: map[string]any{Team: "Ops"}},
				{name: "e.wav", key: "e.wav", err: `its "filename" is "other.wav", not the file name it is keyed by`},
				{name: "sub/f.wav", key: `sub\f.wav`, err: `named by keys "sub\\f.wav" and "sub/f.wav"`},
			},
			problems: []string{
				`key "../g.wav": file name "../g.wav" is outside the folder; the entry is ignored`,
				`key "": no file name; the entry is ignored`,
			},
		},
		{desc: "empty array", file: "metadata.json", data: " [ ] "},
		{desc: "empty object", file: "metadata.json", data: "{}"},
		{desc: "UTF-16 from PowerShell", file: "metadata.json", data: utf16Text(`[{"filename":"Zoë.wav","team":"Ops"}]`, false),
			rows: []wantRow{{name: "Zoë.wav", line: 1, fields: map[string]any{Team: "Ops"}}}},
		{desc: "a string", file: "metadata.json", data: `"a.wav"`, err: "it is a string, not an array"},
		{desc: "a number", file: "metadata.json", data: `12`, err: "it is a number, not an array"},
		{desc: "an array of strings", file: "metadata.json", data: `["a.wav", "b.wav"]`, err: "its array holds no objects"},
		{desc: "one entry not in an array", file: "metadata.json", data: `{"filename": "a.wav", "team": "Ops"}`, err: "its values are not objects"},
		{desc: "syntax error", file: "metadata.json", data: "[\n{\"filename\": \"a.wav\"},\n{\"filename\" \"b.wav\"}\n]", err: "line 3: invalid character"},
		{desc: "cut short", file: "metadata.json", data: "[\n{\"filename\": \"a.wav\"},\n", err: "line 3: the JSON ends early"},
		{desc: "cut short in an object", file: "metadata.json", data: "{\"a.wav\": ", err: "the JSON ends early"},
		{desc: "trailing data", file: "metadata.json", data: "[]\n\n[]", err: "line 3: more data after the JSON value"},
		{desc: "trailing junk", file: "metadata.json", data: "{}\nx", err: "more data after the JSON value"},
		{desc: "empty", file: "metadata.json", data: " \n", err: "it is empty"},
		{desc: "a stray delimiter", file: "metadata.json", data: "]", err: "line 1: invalid character"},
		{desc: "over MaxSize", file: "metadata.json", data: "[]      ", opts: ManifestOptions{MaxSize: 4}, err: "over 4 bytes"},
	}
	runManifestTests(t, tests)
}

func TestLookup(t *testing.T) {
	data := "filename,team\nCall.wav,A\ncall.wav,B\nCALL.WAV,C\nsub/Other.wav,D\n"
	m, err := ReadManifest("metadata.csv", strings.NewReader(data), ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rel  string
		line int    // 0: not found
		err  string // substring; "" for none
	}{
		{"Call.wav", 2, ""},
		{"call.wav", 3, ""},
		{"CALL.WAV", 4, ""},
		{"./call.wav", 3, ""},
		{"cALL.wav", 2, `no row names "cALL.wav" exactly, and rows 2, 3 and 4 ("Call.wav", "call.wav", "CALL.WAV") match it only case-insensitively`},
		{"sub/other.WAV", 5, ""},
		{"SUB/OTHER.WAV", 5, ""},
		{"other.wav", 0, ""},
		{"", 0, ""},
	}
	for _, tt := range tests {
		r, ok := m.Lookup(tt.rel)
		if tt.line == 0 {
			if ok {
				t.Errorf("Lookup(%q) = row %d, want none", tt.rel, r.Line)
			}
			continue
		}
		if !ok || r.Line != tt.line {
			t.Errorf("Lookup(%q) = %v, %v; want row %d", tt.rel, r, ok, tt.line)
			continue
		}
		if tt.err == "" && r.Err != nil || tt.err != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.err)) {
			t.Errorf("Lookup(%q).Err = %v, want %q", tt.rel, r.Err, tt.err)
		}
	}
	var none *Manifest
	if _, ok := none.Lookup("a.wav"); ok || none.Len() != 0 || none.Names() != nil {
		t.Error("a nil Manifest is not empty")
	}
}

func TestWhere(t *testing.T) {
	csvM, err := ReadManifest("metadata.csv", strings.NewReader("filename\n\na.wav\n"), ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	arrM, err := ReadManifest("in/metadata.json", strings.NewReader(`[{"filename":"x.wav"},{"filename":"a.wav"}]`), ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	objM, err := ReadManifest("metadata.json", strings.NewReader(`{"a.wav": {}}`), ManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		m    *Manifest
		want string
	}{
		{csvM, "metadata.csv row 3"},
		{arrM, "in/metadata.json entry 2"},
		{objM, `metadata.json key "a.wav"`},
	} {
		r, ok := tt.m.Lookup("a.wav")
		if !ok {
			t.Fatalf("%s: no a.wav", tt.m.Name)
		}
		if got := r.Where(); got != tt.want {
			t.Errorf("Where() = %q, want %q", got, tt.want)
		}
	}
	if got := (&Row{Line: 4}).Where(); got != "row 4" {
		t.Errorf("Where() of a bare Row = %q", got)
	}
}

// manifestRows returns a CSV manifest of n rows, as a call centre's
// export would be.
func manifestRows(n int) []byte {
	var b bytes.Buffer
	b.WriteString("\ufefffilename,agent_name,team,department,direction,tags,contact,date_of_call\r\n")
	for i := range n {
		fmt.Fprintf(&b, "2025/01/call_%06d.wav,Agent %d,Sales,Inbound Support,inbound,\"vip;billing\",+27 82 %07d,\"15/01/2025, 10:%02d:%02d\"\r\n", i, i%50, i, i/60%60, i%60)
	}
	return b.Bytes()
}

func TestReadManifestMemory(t *testing.T) {
	const n = 10000
	data := manifestRows(n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := ReadManifest("metadata.csv", bytes.NewReader(data), ManifestOptions{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != n || len(m.Problems) != 0 {
		t.Fatalf("Len() = %d, problems %q", m.Len(), m.Problems)
	}
	// The text is about 1.2 MB; allow a few times that for rows and maps.
	if got := after.TotalAlloc - before.TotalAlloc; got > 12<<20 {
		t.Errorf("reading %d rows allocated %d bytes", n, got)
	}
	r, ok := m.Lookup("2025/01/call_009999.wav")
	if !ok || r.Line != n+1 || r.Fields[DateOfCall] != "15/01/2025, 10:46:39" {
		t.Errorf("last row = %+v", r)
	}
}

func BenchmarkReadManifest(b *testing.B) {
	data := manifestRows(10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadManifest("metadata.csv", bytes.NewReader(data), ManifestOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadManifestJSON(b *testing.B) {
	var entries []map[string]any
	for i := range 10000 {
		entries = append(entries, map[string]any{
			"filename": fmt.Sprintf("2025/01/call_%06d.wav", i), "agent_name": fmt.Sprintf("Agent %d", i%50),
			"team": "Sales", "direction": "inbound", "tags": []string{"vip", "billing"}, "contact": "+27 82 123 4567",
			"date_of_call": "15/01/2025, 10:00:00",
		})
	}
	data, err := json.Marshal(entries)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ReadManifest("metadata.json", bytes.NewReader(data), ManifestOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReadManifestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metadata.csv")
	if err := os.WriteFile(path, manifestRows(100), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ReadManifest("metadata.csv", f, ManifestOptions{})
	if err != nil || m.Len() != 100 {
		t.Fatalf("ReadManifest = %v rows, %v", m.Len(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest("metadata.csv", f, ManifestOptions{MaxSize: 1000}); err == nil || !strings.Contains(err.Error(), "over 1000 bytes") {
		t.Errorf("ReadManifest with MaxSize 1000: %v", err)
	}
}

func TestLazyCell(t *testing.T) {
	tests := []struct {
		text  string
		comma rune
		i     int
		want  string
	}{
		{`a.wav,"x"y,z`, ',', 0, "a.wav"},
		{`a.wav,"x"y,z`, ',', 1, `x"y,z`}, // a bare quote does not close the cell
		{`a.wav,"x"y,z`, ',', 2, ""},
		{"  \"a,b\",c\n", ',', 0, "a,b"},
		{"  \"a,b\",c\n", ',', 1, "c"},
		{"\"two\r\nlines\",b\r\nnext,row\r\n", ',', 1, "b"},
		{"a\nb", ',', 1, ""},
		{"x\t\t\"y\"\"z\"\n", '\t', 2, `y"z`},
		{"x\t \ty", '\t', 1, " "},
		{"\"open,b\nc", ',', 0, "open,b\nc"},
		{"\"\"\r", ',', 0, ""},
	}
	for _, tt := range tests {
		if got := lazyCell(tt.text, tt.comma, csvTrimLeading(tt.comma), tt.i); got != tt.want {
			t.Errorf("lazyCell(%q, %q, %d) = %q, want %q", tt.text, tt.comma, tt.i, got, tt.want)
		}
	}
}
