package agent

import (
	"archive/zip"
	"compress/flate"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vela-agent/vela-agent/agent/bulk"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/tree"
	"github.com/vela-agent/vela-agent/watcher"
)

// DefaultZipMaxSize is the size BuildZips keeps each ZIP within unless
// told otherwise: 3 GB in powers of 1000, a margin below the 3 GiB that
// the agent's own ZIP reader takes, whichever of the two Vela means.
const DefaultZipMaxSize int64 = 3e9

// maxZipSize is the largest MaxSize BuildZips accepts: the largest ZIP the
// agent itself expands.
var maxZipSize = bulk.Defaults().MaxArchive

// maxZipRecording is the largest recording put in a ZIP: Vela takes at
// most 1 GB per recording.
const maxZipRecording int64 = 1e9

// Bounds on what a ZIP entry adds to the archive besides its data, as
// archive/zip writes them: local header, extended timestamp, data
// descriptor and central directory record (each with the name), and the
// end records. Deliberately generous.
const (
	zipEntryOverhead = 256
	zipEndOverhead   = 128
)

// zipBeforeEntry, if set, is called with each recording's path under the
// folder just before it is copied into a ZIP. Tests change files through it.
var zipBeforeEntry func(rel string)

// zipManifestName is the name of the manifest in each ZIP.
const zipManifestName = "metadata.csv"

// zipColumns are the columns of every metadata.csv, as Vela documents the
// bulk upload; zipOptional follow them when a recording of the ZIP has the
// field.
var (
	zipColumns  = []string{"filename", meta.AgentName, meta.Team, meta.Department, meta.Direction, meta.Tags}
	zipOptional = []string{meta.DateOfCall, meta.Email, meta.Contact, meta.InteractionID, meta.NotifyEmail}
)

// ZipOptions say how BuildZips packs recordings.
type ZipOptions struct {
	// MaxSize is the largest ZIP written, in bytes; 0 means
	// DefaultZipMaxSize. More than 3 GiB is refused.
	MaxSize int64
	// Force replaces output files that exist; without it BuildZips
	// refuses to start when any ZIP it would write exists.
	Force bool
	// Progress, if set, is called as recordings are read into ZIPs, with
	// the bytes read so far and the bytes in all. total grows when a ZIP
	// has to be written again (a recording dropped from it); done never
	// goes back. It is called from BuildZips' own goroutine.
	Progress func(done, total int64)
	// Context, if set, cancels the work: the ZIP being written is
	// removed and BuildZips returns the context's error. nil means
	// context.Background().
	Context context.Context
}

// ZipReport is what BuildZips did.
type ZipReport struct {
	// Zips are the ZIPs written, in order: OUT.zip, OUT-2.zip, ...
	Zips []BuiltZip
	// LeftOut lists every file under the folder that is in no ZIP, with
	// why: in the order they were found, then those that turned out not
	// to fit while the ZIPs were planned and written.
	LeftOut []LeftOut
	// Warnings are about the outputs as a whole, such as older ZIPs of the
	// same name that this run did not replace.
	Warnings []string
}

// BuiltZip is one ZIP written.
type BuiltZip struct {
	Path       string // as given in out, numbered for the second and later
	Size       int64  // bytes
	Recordings []ZipEntry
}

// ZipEntry is one recording in a ZIP.
type ZipEntry struct {
	File string // on disk
	// Name is the entry's name and its filename in metadata.csv: the base
	// name with a lower-case extension, made unique with _2, _3... when
	// another recording has it (ignoring case).
	Name     string
	Size     int64
	Fields   map[string]string // the metadata.csv row, by column; filename excluded
	Warnings []string          // as explain gives them, and about the row
}

// LeftOut is a file under the folder that is in no ZIP.
type LeftOut struct {
	File   string
	Reason string
	// Metadata is set for the folder manifests and sidecars, which are
	// read for the rows of metadata.csv, not packed: not a problem.
	Metadata bool
}

// zipItem is one recording BuildZips packs.
type zipItem struct {
	ZipEntry
	rel string    // slash-separated path under the folder
	mod time.Time // modification time when found
	row int64     // bound on the bytes of its metadata.csv row
}

// BuildZips packs the recordings under dir into bulk ZIPs for Vela's upload
// page, named after out (which must end in .zip): out, then out with -2,
// -3, ... before the extension, each within o.MaxSize and holding its own
// metadata.csv for exactly its recordings.
//
// Each file under dir (links are not followed, hidden and partial files
// are left out as the watcher leaves them) is described as explain
// describes it under cfg: a file inside a local source by that source's
// rules, any other as push would send it. Files explain would skip or park
// are left out with its reason; the fields it gives a call become its row.
// Folder manifests and sidecars are read, not packed. A recording over 1 GB,
// or too big for a ZIP of its own, is left out too.
//
// Entries are compressed with Deflate and keep the file's modification
// time. metadata.csv has the columns filename, agent_name, team,
// department, direction and tags (joined with ';'), then date_of_call
// (always, in Vela's form) and email, contact, interaction_id and
// notifyEmail when a recording of the ZIP has them; RFC 4180 with CRLF line
// ends and no byte-order mark.
//
// Each ZIP is written to a temporary file next to its final name, synced,
// opened and verified with the agent's own bulk ZIP checks, and only then
// renamed into place, so no half ZIP is ever under the final name. A
// recording that changed since it was described, or that the checks
// refuse, is left out with the reason and its ZIP written again without
// it. Before anything is written, BuildZips refuses to go on when a ZIP it
// would write exists, unless o.Force.
//
// The report lists the ZIPs written, even when err is not nil (a later ZIP
// could not be written); no ZIP written and no error means that nothing
// under dir can go in one.
func BuildZips(cfg *config.Config, dir, out string, o ZipOptions) (*ZipReport, error) {
	rep := &ZipReport{}
	b, err := newZipBuilder(cfg, dir, out, o, rep)
	if err != nil {
		return rep, err
	}
	items, err := b.collect()
	if err != nil {
		return rep, err
	}
	groups := b.plan(items)
	for i := range groups {
		if _, err := os.Lstat(b.outName(i)); err == nil && !o.Force {
			return rep, fmt.Errorf("write %s: it exists; use --force to replace it", b.outName(i))
		}
	}
	for _, g := range groups {
		b.later += sizeOf(g)
	}
	for _, g := range groups {
		b.later -= sizeOf(g)
		if err := b.writeGroup(g); err != nil {
			return rep, err
		}
	}
	for i := len(rep.Zips); ; i++ {
		n := b.outName(i)
		if _, err := os.Lstat(n); err != nil {
			break
		}
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s is from an earlier run and was not replaced; remove it before uploading", n))
	}
	return rep, nil
}

// zipBuilder holds the state of one BuildZips.
type zipBuilder struct {
	cfg    *config.Config
	dir    string         // absolute, links resolved
	given  string         // dir as given, for the file names in the report
	out    string         // as given
	outDir string         // the folder of out, absolute, links resolved
	outRe  *regexp.Regexp // the names of the outputs and their temporary files
	o      ZipOptions
	ctx    context.Context
	rep    *ZipReport
	done   int64 // bytes of recordings read so far
	later  int64 // bytes of the groups after the one being written
	remain int64 // bytes of the group being written not yet read
}

func newZipBuilder(cfg *config.Config, dir, out string, o ZipOptions, rep *ZipReport) (*zipBuilder, error) {
	switch {
	case o.MaxSize == 0:
		o.MaxSize = DefaultZipMaxSize
	case o.MaxSize < 0:
		return nil, fmt.Errorf("build ZIPs: max size %d is negative", o.MaxSize)
	case o.MaxSize > maxZipSize:
		return nil, fmt.Errorf("build ZIPs: max size %d is over the %d bytes (3 GiB) a bulk ZIP may have", o.MaxSize, maxZipSize)
	}
	if !strings.EqualFold(filepath.Ext(out), ".zip") || strings.EqualFold(filepath.Base(out), ".zip") {
		return nil, fmt.Errorf("build ZIPs: output %s must be named NAME.zip", out)
	}
	outDir, err := filepath.Abs(filepath.Dir(out))
	if err == nil {
		outDir, err = filepath.EvalSymlinks(outDir)
	}
	if err != nil {
		return nil, fmt.Errorf("build ZIPs: output folder of %s: %w", out, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("build ZIPs of %s: %w", dir, err)
	}
	// The folder itself may be reached through a link (the admin's
	// choice); nothing below it is followed.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, fmt.Errorf("build ZIPs of %s: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		return nil, fmt.Errorf("build ZIPs of %s: %w", dir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("build ZIPs of %s: not a folder", dir)
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	stem := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
	ext := regexp.QuoteMeta(filepath.Ext(out))
	return &zipBuilder{
		cfg: cfg, dir: abs, given: dir, out: out, outDir: outDir, o: o, ctx: o.Context, rep: rep,
		// the outputs, and the temporary files they are written to
		outRe: regexp.MustCompile(`^\.?` + regexp.QuoteMeta(stem) + `(-[0-9]+)?` + ext + `(\..*\.part)?$`),
	}, nil
}

// outName is the name of the i-th ZIP (from 0).
func (b *zipBuilder) outName(i int) string {
	if i == 0 {
		return b.out
	}
	ext := filepath.Ext(b.out)
	return strings.TrimSuffix(b.out, ext) + "-" + strconv.Itoa(i+1) + ext
}

// shown is how the report names the file at rel under the folder: joined
// to the folder as it was given.
func (b *zipBuilder) shown(rel string) string {
	return filepath.Join(b.given, filepath.FromSlash(rel))
}

func (b *zipBuilder) leave(rel, reason string, metadata bool) {
	b.rep.LeftOut = append(b.rep.LeftOut, LeftOut{File: b.shown(rel), Reason: reason, Metadata: metadata})
}

// found is a file seen by the walk.
type found struct {
	rel string
	fi  fs.FileInfo
}

// collect walks the folder and describes each file; it returns the
// recordings to pack, with unique names, and leaves out the rest.
func (b *zipBuilder) collect() ([]*zipItem, error) {
	var files []found
	err := filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if cerr := b.ctx.Err(); cerr != nil {
			return cerr
		}
		if p == b.dir {
			return err // the folder itself unreadable: nothing to do
		}
		r, rerr := filepath.Rel(b.dir, p)
		if rerr != nil {
			return rerr
		}
		rel := filepath.ToSlash(r)
		switch {
		case err != nil:
			b.leave(rel, "cannot be read: "+errText(err), false)
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		case watcher.Ignored(d.Name()) && d.IsDir():
			b.leave(rel, "hidden or temporary folder, not entered (the agent never reads it)", false)
			return filepath.SkipDir
		case d.IsDir():
			return nil
		case filepath.Dir(p) == b.outDir && b.outRe.MatchString(d.Name()):
			b.leave(rel, "an output of vela-agent zip", false)
			return nil
		case watcher.Ignored(d.Name()):
			b.leave(rel, "hidden, temporary or partial file (the agent never uploads it)", false)
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			b.leave(rel, "symbolic link, not followed", false)
			return nil
		case !d.Type().IsRegular():
			b.leave(rel, "not a regular file", false)
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			b.leave(rel, "cannot be read: "+errText(err), false)
			return nil
		}
		files = append(files, found{rel, fi})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build ZIPs: read %s: %w", b.given, err)
	}

	sidecars := map[string]bool{} // <stem>.json of every recording
	for _, f := range files {
		if ext := path.Ext(f.rel); audioExt(ext) {
			sidecars[strings.TrimSuffix(f.rel, ext)+".json"] = true
		}
	}
	var mc manifests
	var items []*zipItem
	for _, f := range files {
		switch {
		case isManifest(f.rel):
			b.leave(f.rel, "folder manifest, read for the rows of metadata.csv", true)
			continue
		case sidecars[f.rel]:
			b.leave(f.rel, "sidecar, read for the row of its recording", true)
			continue
		}
		if err := b.ctx.Err(); err != nil {
			return nil, err
		}
		e := explain(&mc, b.cfg, filepath.Join(b.dir, filepath.FromSlash(f.rel)))
		if e.Outcome != "upload" {
			b.leave(f.rel, leftReason(e.Outcome), false)
			continue
		}
		size := f.fi.Size()
		if size > maxZipRecording {
			b.leave(f.rel, fmt.Sprintf("recording is %d bytes, over the 1 GB Vela takes", size), false)
			continue
		}
		if p := zipNameProblem(e.FileName); p != "" {
			b.leave(f.rel, p, false)
			continue
		}
		it := &zipItem{ZipEntry: ZipEntry{File: b.shown(f.rel), Name: e.FileName, Size: size, Warnings: e.Warnings}, rel: f.rel, mod: f.fi.ModTime()}
		it.Fields, it.Warnings = zipRow(e.Fields, it.Warnings)
		items = append(items, it)
	}
	uniqueNames(items)
	for _, it := range items {
		it.row = rowBound(it)
	}
	return items, nil
}

// leftReason words explain's outcome for a file left out.
func leftReason(outcome string) string {
	for _, p := range []string{"skip: ", "park: ", "error: "} {
		if strings.HasPrefix(outcome, p) {
			return outcome
		}
	}
	return "not a call recording (explain: " + outcome + ")"
}

func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func audioExt(ext string) bool {
	switch strings.ToLower(ext) {
	case ".wav", ".mp3", ".m4a", ".flac":
		return true
	}
	return false
}

// zipNameProblem says why a recording's entry name would not be read as
// it is, by Vela or by the agent's own ZIP checks, or returns "".
func zipNameProblem(name string) string {
	switch {
	case !utf8.ValidString(name):
		return "its name is not valid UTF-8, which a ZIP reader would take for another name"
	case strings.ContainsFunc(name, unicode.IsControl):
		return "its name has a control character, which the agent refuses in a ZIP"
	case strings.Contains(name, `\`):
		return "its name has a backslash, which the agent refuses in a ZIP"
	case len(name) >= 2 && name[1] == ':':
		return "its name starts like a drive letter, which the agent refuses in a ZIP"
	case strings.HasPrefix(name, "._"):
		return "its name starts with ._, which ZIP readers take for a macOS resource fork"
	}
	return ""
}

// zipRow turns explain's fields into the text of a metadata.csv row.
func zipRow(fields map[string]meta.Field, warnings []string) (map[string]string, []string) {
	row := make(map[string]string, len(fields))
	for k, f := range fields {
		switch v := f.Value.(type) {
		case string:
			row[k] = v
		case []string:
			var tags []string
			for _, t := range v {
				if strings.Contains(t, ";") {
					warnings = append(warnings, fmt.Sprintf("tag %q has a ';', which separates tags in metadata.csv; not written", t))
					continue
				}
				tags = append(tags, t)
			}
			if len(tags) > 0 {
				row[k] = strings.Join(tags, ";")
			}
		default:
			row[k] = fmt.Sprint(v)
		}
	}
	return row, warnings
}

// foldName maps a name to a key that is equal for names equal ignoring
// case (Unicode simple folding), as the agent's ZIP checks compare them.
func foldName(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// uniqueNames renames the recordings whose names another recording found
// before has (ignoring case): name_2.ext, name_3.ext, ..., a number no
// other recording's own name takes. Names that are unique are kept.
func uniqueNames(items []*zipItem) {
	used := make(map[string]bool, len(items))
	var again []*zipItem
	for _, it := range items {
		k := foldName(it.Name)
		if used[k] {
			again = append(again, it)
			continue
		}
		used[k] = true
	}
	for _, it := range again {
		ext := path.Ext(it.Name)
		stem := strings.TrimSuffix(it.Name, ext)
		for n := 2; ; n++ {
			name := stem + "_" + strconv.Itoa(n) + ext
			if zipNameProblem(name) != "" {
				// Only the stem "." does this (._2.wav reads as a
				// resource fork); the original name had no problem.
				name = "_" + name
			}
			if k := foldName(name); !used[k] {
				used[k] = true
				it.Warnings = append(it.Warnings, fmt.Sprintf("named %s in the ZIP: another recording is named %s", name, it.Name))
				it.Name = name
				break
			}
		}
	}
}

// csvLine returns the CSV line of cells as the manifest has it.
func csvLine(cells []string) []byte {
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	w.UseCRLF = true
	_ = w.Write(cells) // a strings.Builder does not fail
	w.Flush()
	return []byte(sb.String())
}

// allColumns are the columns a metadata.csv can have.
var allColumns = append(slices.Clone(zipColumns), zipOptional...)

// rowBound is the most bytes the recording's row takes in any
// metadata.csv: with every column.
func rowBound(it *zipItem) int64 {
	return int64(len(csvLine(rowCells(it, allColumns))))
}

func rowCells(it *zipItem, cols []string) []string {
	cells := make([]string, len(cols))
	for i, c := range cols {
		if c == "filename" {
			cells[i] = it.Name
		} else {
			cells[i] = it.Fields[c]
		}
	}
	return cells
}

// deflateBound is the most bytes Deflate makes of n bytes: audio barely
// compresses, and stored blocks add a few bytes each.
func deflateBound(n int64) int64 { return n + n/1024 + 64 }

// entryBound is the most bytes an entry of n bytes named name adds to a ZIP.
func entryBound(name string, n int64) int64 {
	return zipEntryOverhead + 2*int64(len(name)) + deflateBound(n)
}

// plan splits the recordings, in the order found, into ZIPs within
// MaxSize (and within upload.zip_max_total uncompressed, which the agent
// checks). A recording too big for a ZIP of its own is left out.
func (b *zipBuilder) plan(items []*zipItem) [][]*zipItem {
	maxTotal := int64(b.cfg.Upload.ZipMaxTotal)
	if maxTotal <= 0 {
		maxTotal = bulk.Defaults().MaxTotal
	}
	empty := int64(zipEndOverhead) + zipEntryOverhead + 2*int64(len(zipManifestName)) +
		deflateBound(int64(len(csvLine(allColumns))))
	header := int64(len(csvLine(allColumns)))
	var groups [][]*zipItem
	var cur []*zipItem
	var size, raw int64 // bounds on cur's bytes in the ZIP, and uncompressed
	for _, it := range items {
		// The entry, and its row in metadata.csv.
		add := entryBound(it.Name, it.Size) + it.row + it.row/1024 + 1
		if empty+add > b.o.MaxSize || header+it.Size+it.row > maxTotal {
			b.leave(it.rel, fmt.Sprintf("recording of %d bytes does not fit in a ZIP of at most %d bytes", it.Size, b.o.MaxSize), false)
			continue
		}
		if len(cur) > 0 && (empty+size+add > b.o.MaxSize || header+raw+it.Size+it.row > maxTotal) {
			groups = append(groups, cur)
			cur, size, raw = nil, 0, 0
		}
		cur = append(cur, it)
		size += add
		raw += it.Size + it.row
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

func sizeOf(g []*zipItem) int64 {
	var n int64
	for _, it := range g {
		n += it.Size
	}
	return n
}

// dropped is a recording a ZIP cannot hold, found while writing it.
type dropped struct {
	it     *zipItem
	reason string
}

func (d *dropped) Error() string { return d.it.File + ": " + d.reason }

// writeGroup writes the next ZIP of the recordings g, again without each
// recording that turns out not to fit, until it is written or none is
// left.
func (b *zipBuilder) writeGroup(g []*zipItem) error {
	for len(g) > 0 {
		name := b.outName(len(b.rep.Zips))
		b.remain = sizeOf(g)
		z, err := b.writeZip(g, name)
		var d *dropped
		if errors.As(err, &d) {
			b.leave(d.it.rel, d.reason, false)
			g = slices.DeleteFunc(slices.Clone(g), func(it *zipItem) bool { return it == d.it })
			continue
		}
		if err != nil {
			return err
		}
		b.rep.Zips = append(b.rep.Zips, z)
		return nil
	}
	return nil
}

func (b *zipBuilder) progress(n int64) {
	b.done += n
	b.remain -= n
	if b.o.Progress != nil {
		b.o.Progress(b.done, b.done+max(b.remain, 0)+b.later)
	}
}

// writeZip writes the recordings g to a temporary file next to name,
// verifies it and renames it to name. A recording that cannot go in is a
// *dropped error; the temporary file is removed on any error.
func (b *zipBuilder) writeZip(g []*zipItem, name string) (z BuiltZip, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.part")
	if err != nil {
		return z, fmt.Errorf("write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := zip.NewWriter(tmp)
	// Audio barely compresses: the fastest level does as well, five times
	// faster.
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	var newest time.Time
	for _, it := range g {
		if err := b.addEntry(zw, it); err != nil {
			return z, err
		}
		if it.mod.After(newest) {
			newest = it.mod
		}
	}
	cols := slices.Clone(zipColumns)
	for _, c := range zipOptional {
		if slices.ContainsFunc(g, func(it *zipItem) bool { return it.Fields[c] != "" }) {
			cols = append(cols, c)
		}
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: zipManifestName, Method: zip.Deflate, Modified: newest})
	if err != nil {
		return z, fmt.Errorf("write %s: %w", name, err)
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	_ = cw.Write(cols)
	for _, it := range g {
		_ = cw.Write(rowCells(it, cols))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return z, fmt.Errorf("write %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return z, fmt.Errorf("write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return z, fmt.Errorf("write %s: %w", name, err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return z, fmt.Errorf("write %s: %w", name, err)
	}
	if fi.Size() > b.o.MaxSize {
		// The bounds above are wrong: never hand over an oversized ZIP.
		return z, fmt.Errorf("write %s: the ZIP came to %d bytes, over the %d asked for", name, fi.Size(), b.o.MaxSize)
	}
	if err := b.check(tmp, fi.Size(), g, name); err != nil {
		return z, err
	}
	if err := tmp.Close(); err != nil {
		return z, fmt.Errorf("write %s: %w", name, err)
	}
	if !b.o.Force {
		if _, err := os.Lstat(name); err == nil {
			return z, fmt.Errorf("write %s: it appeared while the ZIP was written; use --force to replace it", name)
		}
	}
	if err := os.Rename(tmp.Name(), name); err != nil {
		return z, fmt.Errorf("write %s: %w", name, err)
	}
	syncFolder(filepath.Dir(name))
	z = BuiltZip{Path: name, Size: fi.Size()}
	for _, it := range g {
		z.Recordings = append(z.Recordings, it.ZipEntry)
	}
	return z, nil
}

// addEntry copies the recording into the ZIP, checking that it is still
// the version that was described.
func (b *zipBuilder) addEntry(zw *zip.Writer, it *zipItem) error {
	if zipBeforeEntry != nil {
		zipBeforeEntry(it.rel)
	}
	f, err := tree.Open(b.dir, it.rel)
	if err != nil {
		return &dropped{it, "cannot be read: " + errText(err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return &dropped{it, "cannot be read: " + errText(err)}
	}
	if fi.Size() != it.Size || !fi.ModTime().Equal(it.mod) {
		return &dropped{it, "changed while the ZIPs were made; run again to include it"}
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: it.Name, Method: zip.Deflate, Modified: it.mod})
	if err != nil {
		return fmt.Errorf("write %s: %w", it.Name, err)
	}
	n, err := io.Copy(w, io.LimitReader(&zipReader{b: b, r: f}, it.Size+1))
	var re *readError
	switch {
	case errors.As(err, &re):
		return &dropped{it, "cannot be read: " + errText(re.err)}
	case err != nil:
		return fmt.Errorf("write %s into the ZIP: %w", it.File, err)
	case n != it.Size:
		return &dropped{it, "changed while the ZIPs were made; run again to include it"}
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != it.Size || !fi.ModTime().Equal(it.mod) {
		return &dropped{it, "changed while the ZIPs were made; run again to include it"}
	}
	return nil
}

// zipReader reads a recording, counting progress and stopping when the
// context ends.
type zipReader struct {
	b *zipBuilder
	r io.Reader
}

// readError is a failure to read the recording, rather than to write the
// ZIP.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

func (z *zipReader) Read(p []byte) (int, error) {
	if err := z.b.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := z.r.Read(p)
	z.b.progress(int64(n))
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

// check opens the written ZIP as the agent opens a bulk ZIP it finds,
// verifies every entry's data and that it holds exactly g and its
// manifest, each to be uploaded. A recording refused is a *dropped error.
func (b *zipBuilder) check(f *os.File, size int64, g []*zipItem, name string) error {
	byName := make(map[string]*zipItem, len(g))
	for _, it := range g {
		byName[it.Name] = it
	}
	refused := func(err error) error {
		var rf *bulk.Refused
		if errors.As(err, &rf) {
			if it := byName[rf.Entry]; it != nil {
				return &dropped{it, "the agent's ZIP checks refuse it: " + rf.Reason}
			}
			return fmt.Errorf("check %s: the agent would refuse it: %w", name, err)
		}
		return fmt.Errorf("check %s: %w", name, err)
	}
	a, err := openZip(b.cfg, f, size)
	if err != nil {
		return refused(err)
	}
	if err := a.Verify(b.ctx); err != nil {
		return refused(err)
	}
	seen := 0
	manifest := false
	for _, e := range a.Entries() {
		it := byName[e.Name]
		switch {
		case e.Kind == bulk.Manifest && e.Name == zipManifestName:
			manifest = true
		case it != nil && e.Skip != "":
			return &dropped{it, "the agent would not upload it from a ZIP: " + e.Skip}
		case it != nil && e.Kind == bulk.Recording:
			seen++
		default:
			return fmt.Errorf("check %s: entry %q is not what was written", name, e.Name)
		}
	}
	if !manifest || seen != len(g) {
		return fmt.Errorf("check %s: %d of %d recordings found, manifest found: %t", name, seen, len(g), manifest)
	}
	return nil
}

// syncFolder makes a rename in dir durable, where the system allows it
// (best effort: Windows cannot sync a folder).
func syncFolder(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}
