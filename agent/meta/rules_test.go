package meta

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var testPattern = regexp.MustCompile(`^(?P<agent_name>[^_]+)_(?P<date>\d{8})_(?P<time>\d{6})(?:_(?P<tags>[^.]+))?\.`)

func testRules() *Rules {
	return &Rules{
		Global:        map[string]any{"team": "Support", "agent": "a@example.com"},
		Source:        map[string]any{"team": "Sales"},
		SourceName:    "calls",
		Pattern:       testPattern,
		Dates:         DateRules{Layouts: []string{"20060102 150405"}},
		TagsSeparator: "+",
	}
}

func TestDescribeOrder(t *testing.T) {
	mtime := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	row := &Row{Line: 4, Name: "Thandi_20250301_101500_vip+gold.wav", Fields: map[string]any{"direction": "Outbound", "team": "Row Team", "tags": "x; y"}}
	tests := []struct {
		name string
		in   Input
		want map[string]Field
		warn []string
	}{
		{"mtime only", Input{Path: "a/b.wav", ModTime: mtime}, map[string]Field{
			"team":         {"Sales", "sources[calls].metadata.defaults"},
			"email":        {"a@example.com", fromGlobal},
			"date_of_call": {"02/01/2025, 05:04:05", fromModTime},
		}, nil},
		{"pattern", Input{Path: "a/Thandi_20250301_101500_vip+gold.wav", ModTime: mtime}, map[string]Field{
			"team":         {"Sales", "sources[calls].metadata.defaults"},
			"email":        {"a@example.com", fromGlobal},
			"agent_name":   {"Thandi", fromPattern},
			"tags":         {[]string{"vip", "gold"}, fromPattern},
			"date_of_call": {"01/03/2025, 10:15:00", fromPattern},
		}, nil},
		{"row over pattern, sidecar over row", Input{Path: "a/Thandi_20250301_101500_vip+gold.wav", ModTime: mtime, Row: row, Manifest: "a/metadata.csv",
			Sidecar: map[string]any{"team": "Side", "date_of_call": "not a date", "colour": "red"}, SidecarName: "a/x.json"}, map[string]Field{
			"email":        {"a@example.com", fromGlobal},
			"agent_name":   {"Thandi", fromPattern},
			"tags":         {[]string{"x; y"}, row.Where()}, // the CSV separator is the rules', "+"
			"direction":    {"outbound", row.Where()},
			"team":         {"Side", "sidecar a/x.json"},
			"date_of_call": {"01/03/2025, 10:15:00", fromPattern},
		}, []string{`sidecar a/x.json: "colour" is not a metadata field; not sent`, `sidecar a/x.json: date "not a date" matches no date layout and no known date form; dated by metadata.filename_pattern`}},
		{"bad row", Input{Path: "b.wav", ModTime: mtime, Row: &Row{Line: 9, Err: errRow}}, map[string]Field{
			"team":         {"Sales", "sources[calls].metadata.defaults"},
			"email":        {"a@example.com", fromGlobal},
			"date_of_call": {"02/01/2025, 05:04:05", fromModTime},
		}, []string{"row 9: wrong column count; the row is not used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := testRules().Describe(tt.in)
			if !reflect.DeepEqual(res.Fields, tt.want) {
				t.Errorf("fields\n got %v\nwant %v", res.Fields, tt.want)
			}
			if !reflect.DeepEqual(res.Warnings, tt.warn) {
				t.Errorf("warnings\n got %q\nwant %q", res.Warnings, tt.warn)
			}
			if res.Park != "" {
				t.Errorf("parked: %s", res.Park)
			}
		})
	}
}

var errRow = errString("wrong column count")

type errString string

func (e errString) Error() string { return string(e) }

func TestDescribeStrict(t *testing.T) {
	r := testRules()
	r.Strict = true
	res := r.Describe(Input{Path: "x.wav", Sidecar: map[string]any{"direction": "sideways"}, SidecarName: "x.json"})
	if res.Park == "" || !strings.Contains(res.Park, "sideways") {
		t.Errorf("strict: park %q", res.Park)
	}
	r = testRules()
	r.StrictDates = true
	res = r.Describe(Input{Path: "x.wav", Sidecar: map[string]any{"direction": "sideways", "date_of_call": "13/13/2025"}, SidecarName: "x.json"})
	if !strings.Contains(res.Park, "13/13/2025") {
		t.Errorf("strict_dates: park %q, want the date", res.Park)
	}
}

// FuzzDescribe feeds any file name and sidecar to the rules: never a
// panic, and what is sent is always valid (a readable date, every value
// passes Value).
func FuzzDescribe(f *testing.F) {
	f.Add("Thandi_20250301_101500_vip+gold.wav", `{"direction":"inbound"}`)
	f.Add("a/b/c_99999999_999999.WAV", `{"tags":["a",1]}`)
	f.Add("\x00_\xff.wav", `{"date_of_call":1740823200}`)
	f.Fuzz(func(t *testing.T, name, sidecar string) {
		var side map[string]any
		d := json.NewDecoder(strings.NewReader(sidecar))
		d.UseNumber()
		if d.Decode(&side) != nil {
			side = nil
		}
		res := testRules().Describe(Input{Path: name, ModTime: time.Unix(1700000000, 0), Sidecar: side, SidecarName: "s.json"})
		date, ok := res.Fields[DateOfCall].Value.(string)
		if !ok {
			t.Fatalf("no date_of_call: %v", res.Fields)
		}
		if _, err := time.ParseInLocation(DateLayout, date, velaZone); err != nil {
			t.Fatalf("date_of_call %q does not read back: %v", date, err)
		}
		for k, v := range res.Fields {
			if k == DateOfCall {
				continue
			}
			if _, err := Value(k, v.Value, ""); err != nil {
				t.Fatalf("%s = %#v sent, but Value says %v", k, v.Value, err)
			}
		}
	})
}
