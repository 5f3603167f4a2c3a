package vela

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Presign asks for a presigned POST for one recording: POST Paths.Presign
// with {"org_id", "fileName", "metadata"}, as JSON or, when Encoding is
// "form", as a form with the metadata as a JSON string. meta is not
// modified.
//
// Each call is logged at Vela and counted against the allocation: keep the
// form and reuse it until shortly before it Expires.
//
// The form's Fields are every field of the reply, unchanged and in the
// reply's order. Expires comes from the "expiration" of the policy field if
// Field is one form field of a presigned POST.
type Field struct{ Name, Value string }

// Presign is the API's answer to a presign request: the URL to POST the
// file to and every form field to send with it, unchanged and in the
// API's order, and when the form's policy expires (zero if unknown).
type Presign struct {
	URL     string
	Fields  []Field
	Expires time.Time
}

// there is one, else it is zero.
func (c *Client) Presign(ctx context.Context, fileName string, meta map[string]any) (*Presign, error) {
	op := "presign " + fileName
	if fileName == "" {
		return nil, &Error{Op: "presign", Action: Park, Err: errors.New("no file name")}
	}
	body, contentType, err := c.presignBody(fileName, meta)
	if err != nil {
		return nil, &Error{Op: op, Action: Park, Err: err}
	}
	rep, err := c.call(ctx, request{
		op:          op,
		kind:        opCall,
		method:      http.MethodPost,
		path:        c.cfg.Paths.Presign,
		contentType: contentType,
		body:        body,
	})
	if err != nil {
		return nil, err
	}
	form, err := parsePresign(rep.body)
	if err != nil {
		return nil, unreadable(op, rep.status, err)
	}
	return form, nil
}

// presignBody encodes the presign request as configured.
func (c *Client) presignBody(fileName string, meta map[string]any) (body []byte, contentType string, err error) {
	m := make(map[string]any, len(meta)+1)
	maps.Copy(m, meta)
	if c.cfg.ValidateMetadata {
		m["validate_metadata"] = true
	}
	metaJSON, err := json.Marshal(m)
	if err != nil {
		return nil, "", fmt.Errorf("encode metadata: %w", err)
	}
	if c.cfg.Encoding == "form" {
		form := "org_id=" + url.QueryEscape(c.cfg.OrgID) +
			"&fileName=" + url.QueryEscape(fileName) +
			"&metadata=" + url.QueryEscape(string(metaJSON))
		return []byte(form), "application/x-www-form-urlencoded", nil
	}
	body, err = json.Marshal(struct {
		OrgID    string          `json:"org_id"`
		FileName string          `json:"fileName"`
		Metadata json.RawMessage `json:"metadata"`
	}{c.cfg.OrgID, fileName, metaJSON})
	if err != nil {
		return nil, "", fmt.Errorf("encode request: %w", err)
	}
	return body, "application/json", nil
}

// parsePresign reads a presign reply, {"url": "...", "fields": {...}}.
// Errors never quote the reply: its fields may hold a session token.
func parsePresign(body []byte) (*Presign, error) {
	var r struct {
		URL    *string         `json:"url"`
		Fields json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	if r.URL == nil || *r.URL == "" {
		return nil, errors.New("reply has no url")
	}
	u, err := url.Parse(*r.URL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("reply's url is not an absolute URL")
	}
	if err := checkScheme(u); err != nil {
		return nil, fmt.Errorf("reply's url %s://%s: %w", u.Scheme, u.Host, err)
	}
	fields, err := orderedFields(r.Fields)
	if err != nil {
		return nil, err
	}
	return &Presign{URL: *r.URL, Fields: fields, Expires: policyExpiry(fields)}, nil
}

// orderedFields decodes the JSON object raw into fields in the object's
// order, every name and value unchanged. Numbers and booleans are kept as
// their JSON text; null, objects and arrays are refused.
func orderedFields(raw json.RawMessage) ([]Field, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("reply has no fields")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("reply's fields are not an object")
	}
	fields := []Field{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("read fields: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("read fields: want a field name")
		}
		if tok, err = dec.Token(); err != nil {
			return nil, fmt.Errorf("read field %q: %w", name, err)
		}
		var value string
		switch v := tok.(type) {
		case string:
			value = v
		case json.Number:
			value = v.String()
		case bool:
			value = strconv.FormatBool(v)
		default:
			return nil, fmt.Errorf("field %q is not a string", name)
		}
		fields = append(fields, Field{Name: name, Value: value})
	}
	return fields, nil
}

// policyExpiry returns the "expiration" of the base64 JSON policy among
// fields (named "policy" in any case), or zero if there is none or it
// cannot be read.
func policyExpiry(fields []Field) time.Time {
	for _, f := range fields {
		if !strings.EqualFold(f.Name, "policy") {
			continue
		}
		doc, err := decodeBase64(f.Value)
		if err != nil {
			return time.Time{}
		}
		var p struct {
			Expiration string `json:"expiration"`
		}
		if json.Unmarshal(doc, &p) != nil {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(p.Expiration))
		if err != nil {
			return time.Time{}
		}
		return t
	}
	return time.Time{}
}

// decodeBase64 decodes standard base64, padded or not, or its URL-safe
// variant.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}
