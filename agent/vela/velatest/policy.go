package velatest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Limits of one browser-based POST upload, as S3 applies them. Package
// variables so that tests can lower them.
var (
	maxPreData  int64 = 20 << 10 // form fields before the file (names and values)
	maxPostFile int64 = 5 << 30  // the file
)

const (
	maxKeyLen   = 1024 // bytes of an object key
	algorithmV4 = "AWS4-HMAC-SHA256"
	scopeDate   = "20060102"
)

// s3Error is an error reply of the S3 endpoint.
type s3Error struct {
	status  int
	code    string
	message string
}

func (e *s3Error) Error() string { return e.code + ": " + e.message }

func invalidArgument(format string, a ...any) *s3Error {
	return &s3Error{http.StatusBadRequest, "InvalidArgument", fmt.Sprintf(format, a...)}
}

func invalidPolicy(format string, a ...any) *s3Error {
	return &s3Error{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: " + fmt.Sprintf(format, a...)}
}

func policyDenied(format string, a ...any) *s3Error {
	return &s3Error{http.StatusForbidden, "AccessDenied", "Invalid according to Policy: " + fmt.Sprintf(format, a...)}
}

func missingField(name string) *s3Error {
	return invalidArgument("Bucket POST must contain a field named '%s'.  If it is specified, please check the order of the fields.", name)
}

var (
	errMalformedPOST = &s3Error{http.StatusBadRequest, "MalformedPOSTRequest",
		"The body of your POST request is not well-formed multipart/form-data."}
	errIncompleteBody = &s3Error{http.StatusBadRequest, "IncompleteBody",
		"The request body terminated unexpectedly."}
	errPreDataTooLong = &s3Error{http.StatusBadRequest, "MaxPostPreDataLengthExceeded",
		"Your POST request fields preceding the upload file were too large."}
	errEntityTooLarge = &s3Error{http.StatusBadRequest, "EntityTooLarge",
		"Your proposed upload exceeds the maximum allowed size"}
	errEntityTooSmall = &s3Error{http.StatusBadRequest, "EntityTooSmall",
		"Your proposed upload is smaller than the minimum allowed size"}
	errSignature = &s3Error{http.StatusForbidden, "SignatureDoesNotMatch",
		"The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	errUnknownKey = &s3Error{http.StatusForbidden, "InvalidAccessKeyId",
		"The AWS Access Key Id you provided does not exist in our records."}
	errToken = &s3Error{http.StatusForbidden, "InvalidToken",
		"The provided token is malformed or otherwise invalid."}
	errAnonymous = &s3Error{http.StatusForbidden, "AccessDenied", "Access Denied"}
)

// credential is the one key pair whose signatures the verifier accepts.
type credential struct {
	accessKey, secretKey, sessionToken, region string
}

// postVerifier checks browser-based POST uploads to one bucket the way S3
// does: the SigV4 signature over the policy, its expiry, every condition,
// no form field outside the policy, and the file as the last part.
type postVerifier struct {
	cred   credential
	bucket string
	now    func() time.Time
}

// postUpload is a verified upload.
type postUpload struct {
	key    string            // with ${filename} expanded
	fields map[string]string // the fields before the file, by lower-case name
	size   int64
	md5    []byte
	sha256 []byte
}

// read reads a multipart/form-data body with the given boundary, verifies
// it and copies the file to dst, never holding the file in memory. An
// *s3Error says what S3 would answer; any other error is the server's own
// (dst failed). On error, dst may hold part of the file and body may be
// partly unread.
func (v *postVerifier) read(body io.Reader, boundary string, dst io.Writer) (*postUpload, error) {
	mr := multipart.NewReader(body, boundary)
	fields, file, err := readFields(mr)
	if err != nil {
		return nil, err
	}
	sizes, err := v.authorize(fields)
	if err != nil {
		return nil, err
	}

	hmd5, hsha := md5.New(), sha256.New()
	out := &trackedWriter{w: dst}
	n, err := io.Copy(io.MultiWriter(out, hmd5, hsha), io.LimitReader(file, sizes.max+1))
	switch {
	case out.err != nil:
		return nil, fmt.Errorf("spool the file: %w", out.err)
	case err != nil:
		return nil, bodyError(err)
	case n > sizes.max:
		return nil, errEntityTooLarge
	}
	// A clean end is exactly io.EOF; a body cut short gives a wrapped EOF.
	if _, err := mr.NextRawPart(); err != io.EOF {
		if err == nil {
			return nil, invalidArgument("The file must be the last field of a POST form.")
		}
		return nil, bodyError(err)
	}
	if n < sizes.min {
		return nil, errEntityTooSmall
	}
	key := strings.ReplaceAll(fields["key"], "${filename}", file.FileName())
	switch {
	case key == "":
		return nil, missingField("key")
	case len(key) > maxKeyLen:
		return nil, &s3Error{http.StatusBadRequest, "KeyTooLongError", "Your key is too long"}
	}
	return &postUpload{
		key:    key,
		fields: fields,
		size:   n,
		md5:    hmd5.Sum(nil),
		sha256: hsha.Sum(nil),
	}, nil
}

// readFields reads the form fields up to the file part, which it returns
// unread.
func readFields(mr *multipart.Reader) (map[string]string, *multipart.Part, error) {
	fields := make(map[string]string)
	budget := maxPreData
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return nil, nil, invalidArgument("POST requires exactly one file upload per request.")
		}
		if err != nil && len(fields) == 0 {
			return nil, nil, errMalformedPOST // not even one part
		}
		if err != nil {
			return nil, nil, bodyError(err)
		}
		name := strings.ToLower(p.FormName())
		switch {
		case name == "":
			return nil, nil, errMalformedPOST
		case name == "file":
			return fields, p, nil
		}
		if _, dup := fields[name]; dup {
			return nil, nil, invalidArgument("The POST form field %s appears more than once.", name)
		}
		budget -= int64(len(name))
		value, err := io.ReadAll(io.LimitReader(p, max(budget, 0)+1))
		if err != nil {
			return nil, nil, bodyError(err)
		}
		if budget -= int64(len(value)); budget < 0 {
			return nil, nil, errPreDataTooLong
		}
		fields[name] = string(value)
	}
}

// bodyError maps an error reading the body to S3's reply: a body cut short
// (the multipart reader wraps io.EOF) or a malformed one.
func bodyError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errIncompleteBody
	}
	return errMalformedPOST
}

// trackedWriter remembers the first error of w, to tell the server's
// failures from the client's.
type trackedWriter struct {
	w   io.Writer
	err error
}

func (t *trackedWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

// sizeRange is the file sizes a policy allows.
type sizeRange struct{ min, max int64 }

// authorize checks the fields before the file: the signature, the security
// token, the policy's expiry and conditions. It returns the file sizes the
// policy allows.
func (v *postVerifier) authorize(fields map[string]string) (sizeRange, error) {
	signed := false
	for _, name := range []string{"policy", "x-amz-algorithm", "x-amz-credential", "x-amz-signature"} {
		_, has := fields[name]
		signed = signed || has
	}
	if !signed {
		return sizeRange{}, errAnonymous // the bucket is not public
	}
	for _, name := range []string{"key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		if _, ok := fields[name]; !ok {
			return sizeRange{}, missingField(name)
		}
	}
	if alg := fields["x-amz-algorithm"]; alg != algorithmV4 {
		return sizeRange{}, invalidArgument("X-Amz-Algorithm %q is not supported; use %s.", alg, algorithmV4)
	}
	date, err := v.checkCredential(fields["x-amz-credential"])
	if err != nil {
		return sizeRange{}, err
	}
	policy := fields["policy"]
	sig, err := hex.DecodeString(fields["x-amz-signature"])
	if err != nil || !hmac.Equal(sig, signPolicy(v.cred.secretKey, date, v.cred.region, policy)) {
		return sizeRange{}, errSignature
	}
	token, ok := fields["x-amz-security-token"]
	switch {
	case ok && token != v.cred.sessionToken:
		return sizeRange{}, errToken
	case !ok && v.cred.sessionToken != "":
		// Temporary credentials are unknown without their token.
		return sizeRange{}, errUnknownKey
	}

	p, err := parsePolicy(policy)
	if err != nil {
		return sizeRange{}, err
	}
	if !v.now().Before(p.expiration) {
		return sizeRange{}, policyDenied("Policy expired.")
	}
	return p.check(v.bucket, fields)
}

// checkCredential checks an X-Amz-Credential,
// AKID/YYYYMMDD/REGION/s3/aws4_request, and returns its date.
func (v *postVerifier) checkCredential(cred string) (string, error) {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return "", invalidArgument(`The Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`)
	}
	akid, date, region, service, terminal := parts[0], parts[1], parts[2], parts[3], parts[4]
	switch _, err := time.Parse(scopeDate, date); {
	case akid != v.cred.accessKey:
		return "", errUnknownKey
	case err != nil || len(date) != len(scopeDate):
		return "", invalidArgument("Incorrect date format %q in the Credential; it must be YYYYMMDD.", date)
	case region != v.cred.region:
		return "", invalidArgument("The region %q in the Credential is wrong; expecting %q.", region, v.cred.region)
	case service != "s3":
		return "", invalidArgument("Incorrect service %q in the Credential; this endpoint belongs to \"s3\".", service)
	case terminal != "aws4_request":
		return "", invalidArgument("Incorrect terminal %q in the Credential; this endpoint uses \"aws4_request\".", terminal)
	}
	return date, nil
}

// signPolicy returns the SigV4 signature of a base64 policy: HMAC-SHA256
// with the key derived from the secret, date, region, "s3" and
// "aws4_request".
func signPolicy(secret, date, region, policy string) []byte {
	key := []byte("AWS4" + secret)
	for _, part := range []string{date, region, "s3", "aws4_request", policy} {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(part))
		key = h.Sum(nil)
	}
	return key
}

// postPolicy is a decoded POST policy document.
type postPolicy struct {
	expiration time.Time
	conditions []condition
}

// condition is one policy condition.
type condition struct {
	op       string // "eq", "starts-with" or "content-length-range"
	field    string // lower case, without "$"
	value    string
	min, max int64  // content-length-range
	text     string // as in the policy, for error messages
}

// parsePolicy decodes a base64 policy document.
func parsePolicy(b64 string) (*postPolicy, error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, invalidPolicy("invalid Base64 encoding.")
	}
	var doc struct {
		Expiration *string            `json:"expiration"`
		Conditions *[]json.RawMessage `json:"conditions"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || dec.Decode(new(json.RawMessage)) != io.EOF {
		return nil, invalidPolicy("Invalid JSON.")
	}
	if doc.Expiration == nil {
		return nil, invalidPolicy("Policy missing expiration.")
	}
	if doc.Conditions == nil {
		return nil, invalidPolicy("Policy missing conditions.")
	}
	exp, err := time.Parse(time.RFC3339, *doc.Expiration)
	if err != nil {
		return nil, invalidPolicy("Invalid 'expiration' value: '%s'", *doc.Expiration)
	}
	p := &postPolicy{expiration: exp}
	for _, rc := range *doc.Conditions {
		c, err := parseCondition(rc)
		if err != nil {
			return nil, err
		}
		p.conditions = append(p.conditions, c)
	}
	return p, nil
}

// parseCondition decodes {"field": "value"}, ["eq", "$field", "value"],
// ["starts-with", "$field", "prefix"] or ["content-length-range", min, max].
func parseCondition(raw json.RawMessage) (condition, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return condition{}, invalidPolicy("Invalid JSON.")
		}
		if len(m) != 1 {
			return condition{}, invalidPolicy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
		}
		for field, v := range m {
			value, ok := v.(string)
			if !ok {
				return condition{}, invalidPolicy("Invalid Simple-Condition: value must be a string.")
			}
			field = strings.ToLower(field)
			return condition{op: "eq", field: field, value: value,
				text: fmt.Sprintf(`["eq", "$%s", %s]`, field, strconv.Quote(value))}, nil
		}
	}

	var args []json.RawMessage
	if err := json.Unmarshal(raw, &args); err != nil {
		return condition{}, invalidPolicy("Invalid condition test: must be a List or Object.")
	}
	if len(args) == 0 {
		return condition{}, invalidPolicy("Invalid Condition: missing operation identifier.")
	}
	var c condition
	if err := json.Unmarshal(args[0], &c.op); err != nil {
		return condition{}, invalidPolicy("Invalid JSON.")
	}
	var compact bytes.Buffer
	json.Compact(&compact, raw) // raw is valid JSON here
	c.text = compact.String()
	if len(args) != 3 {
		return condition{}, invalidPolicy("Invalid %s: wrong number of arguments.", c.op)
	}

	switch c.op {
	case "eq", "starts-with":
		var ref string
		if err := json.Unmarshal(args[1], &ref); err != nil || len(ref) < 2 || ref[0] != '$' {
			return condition{}, invalidPolicy("Invalid %s: the field must be a string starting with $.", c.op)
		}
		c.field = strings.ToLower(ref[1:])
		if err := json.Unmarshal(args[2], &c.value); err != nil {
			return condition{}, invalidPolicy("Invalid %s: the value must be a string.", c.op)
		}
	case "content-length-range":
		var err1, err2 error
		c.min, err1 = policyInt(args[1])
		c.max, err2 = policyInt(args[2])
		if err1 != nil || err2 != nil || c.min < 0 || c.max < 0 {
			return condition{}, invalidPolicy("Invalid content-length-range: the bounds must be non-negative integers.")
		}
	default:
		return condition{}, invalidPolicy("Invalid Condition: unknown operation '%s'.", c.op)
	}
	return c, nil
}

// policyInt decodes an integer written as a JSON number or a quoted number.
func policyInt(raw json.RawMessage) (int64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		s = string(raw)
	}
	return strconv.ParseInt(s, 10, 64)
}

// check checks the form fields against the conditions: every field must be
// named by a condition, and every condition must hold. It returns the file
// sizes the policy allows.
func (p *postPolicy) check(bucket string, fields map[string]string) (sizeRange, error) {
	named := make(map[string]bool)
	for _, c := range p.conditions {
		named[c.field] = true
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		exempt := name == "policy" || name == "x-amz-signature" || strings.HasPrefix(name, "x-ignore-")
		if !exempt && !named[name] {
			return sizeRange{}, policyDenied("Extra input fields: %s", name)
		}
	}

	sizes := sizeRange{0, maxPostFile}
	for _, c := range p.conditions {
		if c.op == "content-length-range" {
			sizes.min, sizes.max = max(sizes.min, c.min), min(sizes.max, c.max)
			continue
		}
		got, ok := fields[c.field]
		if c.field == "bucket" {
			got, ok = bucket, true
		}
		if !ok || c.op == "eq" && got != c.value || c.op == "starts-with" && !strings.HasPrefix(got, c.value) {
			return sizeRange{}, policyDenied("Policy Condition failed: %s", c.text)
		}
	}
	return sizes, nil
}
