package meta

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// defaultManifestSize is the largest manifest read when ManifestOptions
// leaves MaxSize 0.
const defaultManifestSize = 64 << 20

// ManifestOptions says how to read a manifest's columns.
type ManifestOptions struct {
	// Columns maps other header names to fields, e.g. {"Agent":
	// "agent_name", "Call Start": "date_of_call"}; keys are matched like
	// headers: trimmed, case-insensitive. Values are field names
	// (CanonicalField).
	Columns map[string]string
	// FilenameColumn is the header of the file-name column; "" means
	// "filename". Matched like headers.
	FilenameColumn string
	// MaxSize caps the bytes read; 0 means 64 MiB. A bigger manifest is an
	// error.
	MaxSize int64
}

// Manifest is one parsed manifest: rows by the file name they describe.
// It is not changed after ReadManifest returns, so any number of
// goroutines may call its methods at once.
type Manifest struct {
	Name string // the manifest's name as given to ReadManifest, for messages
	// Problems are those that affect no single recording: unknown columns
	// (once each), rows without a file name, names that escape the folder;
	// each naming the row.
	Problems []string

	order []*Row            // one row per named file, in file order
	exact map[string]*Row   // by Name
	fold  map[string]*Row   // by lower-cased Name
	folds map[string][]*Row // lower-cased names that rows spell in two or more ways
}

// Row is what a manifest says of one recording.
type Row struct {
	// Line is, in a CSV or TSV, the line the row starts on (the header is
	// line 1); in a JSON array, the 1-based index of the entry; 0 in a
	// JSON object keyed by file name.
	Line int
	Key  string // JSON object form: the key; "" otherwise
	// Name is the file name as the manifest spells it, trimmed, with
	// backslashes turned into slashes and cleaned ("./a.wav" is "a.wav").
	Name string
	// Fields maps canonical fields to raw values: a string for CSV/TSV
	// cells (tags not yet split), JSON values as decoded with UseNumber.
	// Empty cells, empty strings and nulls are left out.
	Fields map[string]any
	// Err says the row as a whole is unusable (wrong column count, broken
	// quotes, the same file named by two rows: "named by rows 3 and 9");
	// nil if fine. Fields of a row with Err are not to be used.
	Err error

	file string // the manifest's name
	form rowForm
}

// rowForm is how a manifest locates its rows.
type rowForm uint8

const (
	formRows    rowForm = iota // CSV, TSV: by line
	formEntries                // JSON array: by index
	formKeys                   // JSON object: by key
)

// Where returns how explain names the row: "metadata.csv row 12",
// "metadata.json entry 3", `metadata.json key "a.wav"`.
func (r *Row) Where() string {
	if r.file == "" {
		return r.locator()
	}
	return r.file + " " + r.locator()
}

// locator names the row within its manifest.
func (r *Row) locator() string {
	switch r.form {
	case formEntries:
		return "entry " + strconv.Itoa(r.Line)
	case formKeys:
		return "key " + strconv.Quote(r.Key)
	}
	return "row " + strconv.Itoa(r.Line)
}

// Lookup returns the row naming the file at rel (slash-separated, relative
// to the manifest's folder): an exact match first, else the one row whose
// name matches case-insensitively. A name that two rows match
// case-insensitively, and none exactly, is a Row with Err saying so.
func (m *Manifest) Lookup(rel string) (*Row, bool) {
	if m == nil {
		return nil, false
	}
	rel = path.Clean(rel)
	if r, ok := m.exact[rel]; ok {
		return r, true
	}
	low := strings.ToLower(rel)
	if rs, ok := m.folds[low]; ok {
		names := make([]string, len(rs))
		for i, r := range rs {
			names[i] = strconv.Quote(r.Name)
		}
		first := rs[0]
		return &Row{
			Line: first.Line, Key: first.Key, Name: rel, file: first.file, form: first.form,
			Err: fmt.Errorf("no row names %q exactly, and %s (%s) match it only case-insensitively", rel, locators(rs), strings.Join(names, ", ")),
		}, true
	}
	r, ok := m.fold[low]
	return r, ok
}

// Len returns the number of rows (named files).
func (m *Manifest) Len() int {
	if m == nil {
		return 0
	}
	return len(m.order)
}

// Names returns the file names the manifest describes, in file order.
func (m *Manifest) Names() []string {
	if m == nil {
		return nil
	}
	names := make([]string, len(m.order))
	for i, r := range m.order {
		names[i] = r.Name
	}
	return names
}

// ReadManifest parses a manifest; the format follows the name's extension
// (.csv, .tsv, .json, any case). It fails only when the manifest as a whole
// cannot be read (no file-name column, not CSV/JSON at all, over MaxSize, a
// JSON value that is neither an array of objects nor an object of
// objects), naming the file and the line where it can. A bad row is a Row
// with Err, or one of Problems when it names no file.
//
// Text may be UTF-8 (a byte-order mark is dropped) or UTF-16 with a
// byte-order mark; a CSV or TSV that is not UTF-8 and has no UTF-8
// sequences at all is read as Windows-1252, which Excel writes by default.
// A CSV whose header has no file-name column when split on commas is tried
// with semicolons and tabs (Excel in locales with a decimal comma), and an
// Excel "sep=;" first line is honoured.
func ReadManifest(name string, r io.Reader, opts ManifestOptions) (*Manifest, error) {
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(name, `\`, "/")))
	var comma rune
	switch ext {
	case ".csv":
		comma = ','
	case ".tsv":
		comma = '\t'
	case ".json":
	default:
		return nil, fmt.Errorf("read manifest %s: %q is not .csv, .tsv or .json", name, ext)
	}
	mt, err := newHeaderMatcher(opts)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	limit := opts.MaxSize
	if limit <= 0 {
		limit = defaultManifestSize
	}
	data, err := readAtMost(r, limit)
	if errors.Is(err, errOverLimit) {
		return nil, fmt.Errorf("read manifest %s: it is over %d bytes, the most a manifest may hold", name, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	b := &manifestBuilder{
		m:        &Manifest{Name: name},
		mt:       mt,
		reported: map[string]bool{},
	}
	data = decodeUnicode(data)
	if comma != 0 {
		data = fromWindows1252(data)
		b.expect(bytes.Count(data, []byte{'\n'}))
		err = b.readDelimited(data, comma)
	} else {
		b.expect(bytes.Count(data, []byte{'{'}))
		err = b.readJSON(data)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", name, err)
	}
	b.finish()
	return b.m, nil
}

// errOverLimit is returned by readAtMost for input over its limit.
var errOverLimit = errors.New("too big")

// readAtMost reads all of r, failing when it holds more than max bytes.
// The buffer is sized once when r tells its size (a file, a bytes.Reader).
func readAtMost(r io.Reader, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if n := readerSize(r); n > 0 {
		buf.Grow(int(min(n, max+1)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, max+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > max {
		return nil, errOverLimit
	}
	return buf.Bytes(), nil
}

// readerSize returns the bytes r says it holds, or 0 when it does not say.
func readerSize(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return 0
}

// manifestBuilder collects the rows of one manifest as it is read.
type manifestBuilder struct {
	m        *Manifest
	mt       *headerMatcher
	form     rowForm
	reported map[string]bool         // problems already given, so each is given once
	dups     map[string][]*Row       // names that two or more rows give, with all those rows
	keys     map[string]jsonKeyMatch // JSON keys seen, by match
	scratch  jsonScratch
}

// jsonScratch is reused from one JSON entry to the next.
type jsonScratch struct {
	keys []string // the entry's keys, sorted
	from []string // the key that gave each of Fields
	drop []string // keys that give no field
}

// expect makes room for about n rows.
func (b *manifestBuilder) expect(n int) {
	n = min(n, 1<<16)
	b.m.exact = make(map[string]*Row, n)
	b.m.fold = make(map[string]*Row, n)
	b.m.order = make([]*Row, 0, n)
}

// problem records a problem that affects no single recording.
func (b *manifestBuilder) problem(format string, args ...any) {
	b.m.Problems = append(b.m.Problems, fmt.Sprintf(format, args...))
}

// problemOnce records a problem the first time key is seen.
func (b *manifestBuilder) problemOnce(key, format string, args ...any) {
	if b.reported[key] {
		return
	}
	b.reported[key] = true
	b.problem(format, args...)
}

// add records a row that names a file.
func (b *manifestBuilder) add(r *Row) {
	r.file = b.m.Name
	r.form = b.form
	m := b.m
	if first, ok := m.exact[r.Name]; ok {
		if b.dups == nil {
			b.dups = map[string][]*Row{}
		}
		if b.dups[r.Name] == nil {
			b.dups[r.Name] = []*Row{first}
		}
		b.dups[r.Name] = append(b.dups[r.Name], r)
		return
	}
	m.exact[r.Name] = r
	m.order = append(m.order, r)
	low := strings.ToLower(r.Name)
	other, ok := m.fold[low]
	if !ok {
		m.fold[low] = r
		return
	}
	if m.folds == nil {
		m.folds = map[string][]*Row{}
	}
	if m.folds[low] == nil {
		m.folds[low] = []*Row{other}
	}
	m.folds[low] = append(m.folds[low], r)
}

// finish marks each file that two or more rows name.
func (b *manifestBuilder) finish() {
	for name, rows := range b.dups {
		first := b.m.exact[name]
		first.Err = fmt.Errorf("named by %s", locators(rows))
	}
}

// locators names rows of one manifest together: "rows 3 and 9", "entries
// 2, 5 and 7", `keys "a.wav" and "./a.wav"`.
func locators(rows []*Row) string {
	s := make([]string, len(rows))
	for i, r := range rows {
		switch r.form {
		case formKeys:
			s[i] = strconv.Quote(r.Key)
		default:
			s[i] = strconv.Itoa(r.Line)
		}
	}
	one, many := "row", "rows"
	switch rows[0].form {
	case formEntries:
		one, many = "entry", "entries"
	case formKeys:
		one, many = "key", "keys"
	}
	if len(s) == 1 {
		return one + " " + s[0]
	}
	return many + " " + strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// cleanFileName returns the name a manifest gives a file: trimmed, with
// backslashes as slashes, cleaned. A name that is empty, absolute, has a
// drive letter or a ".." element is an error, as is one that names the
// folder itself.
func cleanFileName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errNoFileName
	}
	s = strings.ReplaceAll(s, `\`, "/")
	if s[0] == '/' || hasDriveLetter(s) || hasDotDot(s) {
		return "", fmt.Errorf("file name %q is outside the folder", s)
	}
	c := path.Clean(s)
	if c == "." {
		return "", fmt.Errorf("file name %q is not a file", s)
	}
	return c, nil
}

var errNoFileName = errors.New("no file name")

// hasDriveLetter reports whether s starts with a Windows drive letter.
func hasDriveLetter(s string) bool {
	return len(s) >= 2 && s[1] == ':' && ('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z')
}

// hasDotDot reports whether a slash-separated s has a ".." element.
func hasDotDot(s string) bool {
	for s != "" {
		elem, rest, _ := strings.Cut(s, "/")
		if elem == ".." {
			return true
		}
		s = rest
	}
	return false
}

// headerMatcher maps headers (and JSON keys) to the file name or a field.
type headerMatcher struct {
	columns  map[string]string // trimmed, lower-cased header -> field
	filename string            // trimmed, lower-cased file-name header; "" for the defaults
	given    string            // FilenameColumn as given, for messages
}

func newHeaderMatcher(opts ManifestOptions) (*headerMatcher, error) {
	mt := &headerMatcher{
		columns:  make(map[string]string, len(opts.Columns)),
		filename: normHeader(opts.FilenameColumn),
		given:    strings.TrimSpace(opts.FilenameColumn),
	}
	for h, f := range opts.Columns {
		field, ok := CanonicalField(f)
		if !ok {
			return nil, fmt.Errorf("column %q is mapped to %q, which is not a metadata field (the file-name column is set by its own option)", h, f)
		}
		n := normHeader(h)
		if prev, ok := mt.columns[n]; ok && prev != field {
			return nil, fmt.Errorf("column %q is mapped to both %s and %s", h, prev, field)
		}
		mt.columns[n] = field
	}
	return mt, nil
}

func normHeader(h string) string {
	return strings.ToLower(strings.TrimSpace(h))
}

// isName reports whether a header names the file-name column. Without a
// FilenameColumn, "filename", "file_name", "fileName", "File Name" and
// "file" do.
func (mt *headerMatcher) isName(h string) bool {
	h = normHeader(h)
	if mt.filename != "" {
		return h == mt.filename
	}
	switch squashHeader(h) {
	case "filename", "file":
		return true
	}
	return false
}

// squashHeader drops the spaces, underscores and hyphens people put between words.
func squashHeader(h string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' || r == '-' {
			return -1
		}
		return r
	}, h)
}

// field returns the field a header stands for: by Columns, then
// CanonicalField, then CanonicalField with words joined by underscores
// ("Agent Name" is agent_name).
func (mt *headerMatcher) field(h string) (string, bool) {
	n := normHeader(h)
	if f, ok := mt.columns[n]; ok {
		return f, true
	}
	if f, ok := CanonicalField(n); ok {
		return f, true
	}
	words := strings.FieldsFunc(n, func(r rune) bool { return r == ' ' || r == '_' || r == '-' })
	if len(words) > 1 {
		return CanonicalField(strings.Join(words, "_"))
	}
	return "", false
}

// wantName describes the file-name column for messages.
func (mt *headerMatcher) wantName() string {
	if mt.filename != "" {
		return fmt.Sprintf("no column is headed %q", mt.given)
	}
	return `no file-name column (headed "filename", "file_name", "fileName" or "file")`
}

// csvColumn is what one CSV or TSV column holds.
type csvColumn struct {
	field  string // the field; "" for a column that is ignored
	header string // as written, trimmed
}

// header maps a CSV or TSV header row. nameIdx is -1 when no column names
// the file.
func (b *manifestBuilder) header(hdr []string) (cols []csvColumn, nameIdx int, unknown []string, err error) {
	nameIdx = -1
	cols = make([]csvColumn, len(hdr))
	byField := map[string]string{}
	for i, h := range hdr {
		h = strings.TrimSpace(h)
		cols[i].header = h
		switch {
		case h == "":
		case b.mt.isName(h):
			if nameIdx >= 0 {
				err = fmt.Errorf("columns %q and %q both name the file", cols[nameIdx].header, h)
				continue
			}
			nameIdx = i
		default:
			f, ok := b.mt.field(h)
			if !ok {
				unknown = append(unknown, h)
				continue
			}
			if prev, ok := byField[f]; ok {
				if err == nil {
					err = fmt.Errorf("columns %q and %q both give %s", prev, h, f)
				}
				continue
			}
			byField[f] = h
			cols[i].field = f
		}
	}
	return cols, nameIdx, unknown, err
}

// readDelimited reads a CSV (comma ',') or TSV (comma '\t').
func (b *manifestBuilder) readDelimited(data []byte, comma rune) error {
	if bytes.IndexByte(data, 0) >= 0 {
		return errors.New("it has NUL bytes, so it is not CSV or TSV text (UTF-16 needs a byte-order mark)")
	}
	if bytes.IndexByte(data, '\n') < 0 {
		// Old Macintosh exports end lines with CR alone.
		data = bytes.ReplaceAll(data, []byte{'\r'}, []byte{'\n'})
	}
	sepLines := 0
	candidates := []rune{comma}
	if c, rest, ok := excelSepLine(data); ok {
		data, sepLines, candidates = rest, 1, []rune{c}
	} else {
		for _, c := range []rune{',', ';', '\t'} {
			if c != comma {
				candidates = append(candidates, c)
			}
		}
	}
	var (
		rs      *csvRecords
		hdr     []string
		hdrLine int
		first   error
		cols    []csvColumn
		nameIdx = -1
		unknown []string
	)
	for _, c := range candidates {
		rs = newCSVRecords(data, sepLines, c)
		var err error
		hdr, hdrLine, err = rs.header()
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		var herr error
		cols, nameIdx, unknown, herr = b.header(hdr)
		if nameIdx < 0 {
			if first == nil {
				first = fmt.Errorf("line %d: %s; the header is %s", hdrLine, b.mt.wantName(), quoteHeaders(hdr))
			}
			continue
		}
		if herr != nil {
			return fmt.Errorf("line %d: %w", hdrLine, herr)
		}
		break
	}
	if nameIdx < 0 {
		return first
	}
	for _, h := range unknown {
		b.problemOnce("column "+normHeader(h), "column %q is not a metadata field; it is ignored", h)
	}
	b.form = formRows
	for {
		rec, line, err := rs.next()
		if err == io.EOF {
			return nil
		}
		var bad *badCSVRecord
		if errors.As(err, &bad) {
			b.brokenRow(bad, nameIdx)
			continue
		}
		if err != nil {
			return err
		}
		if blankCells(rec) {
			continue
		}
		b.record(rec, line, cols, nameIdx)
	}
}

// record adds one CSV or TSV row.
func (b *manifestBuilder) record(rec []string, line int, cols []csvColumn, nameIdx int) {
	var countErr error
	if len(rec) < len(cols) || len(rec) > len(cols) && !blankCells(rec[len(cols):]) {
		countErr = fmt.Errorf("has %s, but the header has %d", cellCount(len(rec)), len(cols))
	}
	cell := ""
	if nameIdx < len(rec) {
		cell = rec[nameIdx]
	}
	name, err := cleanFileName(cell)
	if err != nil {
		if countErr != nil {
			b.problem("row %d: %v, and %v; the row is ignored", line, countErr, err)
		} else {
			b.problem("row %d: %v; the row is ignored", line, err)
		}
		return
	}
	r := &Row{Line: line, Name: name, Err: countErr}
	if countErr == nil {
		for i, c := range cols {
			v := strings.TrimSpace(rec[i])
			if v == "" || i == nameIdx {
				continue
			}
			if c.field == "" {
				if c.header == "" {
					b.problemOnce("column "+strconv.Itoa(i+1), "column %d has no header; its cells are ignored", i+1)
				}
				continue
			}
			if r.Fields == nil {
				r.Fields = make(map[string]any, len(cols))
			}
			r.Fields[c.field] = v
		}
	}
	b.add(r)
}

// brokenRow adds a row whose quoting is broken: a Row with Err when its
// file-name cell can still be read, a problem otherwise.
func (b *manifestBuilder) brokenRow(bad *badCSVRecord, nameIdx int) {
	name, err := cleanFileName(lazyCell(string(bad.text), bad.comma, csvTrimLeading(bad.comma), nameIdx))
	if err != nil {
		b.problem("row %d: %v, and %v; the row is ignored", bad.start, bad, err)
		return
	}
	b.add(&Row{Line: bad.start, Name: name, Err: bad})
}

// cellCount says how many cells a row has.
func cellCount(n int) string {
	if n == 1 {
		return "1 cell"
	}
	return strconv.Itoa(n) + " cells"
}

// lazyCell returns cell want (0-based) of the record at the start of text,
// as encoding/csv reads it with LazyQuotes, or "" if the record has fewer
// cells. It reads the name of a row that encoding/csv refused without
// setting up a whole reader for it.
func lazyCell(text string, comma rune, trim bool, want int) string {
	s := strings.TrimSuffix(strings.ReplaceAll(text, "\r\n", "\n"), "\r") // as encoding/csv reads lines
	sep := string(comma)
	for n := 0; ; n++ {
		if trim {
			s = strings.TrimLeftFunc(s, func(r rune) bool { return r != '\n' && unicode.IsSpace(r) })
		}
		var cell string
		end := false
		if !strings.HasPrefix(s, `"`) {
			j, k := strings.Index(s, sep), strings.IndexByte(s, '\n')
			switch {
			case j >= 0 && (k < 0 || j < k):
				cell, s = s[:j], s[j+len(sep):]
			case k >= 0:
				cell, end = s[:k], true
			default:
				cell, end = s, true
			}
		} else {
			s = s[1:]
			var b strings.Builder
		quoted:
			for {
				i := strings.IndexByte(s, '"')
				if i < 0 {
					b.WriteString(s)
					end = true
					break
				}
				b.WriteString(s[:i])
				s = s[i+1:]
				switch {
				case strings.HasPrefix(s, `"`):
					b.WriteByte('"')
					s = s[1:]
				case strings.HasPrefix(s, sep):
					s = s[len(sep):]
					break quoted
				case s == "" || s[0] == '\n':
					end = true
					break quoted
				default:
					b.WriteByte('"') // a bare quote, kept as LazyQuotes does
				}
			}
			cell = b.String()
		}
		if n == want {
			return cell
		}
		if end {
			return ""
		}
	}
}

// csvTrimLeading says whether leading spaces of cells are dropped as they are
// read: yes, except where the separator is itself a space, where trimming
// would eat the separators of empty cells.
func csvTrimLeading(comma rune) bool {
	return !unicode.IsSpace(comma)
}

// blankCells reports whether every cell is empty or spaces (Excel writes ",,,"
// for rows it has formatted but that hold nothing).
func blankCells(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// quoteHeaders quotes the first few headers for a message.
func quoteHeaders(hdr []string) string {
	const most = 8
	var s []string
	for i, h := range hdr {
		if i == most {
			s = append(s, fmt.Sprintf("and %d more", len(hdr)-most))
			break
		}
		h = strings.TrimSpace(h)
		if len(h) > 40 {
			h = h[:40] + "..."
		}
		s = append(s, strconv.Quote(h))
	}
	if len(s) == 0 {
		return "empty"
	}
	return strings.Join(s, ", ")
}

// excelSepLine reads Excel's "sep=;" first line, which names the separator.
func excelSepLine(data []byte) (comma rune, rest []byte, ok bool) {
	line, rest, _ := bytes.Cut(data, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) < 5 || !bytes.EqualFold(line[:4], []byte("sep=")) {
		return 0, nil, false
	}
	c, n := utf8.DecodeRune(line[4:])
	if 4+n != len(line) || c == utf8.RuneError || c == '"' || c == '\r' || c == '\n' {
		return 0, nil, false
	}
	return c, rest, true
}

// csvRecords reads the records of a CSV or TSV, going on past a record whose
// quoting is broken: a quote that is never closed costs its own line, not
// every line after it.
type csvRecords struct {
	data  []byte // the text, after any "sep=" line
	skip  int    // lines before data (a "sep=" line)
	comma rune
	r     *csv.Reader
	from  int   // the line of data r started on, 1-based
	off   int   // the byte offset of that line in data
	lines []int // byte offsets of the lines of data, made when first needed
}

// badCSVRecord is a record encoding/csv cannot read.
type badCSVRecord struct {
	start, line, column int    // lines in the file, 1-based
	err                 error  // from encoding/csv
	text                []byte // the record's lines
	comma               rune
}

func (e *badCSVRecord) Error() string {
	return fmt.Sprintf("line %d, column %d: %v", e.line, e.column, e.err)
}

func (e *badCSVRecord) Unwrap() error { return e.err }

func newCSVRecords(data []byte, skip int, comma rune) *csvRecords {
	rs := &csvRecords{data: data, skip: skip, comma: comma}
	rs.start(1, 0)
	return rs
}

// start reads on from line (1-based) of data, at byte offset off.
func (rs *csvRecords) start(line, off int) {
	r := csv.NewReader(bytes.NewReader(rs.data[off:]))
	r.Comma = rs.comma
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	// Leading spaces before a quoted field (`a.wav, "Smith, J"`) are
	// common in hand-written CSV; cells are trimmed anyway.
	r.TrimLeadingSpace = csvTrimLeading(rs.comma)
	rs.r, rs.from, rs.off = r, line, off
}

// fileLine turns a line of the current reader into a line of the file.
func (rs *csvRecords) fileLine(l int) int {
	return rs.skip + rs.from - 1 + l
}

// header returns the first record with any text in it, and its line.
func (rs *csvRecords) header() ([]string, int, error) {
	for {
		rec, line, err := rs.next()
		if err == io.EOF {
			return nil, 0, errors.New("it is empty; a manifest needs a header row naming its columns")
		}
		if err != nil {
			return nil, line, err
		}
		if !blankCells(rec) {
			return slices.Clone(rec), line, nil
		}
	}
}

// next returns the next record and the line it starts on. A record that
// cannot be read is a *badCSVRecord error; reading may go on after it.
func (rs *csvRecords) next() ([]string, int, error) {
	rec, err := rs.r.Read()
	if err == nil {
		l, _ := rs.r.FieldPos(0)
		return rec, rs.fileLine(l), nil
	}
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return nil, 0, err // io.EOF; a bytes.Reader has no other errors
	}
	bad := &badCSVRecord{start: rs.fileLine(pe.StartLine), line: rs.fileLine(pe.Line), column: pe.Column, err: pe.Err, comma: rs.comma}
	first := rs.from - 1 + pe.StartLine // lines of data, 1-based
	last := rs.from - 1 + pe.Line
	bad.text = rs.data[rs.lineOffset(first):rs.lineOffset(last+1)]
	if pe.Err == csv.ErrQuote && pe.Line > pe.StartLine && rs.off+int(rs.r.InputOffset()) >= len(rs.data) {
		// A quote opened and never closed took the rest of the file:
		// read on from the line after the one it opened on.
		bad.text = rs.data[rs.lineOffset(first):rs.lineOffset(first+1)]
		rs.start(first+1, rs.lineOffset(first+1))
	}
	return nil, bad.start, bad
}

// lineOffset returns the byte offset of line l (1-based) of data, or
// len(data) past its end.
func (rs *csvRecords) lineOffset(l int) int {
	if rs.lines == nil {
		rs.lines = []int{0}
		for i, c := range rs.data {
			if c == '\n' {
				rs.lines = append(rs.lines, i+1)
			}
		}
	}
	if l-1 < len(rs.lines) {
		return rs.lines[l-1]
	}
	return len(rs.data)
}

// readJSON reads a JSON manifest: an array of entries, each with a
// file-name key, or an object of entries keyed by file name.
func (b *manifestBuilder) readJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return jsonError(data, dec, err)
	}
	switch tok {
	case json.Delim('['):
		b.form = formEntries
		err = b.jsonEntries(data, dec)
	case json.Delim('{'):
		b.form = formKeys
		err = b.jsonKeys(data, dec)
	default:
		return fmt.Errorf("it is %s, not an array of entries or an object of entries keyed by file name", describeJSONToken(tok))
	}
	if err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("line %d: more data after the JSON value", lineOfOffset(data, dec.InputOffset()))
	}
	return nil
}

// jsonEntries reads an array of entries after its '['.
func (b *manifestBuilder) jsonEntries(data []byte, dec *json.Decoder) error {
	entries, objects := 0, 0
	for dec.More() {
		entries++
		var v any
		if err := dec.Decode(&v); err != nil {
			return jsonError(data, dec, err)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			b.problem("entry %d: it is %s, not an object; it is ignored", entries, describeJSON(v))
			continue
		}
		objects++
		var (
			nameKey, twice string
			raw            any
		)
		fields, err := b.jsonFields(obj, func(k string, v any) error {
			if nameKey != "" {
				twice = k
				return nil
			}
			nameKey, raw = k, v
			return nil
		})
		if twice != "" {
			b.problem("entry %d: keys %q and %q both name the file; the entry is ignored", entries, nameKey, twice)
			continue
		}
		s, ok := raw.(string)
		if !ok && raw != nil {
			b.problem("entry %d: the file name is %s, not text; the entry is ignored", entries, describeJSON(raw))
			continue
		}
		name, nerr := cleanFileName(s)
		if nerr != nil {
			if err != nil {
				b.problem("entry %d: %v, and %v; the entry is ignored", entries, err, nerr)
			} else {
				b.problem("entry %d: %v; the entry is ignored", entries, nerr)
			}
			continue
		}
		b.add(&Row{Line: entries, Name: name, Fields: fields, Err: err})
	}
	if entries > 0 && objects == 0 {
		return errors.New("its array holds no objects; a manifest is an array of entries, each an object with a file-name key")
	}
	if _, err := dec.Token(); err != nil {
		return jsonError(data, dec, err)
	}
	return nil
}

// jsonKeys reads an object of entries keyed by file name after its '{'.
func (b *manifestBuilder) jsonKeys(data []byte, dec *json.Decoder) error {
	entries, objects := 0, 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonError(data, dec, err)
		}
		key, _ := tok.(string) // an object's keys are strings
		var v any
		if err := dec.Decode(&v); err != nil {
			return jsonError(data, dec, err)
		}
		entries++
		name, err := cleanFileName(key)
		if err != nil {
			b.problem("key %q: %v; the entry is ignored", key, err)
			continue
		}
		r := &Row{Key: key, Name: name}
		switch obj := v.(type) {
		case nil:
			objects++
		case map[string]any:
			objects++
			r.Fields, r.Err = b.jsonFields(obj, func(k string, v any) error {
				s, ok := v.(string)
				if !ok {
					return fmt.Errorf("its %q is %s, not the file name it is keyed by", k, describeJSON(v))
				}
				if n, err := cleanFileName(s); err != nil || n != name {
					return fmt.Errorf("its %q is %q, not the file name it is keyed by", k, s)
				}
				return nil
			})
		default:
			r.Err = fmt.Errorf("it is %s, not an object of fields", describeJSON(v))
		}
		b.add(r)
	}
	if entries > 0 && objects == 0 {
		return errors.New("its values are not objects; a manifest is an object of entries keyed by file name, or an array of entries")
	}
	if _, err := dec.Token(); err != nil {
		return jsonError(data, dec, err)
	}
	return nil
}

// jsonKeyMatch is what a JSON key stands for.
type jsonKeyMatch struct {
	name  bool   // the key names the file
	field string // the field it gives; "" for neither
}

// match returns what a JSON key stands for, remembering keys already seen:
// every entry of a manifest repeats them.
func (b *manifestBuilder) match(k string) jsonKeyMatch {
	if km, ok := b.keys[k]; ok {
		return km
	}
	var km jsonKeyMatch
	if b.mt.isName(k) {
		km.name = true
	} else {
		km.field, _ = b.mt.field(k)
	}
	if b.keys == nil {
		b.keys = map[string]jsonKeyMatch{}
	}
	if len(b.keys) < 1000 {
		b.keys[k] = km
	}
	return km
}

// jsonFields maps the keys of one JSON entry to fields, passing keys that
// name the file to nameKey. keys is scratch space. The error makes the
// entry unusable: two keys giving one field, an object as a value, or what
// nameKey returns. The map returned may be obj itself, with the keys that
// give no field removed.
func (b *manifestBuilder) jsonFields(obj map[string]any, nameKey func(k string, v any) error) (map[string]any, error) {
	sc := &b.scratch
	sc.keys = sc.keys[:0]
	for k := range obj {
		sc.keys = append(sc.keys, k)
	}
	sort.Strings(sc.keys)
	if len(sc.from) != len(Fields) {
		sc.from = make([]string, len(Fields))
	}
	clear(sc.from)
	sc.drop = sc.drop[:0]
	var (
		from   = sc.from
		err    error
		rename bool // some key is not spelt as its field
	)
	drop := func(k string) { sc.drop = append(sc.drop, k) }
	for _, k := range sc.keys {
		v := obj[k]
		km := b.match(k)
		if km.name {
			if e := nameKey(k, v); e != nil && err == nil {
				err = e
			}
			drop(k)
			continue
		}
		if km.field == "" {
			b.problemOnce("key "+normHeader(k), "key %q is not a metadata field; it is ignored", strings.TrimSpace(k))
			drop(k)
			continue
		}
		switch v := v.(type) {
		case nil:
			drop(k)
			continue
		case string:
			if v == "" {
				drop(k)
				continue
			}
		case map[string]any:
			if err == nil {
				err = fmt.Errorf("%q is an object, not a value", k)
			}
			drop(k)
			continue
		}
		i := slices.Index(Fields, km.field)
		if from[i] != "" {
			if err == nil {
				err = fmt.Errorf("keys %q and %q both give %s", from[i], k, km.field)
			}
			drop(k)
			continue
		}
		from[i] = k
		rename = rename || k != km.field
	}
	if !rename {
		for _, k := range sc.drop {
			delete(obj, k)
		}
		if len(obj) == 0 {
			return nil, err
		}
		return obj, err
	}
	fields := make(map[string]any, len(obj)-len(sc.drop))
	for i, k := range from {
		if k != "" {
			fields[Fields[i]] = obj[k]
		}
	}
	return fields, err
}

// describeJSON names the kind of a decoded JSON value for a message.
func describeJSON(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "true or false"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// describeJSONToken names the kind of the first JSON token for a message.
func describeJSONToken(t json.Token) string {
	if d, ok := t.(json.Delim); ok {
		return "a stray " + strconv.Quote(d.String())
	}
	return describeJSON(t)
}

// jsonError says where in data a JSON error happened.
func jsonError(data []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		if len(bytes.TrimSpace(data)) == 0 {
			return errors.New("it is empty")
		}
		return fmt.Errorf("line %d: the JSON ends early", lineOfOffset(data, int64(len(data))))
	}
	return fmt.Errorf("line %d: %w", lineOfOffset(data, off), err)
}

// lineOfOffset returns the 1-based line of byte offset off in data.
func lineOfOffset(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return 1 + bytes.Count(data[:off], []byte{'\n'})
}

// decodeUnicode drops a UTF-8 byte-order mark and turns UTF-16 with a
// byte-order mark (Excel's "Unicode Text") into UTF-8.
func decodeUnicode(data []byte) []byte {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return fromUTF16(data[2:], func(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 })
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return fromUTF16(data[2:], func(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) })
	}
	return data
}

// fromUTF16 decodes UTF-16 with the byte order of unit; broken surrogate
// pairs and an odd last byte become U+FFFD.
func fromUTF16(b []byte, unit func([]byte) uint16) []byte {
	out := make([]byte, 0, len(b)/2+len(b)/8)
	for i := 0; i < len(b); i += 2 {
		if i+1 == len(b) {
			out = utf8.AppendRune(out, utf8.RuneError)
			break
		}
		r := rune(unit(b[i:]))
		if 0xD800 <= r && r < 0xDC00 && i+3 < len(b) {
			if r2 := rune(unit(b[i+2:])); 0xDC00 <= r2 && r2 < 0xE000 {
				out = utf8.AppendRune(out, 0x10000+(r-0xD800)<<10+(r2-0xDC00))
				i += 2
				continue
			}
		}
		out = utf8.AppendRune(out, r) // a lone surrogate is written as U+FFFD
	}
	return out
}

// cp1252 holds the characters of Windows-1252 bytes 0x80 to 0x9F; the rest
// of its upper half is Latin-1.
var cp1252 = [32]rune{
	'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8D, 'Ž', 0x8F,
	0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9D, 'ž', 'Ÿ',
}

// fromWindows1252 returns data as UTF-8: unchanged when it is UTF-8 or has any
// UTF-8 sequence of two or more bytes in it (a UTF-8 file with a stray
// byte), otherwise decoded from Windows-1252.
func fromWindows1252(data []byte) []byte {
	if utf8.Valid(data) {
		return data
	}
	for i := 0; i < len(data); {
		_, n := utf8.DecodeRune(data[i:])
		if n > 1 {
			return data
		}
		i += n
	}
	out := make([]byte, 0, len(data)+len(data)/4)
	for _, c := range data {
		switch {
		case c < 0x80:
			out = append(out, c)
		case c < 0xA0:
			out = utf8.AppendRune(out, cp1252[c-0x80])
		default:
			out = utf8.AppendRune(out, rune(c))
		}
	}
	return out
}
