package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The call metadata fields Vela reads (see VELA-API.md), as sent.
const (
	Email         = "email"
	AgentName     = "agent_name"
	Team          = "team"
	Department    = "department"
	Direction     = "direction"
	Tags          = "tags"
	Contact       = "contact"
	DateOfCall    = "date_of_call"
	InteractionID = "interaction_id"
	NotifyEmail   = "notifyEmail"
)

// Fields lists every call metadata field, in the order explain shows them.
var Fields = []string{Email, AgentName, Team, Department, Direction, Tags, Contact, DateOfCall, InteractionID, NotifyEmail}

// aliases are other names admins and customers' systems give fields.
var aliases = map[string]string{
	"agent":        Email,
	"notify_email": NotifyEmail,
}

// CanonicalField returns the field a name stands for: a field name or an
// alias ("agent" is email), matched trimmed and case-insensitively, so that
// a manifest header " Agent_Name" is agent_name. It reports false for a name
// that is no field.
func CanonicalField(name string) (string, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	if f, ok := aliases[n]; ok {
		return f, true
	}
	for _, f := range Fields {
		if strings.ToLower(f) == n {
			return f, true
		}
	}
	return "", false
}

// maxValue is the longest value accepted for a field, in bytes. Vela's own
// limits are not documented; a longer value is certainly a misread column.
const maxValue = 512

// ErrNoValue is returned by Value for an empty value: the rule gives the
// field nothing, which is not an error in the input.
var ErrNoValue = errors.New("no value")

// Value checks one raw value of field (not date_of_call, which ParseDate
// reads) and returns what is sent: a trimmed string, direction in lower
// case, tags as a []string, contact as a string exactly as written (a
// leading 0 or + survives). raw is a string (from a file name, CSV or TSV
// cell, or JSON string) or a JSON value decoded with UseNumber (json.Number,
// bool, []any, nil). A string of tags is split on tagSep and each tag
// trimmed; with tagSep "" it is one tag, as the decisions ask of JSON. An
// empty value returns ErrNoValue; an invalid one an error saying why, which
// the caller reports with the file and field.
func Value(field string, raw any, tagSep string) (any, error) {
	if field == Tags {
		return tags(raw, tagSep)
	}
	s, err := text(raw, field == Contact)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, ErrNoValue
	}
	switch field {
	case Email, NotifyEmail:
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
			return nil, fmt.Errorf("%q is not an e-mail address", s)
		}
	case Direction:
		d := strings.ToLower(s)
		if d != "inbound" && d != "outbound" {
			return nil, fmt.Errorf("%q is not inbound or outbound", s)
		}
		return d, nil
	case Contact:
		if err := checkContact(s); err != nil {
			return nil, err
		}
	case AgentName, Team, Department, InteractionID:
	case DateOfCall:
		return nil, errors.New("date_of_call is read by ParseDate")
	default:
		return nil, fmt.Errorf("%q is not a metadata field", field)
	}
	return s, nil
}

// text returns raw as a trimmed string. A JSON number is taken as written
// when number is set (a contact) and refused otherwise; so are booleans,
// lists and objects.
func text(raw any, number bool) (string, error) {
	var s string
	switch v := raw.(type) {
	case nil:
		return "", nil
	case string:
		s = v
	case json.Number:
		if !number {
			return "", fmt.Errorf("%s is a number, not text", v)
		}
		s = v.String()
	case float64:
		if !number || v != math.Trunc(v) || math.Abs(v) > 1e15 {
			return "", fmt.Errorf("%v is a number, not text", v)
		}
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return "", fmt.Errorf("%t is true or false, not text", v)
	case []any, []string:
		return "", errors.New("is a list, not a single value")
	case map[string]any:
		return "", errors.New("is an object, not a single value")
	default:
		return "", fmt.Errorf("unexpected value of type %T", raw)
	}
	s = strings.TrimSpace(s)
	if err := checkText(s); err != nil {
		return "", err
	}
	return s, nil
}

// checkText refuses what is certainly not a value: invalid UTF-8, control
// characters, or more than maxValue bytes.
func checkText(s string) error {
	switch {
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	case len(s) > maxValue:
		return fmt.Errorf("is %d bytes long, over %d", len(s), maxValue)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%q has control characters", s)
	}
	return nil
}

// checkContact accepts a phone number as people write one: digits with an
// optional leading +, spaced or grouped with -, ., ( and ), 3 to 20 digits.
func checkContact(s string) error {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0:
		case r == ' ', r == '-', r == '.', r == '(', r == ')':
		default:
			return fmt.Errorf("%q is not a phone number", s)
		}
	}
	if digits < 3 || digits > 20 {
		return fmt.Errorf("%q is not a phone number (%d digits)", s, digits)
	}
	return nil
}

// tags returns raw as a list of trimmed, non-empty tags.
func tags(raw any, sep string) (any, error) {
	var in []string
	switch v := raw.(type) {
	case nil:
		return nil, ErrNoValue
	case string:
		if sep == "" {
			in = []string{v}
		} else {
			in = strings.Split(v, sep)
		}
	case []string:
		in = v
	case []any:
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("tag %d is not a string", i+1)
			}
			in = append(in, s)
		}
	default:
		return nil, fmt.Errorf("must be a list of strings or a string, not %T", raw)
	}
	out := make([]string, 0, len(in))
	for _, t := range in {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if err := checkText(t); err != nil {
			return nil, fmt.Errorf("tag %w", err)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, ErrNoValue
	}
	return out, nil
}
