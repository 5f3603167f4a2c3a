package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// maxSidecarSize is the largest sidecar read; a variable so tests can
// lower it.
var maxSidecarSize int64 = 1 << 20

// ReadSidecar parses a sidecar, the <recording stem>.json next to a
// recording: one JSON object of fields. Keys are matched with
// CanonicalField (and, like manifest headers, "Agent Name" is agent_name);
// values are as decoded with UseNumber, with nulls and empty strings left
// out. Unknown keys, and two or more keys that give one field (none of
// them is used), are returned in problems, one message each, not as an
// error. It
// fails on anything that is not one JSON object, on trailing data, or over
// 1 MiB. Text may be UTF-8, with or without a byte-order mark, or UTF-16
// with one (Windows PowerShell writes that).
func ReadSidecar(r io.Reader) (fields map[string]any, problems []string, err error) {
	data, err := readAtMost(r, maxSidecarSize)
	if errors.Is(err, errOverLimit) {
		return nil, nil, fmt.Errorf("read sidecar: it is over %d bytes, the most a sidecar may hold", maxSidecarSize)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read sidecar: %w", err)
	}
	data = decodeUnicode(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, fmt.Errorf("read sidecar: %w", jsonError(data, dec, err))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("read sidecar: it is %s, not a JSON object of fields", describeJSON(v))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("read sidecar: line %d: more data after the JSON object", lineOfOffset(data, dec.InputOffset()))
	}

	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mt := &headerMatcher{}
	from := map[string][]string{}
	for _, k := range keys {
		f, ok := mt.field(k)
		if !ok {
			problems = append(problems, fmt.Sprintf("key %q is not a metadata field; it is ignored", strings.TrimSpace(k)))
			continue
		}
		switch v := obj[k].(type) {
		case nil:
			continue
		case string:
			if v == "" {
				continue
			}
		}
		from[f] = append(from[f], k)
	}
	for _, f := range Fields {
		ks := from[f]
		switch len(ks) {
		case 0:
			continue
		case 1:
			if fields == nil {
				fields = make(map[string]any, len(from))
			}
			fields[f] = obj[ks[0]]
		case 2:
			problems = append(problems, fmt.Sprintf("keys %q and %q both give %s; neither is used", ks[0], ks[1], f))
		default:
			q := make([]string, len(ks))
			for i, k := range ks {
				q[i] = strconv.Quote(k)
			}
			problems = append(problems, fmt.Sprintf("keys %s all give %s; none is used", strings.Join(q, ", "), f))
		}
	}
	return fields, problems, nil
}
