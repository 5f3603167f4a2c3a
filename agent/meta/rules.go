package meta

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Rules say how the calls of one source get their metadata. Describe
// merges what each rule gives, field by field, later wins:
//
//	global defaults → the source's defaults → file-name pattern → folder
//	manifest row → sidecar
//
// A value a rule gives that does not pass Value (or ParseDate) is dropped
// with a warning, and the field keeps what the rules before gave; with
// Strict (StrictDates for the date) the call is parked instead. The date
// falls back, last of all, to the file's modification time. Nothing is sent
// that no rule gave, except date_of_call, which is always sent: Vela dates
// a call without one by its upload time.
type Rules struct {
	// Defaults are the metadata.defaults in force: the global block's, and
	// the source's own over them (Source names it in explain).
	Global, Source map[string]any
	SourceName     string
	// Pattern is the compiled filename_pattern, or nil. It is matched
	// against the file name, or against the path relative to the source
	// when its text holds a "/".
	Pattern *regexp.Regexp
	Dates   DateRules
	// TagsSeparator splits tags given as text by a pattern or CSV/TSV cell.
	TagsSeparator string
	Strict        bool
	StrictDates   bool
}

// Input is what is known of one call when it is described.
type Input struct {
	Path    string    // relative to the source, slash-separated
	ModTime time.Time // the file's (the spool copy has the remote's)
	Row     *Row      // its manifest row, or nil
	// Manifest is the name of the manifest Row is from: CSV and TSV cells
	// are text (tags split on TagsSeparator), JSON strings one tag each.
	Manifest string
	// Sidecar holds the fields of <stem>.json, SidecarName its name.
	Sidecar     map[string]any
	SidecarName string
}

// Field is one field's value as sent and the rule that gave it.
type Field struct {
	Value any    `json:"value"`
	From  string `json:"from"`
}

// Result is the metadata of one call.
type Result struct {
	Fields   map[string]Field `json:"fields"`
	Warnings []string         `json:"warnings,omitempty"`
	// Park, if not empty, is why the call must not be sent (Strict rules).
	Park string `json:"park,omitempty"`
	// FileName, if not empty, is the name to give Vela instead of the
	// file's own (a ZIP manifest's spelling).
	FileName string `json:"fileName,omitempty"`
}

// Send returns the fields as sent to Vela.
func (r *Result) Send() map[string]any {
	m := make(map[string]any, len(r.Fields))
	for k, f := range r.Fields {
		m[k] = f.Value
	}
	return m
}

// Where the rules are, as explain names them.
const (
	fromGlobal  = "metadata.defaults"
	fromPattern = "metadata.filename_pattern"
	fromModTime = "file modification time"
)

// layer is one rule's raw values: field -> value (date_of_call raw too),
// with the tag separator its text values use.
type layer struct {
	from   string
	fields map[string]any
	tagSep string
}

// Describe builds the metadata of the call in.
func (r *Rules) Describe(in Input) Result {
	res := Result{Fields: map[string]Field{}}
	layers := []layer{
		{fromGlobal, r.Global, ""},
		{"sources[" + r.SourceName + "].metadata.defaults", r.Source, ""},
	}
	if m := r.match(in.Path); m != nil {
		layers = append(layers, layer{fromPattern, m, r.TagsSeparator})
	}
	if in.Row != nil {
		if in.Row.Err != nil {
			res.warn(r.Strict, "%s: %v; the row is not used", in.Row.Where(), in.Row.Err)
		} else {
			layers = append(layers, layer{in.Row.Where(), in.Row.Fields, r.rowSep(in.Manifest)})
		}
	}
	if in.Sidecar != nil {
		layers = append(layers, layer{"sidecar " + in.SidecarName, in.Sidecar, ""})
	}

	date, dateFrom := in.ModTime, fromModTime
	for _, l := range layers {
		for _, key := range slices.Sorted(maps.Keys(l.fields)) {
			raw := l.fields[key]
			f, ok := CanonicalField(key)
			if !ok {
				res.warn(r.Strict, "%s: %q is not a metadata field; not sent", l.from, key)
				continue
			}
			if f == DateOfCall {
				s, ok := raw.(string)
				if n, isNum := raw.(json.Number); isNum {
					s, ok = n.String(), true // epoch seconds in JSON
				}
				if !ok {
					res.warn(r.StrictDates, "%s: date_of_call %v is not text; %s", l.from, raw, r.dateFallback(dateFrom))
					continue
				}
				t, err := r.Dates.Parse(s)
				if err != nil {
					res.warn(r.StrictDates, "%s: %v; %s", l.from, err, r.dateFallback(dateFrom))
					continue
				}
				date, dateFrom = t, l.from
				continue
			}
			v, err := Value(f, raw, l.tagSep)
			switch {
			case errors.Is(err, ErrNoValue):
			case err != nil:
				res.warn(r.Strict, "%s: %s %v; not sent", l.from, f, err)
			default:
				res.Fields[f] = Field{v, l.from}
			}
		}
	}
	res.Fields[DateOfCall] = Field{FormatDate(date), dateFrom}
	return res
}

// dateFallback says what the date is instead of an unreadable one.
func (r *Rules) dateFallback(from string) string {
	if from == fromModTime {
		return "dated by the file's modification time"
	}
	return "dated by " + from
}

// rowSep is the tag separator of the values of a manifest's rows.
func (r *Rules) rowSep(manifest string) string {
	if strings.EqualFold(path.Ext(manifest), ".json") {
		return ""
	}
	return r.TagsSeparator
}

// warn records a warning, or the reason to park when strict.
func (res *Result) warn(strict bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strict && res.Park == "" {
		res.Park = msg
	}
	res.Warnings = append(res.Warnings, msg)
}

// match applies the file-name pattern to the call's path and returns the
// fields of its named groups; date and time are joined as date_of_call.
func (r *Rules) match(rel string) map[string]any {
	if r.Pattern == nil {
		return nil
	}
	subject := path.Base(rel)
	if strings.Contains(r.Pattern.String(), "/") {
		subject = rel
	}
	m := r.Pattern.FindStringSubmatch(subject)
	if m == nil {
		return nil
	}
	out := map[string]any{}
	var date, clock string
	for i, name := range r.Pattern.SubexpNames() {
		if i == 0 || name == "" || m[i] == "" {
			continue
		}
		switch name {
		case "date":
			date = m[i]
		case "time":
			clock = m[i]
		default:
			if f, ok := CanonicalField(name); ok {
				out[f] = m[i]
			}
		}
	}
	if date != "" {
		out[DateOfCall] = strings.TrimSpace(date + " " + clock)
	}
	return out
}
