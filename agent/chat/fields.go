package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta"
)

// The metadata fields of a chat besides the call fields.
const (
	fieldDate          = "date"
	fieldLanguage      = "language"
	fieldInteractionID = meta.InteractionID
)

// fieldList names every chat metadata field, for errors.
var fieldList = func() string {
	var names []string
	for _, f := range meta.Fields {
		if f != meta.DateOfCall {
			names = append(names, f)
		}
	}
	return strings.Join(append(names, fieldDate, fieldLanguage), ", ")
}()

// chatField returns the chat metadata field key names: a call field or its
// alias (not date_of_call), "date" or "language", matched trimmed and
// case-insensitively.
func chatField(key string) (string, error) {
	switch k := strings.ToLower(strings.TrimSpace(key)); k {
	case fieldDate, fieldLanguage:
		return k, nil
	}
	f, ok := meta.CanonicalField(key)
	switch {
	case !ok:
		return "", fmt.Errorf("metadata %s is not a chat field (%s); Vela would drop it", quote(key), fieldList)
	case f == meta.DateOfCall:
		return "", fmt.Errorf("metadata %s is a call field: a chat's date is %q", quote(key), fieldDate)
	}
	return f, nil
}

// metadata collects the checked metadata of one chat.
type metadata struct {
	m    map[string]any
	keys map[string]string // field -> its key as written, to name duplicates
}

func newMetadata() *metadata {
	return &metadata{m: map[string]any{}, keys: map[string]string{}}
}

// add checks key and its value raw and keeps the value, unless it is empty.
// dates reads a date string.
func (md *metadata) add(key string, raw any, dates meta.DateRules, tagSep string) error {
	f, err := chatField(key)
	if err != nil {
		return err
	}
	if prev, dup := md.keys[f]; dup {
		if prev == key {
			return fmt.Errorf("metadata %s is given twice", quote(key))
		}
		return fmt.Errorf("metadata %s and %s are both %s", quote(prev), quote(key), f)
	}
	md.keys[f] = key
	v, err := fieldValue(f, raw, dates, tagSep)
	switch {
	case errors.Is(err, meta.ErrNoValue):
		return nil
	case err != nil:
		return fmt.Errorf("metadata %s: %w", quote(key), err)
	}
	md.m[f] = v
	return nil
}

// fieldValue checks raw, a value of field f, and returns what is kept.
func fieldValue(f string, raw any, dates meta.DateRules, tagSep string) (any, error) {
	switch f {
	case fieldDate:
		var s string
		switch v := raw.(type) {
		case nil:
			return nil, meta.ErrNoValue
		case time.Time:
			if v.IsZero() {
				return nil, meta.ErrNoValue
			}
			return v, nil
		case string:
			s = v
		case json.Number:
			s = v.String()
		default:
			return nil, fmt.Errorf("is %s, not a time", kind(raw))
		}
		t, err := readTime(s, dates)
		if errors.Is(err, errNoTime) {
			return nil, meta.ErrNoValue
		}
		return t, err
	case fieldLanguage:
		// A language is plain text, checked as a name is.
		return meta.Value(meta.AgentName, raw, "")
	}
	return meta.Value(f, raw, tagSep)
}

// kind names the JSON type of v, decoded with UseNumber, for errors.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "text"
	case json.Number, float64:
		return "a number"
	case bool:
		return "true or false"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case json.Delim:
		if v == json.Delim('[') {
			return "a list"
		}
		return "an object"
	}
	return fmt.Sprintf("a value of type %T", v)
}

// sender returns the sender s stands for: agent, user or bot, trimmed and in
// lower case, with customer read as user.
func sender(s string) (string, error) {
	v := strings.TrimSpace(s)
	switch l := strings.ToLower(v); l {
	case "agent", "user", "bot":
		return l, nil
	case "customer":
		return "user", nil
	case "":
		return "", errors.New("has no sender")
	}
	return "", fmt.Errorf("sender %s is not agent, user or bot", quote(v))
}

// newMessage checks one message's values as read and returns it.
func newMessage(text, when, from, lang string, dates meta.DateRules) (Message, error) {
	var m Message
	m.Text = strings.TrimSpace(text)
	if m.Text == "" {
		return m, errors.New("has no text")
	}
	var err error
	if m.Time, err = readTime(when, dates); err != nil {
		return m, err
	}
	if m.Sender, err = sender(from); err != nil {
		return m, err
	}
	if m.Language, err = language(lang); err != nil {
		return m, err
	}
	return m, nil
}

// language checks a message's language; "" is none.
func language(s string) (string, error) {
	v, err := meta.Value(meta.AgentName, s, "")
	switch {
	case errors.Is(err, meta.ErrNoValue):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("language %w", err)
	}
	return v.(string), nil
}

// text returns v, a JSON value, as a string; null is "".
func text(name string, v any) (string, error) {
	switch s := v.(type) {
	case nil:
		return "", nil
	case string:
		return s, nil
	}
	return "", fmt.Errorf("%s is %s, not text", name, kind(v))
}

// timeText returns v, a JSON time value, as a string; null is "".
func timeText(name string, v any) (string, error) {
	if n, ok := v.(json.Number); ok {
		return n.String(), nil
	}
	s, err := text(name, v)
	if err != nil {
		return "", fmt.Errorf("%s is %s, not a time", name, kind(v))
	}
	return s, nil
}

// id checks a seed layout identifier; null and "" are none.
func id(name string, v any) (string, error) {
	s, err := meta.Value(meta.InteractionID, v, "")
	switch {
	case errors.Is(err, meta.ErrNoValue):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return s.(string), nil
}
