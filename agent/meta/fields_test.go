package meta

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCanonicalField(t *testing.T) {
	for in, want := range map[string]string{
		" Agent_Name": AgentName, "AGENT": Email, "email": Email, "notifyemail": NotifyEmail,
		"Notify_Email": NotifyEmail, "date_of_call": DateOfCall, "Tags ": Tags,
	} {
		if got, ok := CanonicalField(in); !ok || got != want {
			t.Errorf("CanonicalField(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "filename", "agentname", "date"} {
		if got, ok := CanonicalField(in); ok {
			t.Errorf("CanonicalField(%q) = %q, want no field", in, got)
		}
	}
}

func TestValue(t *testing.T) {
	tests := []struct {
		field string
		raw   any
		sep   string
		want  any
		err   string // substring; "" = no error; "none" = ErrNoValue
	}{
		{AgentName, "  Thandi Nkosi ", ";", "Thandi Nkosi", ""},
		{AgentName, "", ";", nil, "none"},
		{AgentName, "   ", ";", nil, "none"},
		{AgentName, nil, "", nil, "none"},
		{AgentName, "a\x00b", ";", nil, "control characters"},
		{AgentName, "\xff", ";", nil, "UTF-8"},
		{AgentName, strings.Repeat("x", 600), ";", nil, "over 512"},
		{AgentName, json.Number("12"), "", nil, "number"},
		{Team, true, "", nil, "true or false"},
		{Team, []any{"a"}, "", nil, "list"},
		{Direction, "Inbound", ";", "inbound", ""},
		{Direction, "OUTBOUND", ";", "outbound", ""},
		{Direction, "in", ";", nil, "not inbound or outbound"},
		{Email, "thandi@example.co.za", ";", "thandi@example.co.za", ""},
		{Email, "Thandi <thandi@example.co.za>", ";", nil, "not an e-mail"},
		{Email, "thandi@", ";", nil, "not an e-mail"},
		{Email, "thandi@localhost", ";", nil, "not an e-mail"},
		{NotifyEmail, "qa@example.com", "", "qa@example.com", ""},
		{Contact, "0821234567", ";", "0821234567", ""},
		{Contact, "+27 82 123 4567", ";", "+27 82 123 4567", ""},
		{Contact, "(011) 555-0100", ";", "(011) 555-0100", ""},
		{Contact, json.Number("27821234567"), "", "27821234567", ""},
		{Contact, float64(27821234567), "", "27821234567", ""},
		{Contact, 1.5, "", nil, "number"},
		{Contact, "call me", ";", nil, "not a phone number"},
		{Contact, "12", ";", nil, "2 digits"},
		{Contact, "82+1", ";", nil, "not a phone number"},
		{Tags, "vip; billing ;;", ";", []string{"vip", "billing"}, ""},
		{Tags, "vip;billing", "", []string{"vip;billing"}, ""},
		{Tags, []any{" a", "b"}, "", []string{"a", "b"}, ""},
		{Tags, []any{"a", 1.0}, "", nil, "tag 2 is not a string"},
		{Tags, " ; ", ";", nil, "none"},
		{Tags, json.Number("3"), "", nil, "list of strings"},
		{"colour", "red", ";", nil, "not a metadata field"},
	}
	for _, tt := range tests {
		got, err := Value(tt.field, tt.raw, tt.sep)
		switch {
		case tt.err == "none":
			if !errors.Is(err, ErrNoValue) {
				t.Errorf("Value(%s, %#v) = %#v, %v; want ErrNoValue", tt.field, tt.raw, got, err)
			}
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Value(%s, %#v) error = %v, want %q", tt.field, tt.raw, err, tt.err)
			}
		case err != nil || !reflect.DeepEqual(got, tt.want):
			t.Errorf("Value(%s, %#v) = %#v, %v; want %#v", tt.field, tt.raw, got, err, tt.want)
		}
	}
}
