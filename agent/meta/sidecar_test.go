package meta

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestReadSidecar(t *testing.T) {
	tests := []struct {
		desc     string
		data     string
		fields   map[string]any
		problems []string
		err      string // substring; "" for none
	}{
		{
			desc:   "fields, aliases and spellings",
			data:   `{"Agent_Name": " Thandi ", "agent": "t@example.com", "Notify Email": "qa@example.com", "tags": ["vip"], "contact": 27821234567, "direction": "inbound"}`,
			fields: map[string]any{AgentName: " Thandi ", Email: "t@example.com", NotifyEmail: "qa@example.com", Tags: []any{"vip"}, Contact: json.Number("27821234567"), Direction: "inbound"},
		},
		{
			desc:     "unknown keys, nulls and empty strings",
			data:     "\ufeff{\"team\": \"Sales\", \"duration\": 61.5, \"Notes\": \"x\", \"department\": null, \"interaction_id\": \"\"}\n",
			fields:   map[string]any{Team: "Sales"},
			problems: []string{`key "Notes" is not a metadata field; it is ignored`, `key "duration" is not a metadata field; it is ignored`},
		},
		{
			desc:     "two keys for one field",
			data:     `{"agent": "a@example.com", "email": "b@example.com", "team": "Ops", "Team ": "Ops", "TEAM": "Ops"}`,
			problems: []string{`keys "agent" and "email" both give email; neither is used`, `keys "TEAM", "Team ", "team" all give team; none is used`},
		},
		{
			desc:   "a null beside a value is no conflict",
			data:   `{"agent": null, "email": "b@example.com"}`,
			fields: map[string]any{Email: "b@example.com"},
		},
		{
			desc:   "values are left for Value to check",
			data:   `{"team": {"name": "Ops"}, "direction": true}`,
			fields: map[string]any{Team: map[string]any{"name": "Ops"}, Direction: true},
		},
		{desc: "empty object", data: " {} "},
		{desc: "UTF-16", data: utf16Text(`{"team": "Zoë's"}`, false), fields: map[string]any{Team: "Zoë's"}},
		{desc: "an array", data: `[{"team": "Ops"}]`, err: "read sidecar: it is an array, not a JSON object of fields"},
		{desc: "null", data: `null`, err: "it is null, not a JSON object"},
		{desc: "a string", data: `"x"`, err: "it is a string"},
		{desc: "empty", data: "", err: "it is empty"},
		{desc: "trailing object", data: "{}\n{}", err: "line 2: more data after the JSON object"},
		{desc: "trailing junk", data: `{"team": "Ops"} x`, err: "more data after the JSON object"},
		{desc: "syntax error", data: "{\n\"team\": Ops}", err: "line 2: invalid character 'O'"},
		{desc: "cut short", data: `{"team": "Ops"`, err: "the JSON ends early"},
		{desc: "over 1 MiB", data: `{"team": "` + strings.Repeat("x", 1<<20) + `"}`, err: "it is over 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			fields, problems, err := ReadSidecar(strings.NewReader(tt.data))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ReadSidecar error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadSidecar: %v", err)
			}
			if !reflect.DeepEqual(fields, tt.fields) {
				t.Errorf("fields = %#v, want %#v", fields, tt.fields)
			}
			if !reflect.DeepEqual(problems, tt.problems) {
				t.Errorf("problems = %q, want %q", problems, tt.problems)
			}
		})
	}
}

func TestReadSidecarLimit(t *testing.T) {
	old := maxSidecarSize
	maxSidecarSize = 16
	t.Cleanup(func() { maxSidecarSize = old })
	if _, _, err := ReadSidecar(strings.NewReader(`{"team": "Ops"}`)); err != nil {
		t.Errorf("15 bytes: %v", err)
	}
	if _, _, err := ReadSidecar(strings.NewReader(`{"team": "Sales"}`)); err == nil || !strings.Contains(err.Error(), "over 16 bytes") {
		t.Errorf("17 bytes: error %v, want over 16 bytes", err)
	}
}
