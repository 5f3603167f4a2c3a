package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The decoder stores a YAML syntax tree into the Config structs by their
// yaml tags. It is written here rather than borrowed from the YAML library
// so that it can report every problem at once, each at the position of its
// key, and so that no message ever quotes a secret.

// nodeDecoder is implemented by types that decode a YAML node themselves.
// The error text is the message that follows the key.
type nodeDecoder interface {
	decodeNode(n ast.Node) error
}

// defaulter is implemented by list elements that start from defaults.
type defaulter interface {
	setDefaults()
}

// Limits on what aliases and merge keys can make of a small file.
const (
	maxAliasChain = 32
	maxMergeDepth = 8
	maxMerged     = 10000
)

type decoder struct {
	file    string
	anchors map[string]ast.Node
	pos     map[string]token.Position // setting path -> position of its key or list item
	merged  int                       // entries taken through merge keys so far
	errs    Errors
	failed  map[string]bool // settings with an error: one error a setting is enough
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:    file,
		anchors: map[string]ast.Node{},
		pos:     map[string]token.Position{},
		failed:  map[string]bool{},
	}
}

// errorf records a problem with the setting at path, at the position of its
// key when the file has it.
func (d *decoder) errorf(path, format string, args ...any) {
	d.errorAt(d.pos[path], path, format, args...)
}

// errorAt records a problem at pos; a zero pos means the file has no
// position for it. Only the first problem of each setting is kept: a value
// that did not decode often fails a later check too.
func (d *decoder) errorAt(pos token.Position, path, format string, args ...any) {
	if path != "" {
		if d.failed[path] {
			return
		}
		d.failed[path] = true
	}
	d.errs = append(d.errs, &Error{
		File: d.file, Line: pos.Line, Column: pos.Column,
		Key: path, Msg: fmt.Sprintf(format, args...),
	})
}

// has reports whether the file sets path.
func (d *decoder) has(path string) bool {
	_, ok := d.pos[path]
	return ok
}

// maxFileSize bounds the configuration file: a bigger one is not a
// configuration, and the YAML parser is slow on pathological input.
const maxFileSize = 256 << 10

// document parses data and returns its root mapping, or nil after recording
// why there is none.
func (d *decoder) document(data []byte) ast.Node {
	switch {
	case len(data) > maxFileSize:
		d.errorAt(token.Position{}, "", "the file is larger than %d KiB; is it the right file?", maxFileSize>>10)
		return nil
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		d.errorAt(token.Position{}, "", "the file is UTF-16; save it as UTF-8")
		return nil
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF")) // Notepad's byte-order mark

	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		// The message only: the error's own text quotes the source, which
		// may hold a secret.
		var ye yaml.Error
		if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
			d.errorAt(*ye.GetToken().Position, "", "%s", syntaxMessage(ye.GetMessage()))
		} else {
			d.errorAt(token.Position{}, "", "invalid YAML")
		}
		return nil
	}
	var docs []ast.Node
	for _, doc := range f.Docs {
		if doc != nil && doc.Body != nil {
			docs = append(docs, doc.Body)
		}
	}
	if len(docs) > 1 {
		d.errorAt(position(docs[1]), "", "the file holds more than one YAML document; keep one (remove the \"---\" line)")
		return nil
	}
	if len(docs) == 0 {
		d.errorAt(token.Position{}, "", "empty configuration")
		return nil
	}
	root := docs[0]
	d.collectAnchors(root)
	d.pos[""] = position(root)
	switch n := d.resolve("", root).(type) {
	case *ast.MappingNode:
		return root
	case nil:
		if len(d.errs) == 0 {
			d.errorAt(token.Position{}, "", "empty configuration")
		}
	default:
		d.errorf("", "the configuration must be a mapping of keys to values, such as \"api:\" and \"sources:\", not %s", describe(n))
	}
	return nil
}

// syntaxMessage makes the YAML parser's message friendlier where it can.
func syntaxMessage(msg string) string {
	if strings.Contains(msg, "'\t'") || strings.Contains(msg, "tab character") {
		return "a tab where an indentation space is expected (indent YAML with spaces)"
	}
	if msg == "" {
		return "invalid YAML"
	}
	return msg
}

// collectAnchors records every &anchor in the document for resolve.
func (d *decoder) collectAnchors(root ast.Node) {
	ast.Walk(visitor(func(n ast.Node) {
		if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil && a.Name.GetToken() != nil && a.Value != nil {
			d.anchors[a.Name.GetToken().Value] = a.Value
		}
	}), root)
}

type visitor func(ast.Node)

func (v visitor) Visit(n ast.Node) ast.Visitor {
	v(n)
	return v
}

// resolve follows anchors, aliases and tags to the node that holds the
// value. It returns nil for a null value or a broken alias (which it
// reports).
func (d *decoder) resolve(path string, n ast.Node) ast.Node {
	for range maxAliasChain {
		switch v := n.(type) {
		case nil, *ast.NullNode:
			return nil
		case *ast.AnchorNode:
			n = v.Value
		case *ast.TagNode:
			n = v.Value
		case *ast.AliasNode:
			name := ""
			if v.Value != nil {
				name = v.Value.GetToken().Value
			}
			target, ok := d.anchors[name]
			if !ok {
				d.errorf(path, "alias *%s refers to no anchor", name)
				return nil
			}
			n = target
		default:
			return n
		}
	}
	d.errorf(path, "aliases nested too deeply")
	return nil
}

// decode stores n into v, which must be addressable. A null value leaves v
// as it is, so that defaults set before decoding stay.
func (d *decoder) decode(path string, n ast.Node, v reflect.Value) {
	n = d.resolve(path, n)
	if n == nil {
		return
	}
	if u, ok := v.Addr().Interface().(nodeDecoder); ok {
		if err := u.decodeNode(n); err != nil {
			d.errorf(path, "%s", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(path, n, v)
	case reflect.Slice:
		d.decodeSlice(path, n, v)
	case reflect.Map:
		if v.Type() == reflect.TypeFor[map[string]string]() {
			d.decodeStringMap(path, n, v)
			return
		}
		if v.Type() != reflect.TypeFor[map[string]any]() {
			d.errorf(path, "cannot be decoded into a %s", v.Type()) // a bug in this package's types
			return
		}
		d.decodeMap(path, n, v)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(path, n, p.Elem())
		v.Set(p)
	case reflect.String:
		s, ok := scalarText(n)
		if !ok {
			d.errorf(path, "must be a single value, not %s", describe(n))
			return
		}
		v.SetString(s)
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.errorf(path, "must be true or false, not %s", quote(n))
			return
		}
		v.SetBool(b.Value)
	case reflect.Int:
		i, ok := n.(*ast.IntegerNode)
		if !ok {
			d.errorf(path, "must be a whole number, not %s", quote(n))
			return
		}
		x, ok := intValue(i)
		if !ok || v.OverflowInt(x) {
			d.errorf(path, "%s is too large", i.Token.Value)
			return
		}
		v.SetInt(x)
	default:
		d.errorf(path, "cannot be decoded into a %s", v.Type()) // a bug in this package's types
	}
}

func (d *decoder) decodeStruct(path string, n ast.Node, v reflect.Value) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errorf(path, "must be a mapping of keys to values, not %s", describe(n))
		return
	}
	fields := map[string][]int{}
	var names []string
	var collect func(t reflect.Type, index []int)
	collect = func(t reflect.Type, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			at := append(slices.Clone(index), i)
			switch {
			case f.Anonymous && opts == "inline" && f.Type.Kind() == reflect.Struct:
				collect(f.Type, at) // its keys are this mapping's
			case f.IsExported() && name != "" && name != "-":
				fields[name] = at
				names = append(names, name)
			}
		}
	}
	collect(v.Type(), nil)
	for _, e := range d.entries(path, m, 0) {
		key, p, ok := d.key(path, e)
		if !ok {
			continue
		}
		i, ok := fields[key]
		if !ok {
			d.errorf(p, "unknown key%s", suggest(key, names))
			continue
		}
		d.decode(p, e.Value, v.FieldByIndex(i))
	}
}

func (d *decoder) decodeSlice(path string, n ast.Node, v reflect.Value) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.errorf(path, "must be a list (one item a line, each starting with \"- \", or [a, b]), not %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, item := range seq.Values {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.pos[p] = position(item)
		e := s.Index(i)
		if def, ok := e.Addr().Interface().(defaulter); ok {
			def.setDefaults()
		}
		d.decode(p, item, e)
	}
	v.Set(s)
}

// decodeMap decodes a map[string]any whose values are single values
// (stored as strings, as written) or lists of them ([]string).
func (d *decoder) decodeMap(path string, n ast.Node, v reflect.Value) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		d.errorf(path, "must be a mapping of keys to values, not %s", describe(n))
		return
	}
	out := map[string]any{}
	for _, e := range d.entries(path, m, 0) {
		key, p, ok := d.key(path, e)
		if !ok {
			continue
		}
		val := d.resolve(p, e.Value)
		if val == nil {
			continue
		}
		var x any
		if seq, ok := val.(*ast.SequenceNode); ok {
			var list []string
			d.decode(p, seq, reflect.ValueOf(&list).Elem())
			x = list
		} else if s, ok := scalarText(val); ok {
			x = s
		} else {
			d.errorf(p, "must be a single value or a list, not %s", describe(val))
			continue
		}
		out[key] = x
	}
	v.Set(reflect.ValueOf(out))
}

// decodeStringMap decodes a map[string]string: a mapping of single values.
func (d *decoder) decodeStringMap(path string, n ast.Node, v reflect.Value) {
	var m map[string]any
	d.decodeMap(path, n, reflect.ValueOf(&m).Elem())
	out := make(map[string]string, len(m))
	for k, x := range m {
		s, ok := x.(string)
		if !ok {
			d.errorf(path+"."+k, "must be a single value, not a list")
			continue
		}
		out[k] = s
	}
	v.Set(reflect.ValueOf(out))
}

// key returns the name of a mapping entry and the path of its setting, and
// records the position of the key.
func (d *decoder) key(path string, e *ast.MappingValueNode) (key, p string, ok bool) {
	var k ast.Node
	if e.Key != nil {
		k = e.Key
	}
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		k = mk.Value
	}
	name, ok := scalarText(k)
	if !ok {
		d.errorAt(position(e), path, "keys must be plain names, not %s", describe(k))
		return "", "", false
	}
	p = name
	if path != "" {
		p = path + "." + name
	}
	d.pos[p] = position(e.Key)
	return name, p, true
}

// entries returns the entries of m, with those brought in by merge keys
// ("<<: *defaults") first, so that the mapping's own keys win.
func (d *decoder) entries(path string, m *ast.MappingNode, depth int) []*ast.MappingValueNode {
	var merged, own []*ast.MappingValueNode
	for _, e := range m.Values {
		if e.Key == nil || !e.Key.IsMergeKey() {
			own = append(own, e)
			continue
		}
		if depth >= maxMergeDepth {
			d.errorf(path, "merge keys (<<) nested too deeply")
			continue
		}
		var sources []ast.Node
		switch v := d.resolve(path, e.Value).(type) {
		case *ast.MappingNode:
			sources = []ast.Node{v}
		case *ast.SequenceNode:
			// In "<<: [*a, *b]", a wins over b: merge b first.
			for i := len(v.Values) - 1; i >= 0; i-- {
				sources = append(sources, v.Values[i])
			}
		default:
			sources = []ast.Node{v}
		}
		for _, src := range sources {
			sm, ok := d.resolve(path, src).(*ast.MappingNode)
			if !ok {
				d.errorf(path, "a merge key (<<) takes a mapping or a list of mappings")
				continue
			}
			es := d.entries(path, sm, depth+1)
			if d.merged += len(es); d.merged > maxMerged {
				d.errorf(path, "merge keys (<<) bring in more than %d entries", maxMerged)
				return own
			}
			merged = append(merged, es...)
		}
	}
	return append(merged, own...)
}

// scalarText returns the text of a single value as written: "0821234567"
// stays as it is rather than becoming a number.
func scalarText(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		if n.Value == nil {
			return "", true
		}
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// intValue returns the value of n as an int64, if it fits.
func intValue(n *ast.IntegerNode) (int64, bool) {
	switch v := n.Value.(type) {
	case int64:
		return v, true
	case uint64:
		return int64(v), v <= math.MaxInt64
	}
	return 0, false
}

// quote returns the text of a single value in quotes, or describes n. Use
// it only for settings that cannot be secret.
func quote(n ast.Node) string {
	if s, ok := scalarText(n); ok {
		return fmt.Sprintf("%q", s)
	}
	return describe(n)
}

// describe names the kind of a node for messages, without its value.
func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "true/false"
	case *ast.StringNode, *ast.LiteralNode:
		return "text"
	case nil, *ast.NullNode:
		return "nothing"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// position returns where the node starts in the file: for a block mapping
// that is its first key, not its first colon.
func position(n ast.Node) token.Position {
	if m, ok := n.(*ast.MappingValueNode); ok && m.Key != nil {
		n = m.Key
	}
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 && m.Values[0].Key != nil {
		n = m.Values[0].Key
	}
	if n == nil || n.GetToken() == nil {
		return token.Position{}
	}
	return *n.GetToken().Position
}

// suggest returns " (did you mean "x"?)" for the known name closest to key,
// or the list of known names when none is close.
func suggest(key string, names []string) string {
	best, bestDist := "", 0
	key = strings.ToLower(key)
	for _, n := range names {
		dist := editDistance(key, strings.ToLower(n))
		if len(key) >= 3 && (strings.HasPrefix(key, n) || strings.HasPrefix(n, key)) {
			dist = 1 // "logging" for "log", "state" for "state_dir"
		}
		if dist <= max(1, len(n)/3) && (best == "" || dist < bestDist) {
			best, bestDist = n, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return " (valid keys: " + strings.Join(sorted, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
