// Package bulk reads bulk ZIPs of call recordings safely: it refuses hostile archives before anything is extracted and streams entries out one at a time.
//
// A bulk ZIP is outside input. Open reads the central directory with
// archive/zip, checks the archive's layout and every entry's headers against
// it, and refuses the whole ZIP (with *Refused) if any of it must not be
// expanded: nothing is written anywhere before that decision. Verify then
// decompresses everything once to nowhere, which is the only way to catch
// sizes and checksums that lie; Extract streams one entry to a writer and
// checks it again on the way.
package bulk

import (
	"archive/zip"
	"fmt"
	"io"
	"slices"
	"time"
)

// Limits bound what Open accepts.
type Limits struct {
	MaxArchive int64   // default 3 GB (3<<30): a bigger ZIP is refused
	MaxTotal   int64   // declared uncompressed total, default 10 GB (10<<30)
	MaxRatio   float64 // uncompressed/compressed per entry and overall, default 1000
}

// Defaults returns the default Limits. Zero fields of a Limits given to Open mean the default.
func Defaults() Limits {
	return Limits{MaxArchive: 3 << 30, MaxTotal: 10 << 30, MaxRatio: 1000}
}

// orDefaults fills the zero (and the meaningless negative or NaN) fields
// of l with the defaults.
func (l Limits) orDefaults() Limits {
	d := Defaults()
	if l.MaxArchive <= 0 {
		l.MaxArchive = d.MaxArchive
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = d.MaxTotal
	}
	if !(l.MaxRatio > 0) {
		l.MaxRatio = d.MaxRatio
	}
	return l
}

// Bounds on the central directory, which Open holds in memory, and on what
// Vela takes. Package variables so that tests can lower them.
var (
	// maxEntries is the most central directory records an archive may
	// declare. 262,144 recordings is far more than any 3 GB bulk ZIP holds.
	maxEntries uint64 = 1 << 18
	// maxDirectory is the largest central directory Open reads.
	maxDirectory uint64 = 64 << 20
	// maxRecording is the largest recording Vela accepts.
	maxRecording int64 = 1 << 30
)

// Refused is why a whole ZIP is not expanded. Entry is "" when the reason is about the archive.
type Refused struct{ Entry, Reason string }

// Error says which entry (if any) and why, e.g.
// `entry "../../etc/passwd": name escapes the archive`.
func (e *Refused) Error() string {
	if e.Entry == "" {
		return e.Reason
	}
	return fmt.Sprintf("entry %q: %s", e.Entry, e.Reason)
}

// EntryKind is what an entry is to the agent.
type EntryKind int

const (
	// Recording is an entry with an audio extension: .wav .mp3 .m4a .flac
	// in any case.
	Recording EntryKind = iota
	// Manifest is the archive's metadata.csv (the base name compared
	// without case), at the top level or in the single top folder.
	Manifest
	// Other is everything else.
	Other
)

// Entry is one file of the archive. Folder entries are not listed.
type Entry struct {
	Index int       // position in the central directory: the i of Extract
	Name  string    // as stored, slash-separated
	Base  string    // path.Base(Name)
	Kind  EntryKind // Recording, Manifest or Other
	Size  int64     // declared uncompressed size
	// Modified is the entry's wall-clock modification time as a time in
	// time.UTC carrying the wall clock: ZIP times have no zone, so the
	// caller re-reads it in its own zone. When the entry carries an
	// extended timestamp (or an NTFS or Unix time) extra field, which is a
	// real instant, Modified is that instant in UTC and ModifiedExact is
	// true. Modified is the zero time when the entry has no usable time.
	Modified      time.Time
	ModifiedExact bool
	// Skip, when not empty, says that this entry will not be uploaded and
	// why ("not audio", "nested ZIP is not expanded", "zero-length
	// recording", ...). It is empty for the Manifest, which the caller
	// reads rather than uploads, and for every recording to upload.
	Skip string
}

// Archive is a ZIP that Open accepted. Its methods may be called from
// several goroutines at once; the io.ReaderAt given to Open must stay
// readable and unchanged until the last call returns.
type Archive struct {
	r     io.ReaderAt
	items []item // every central directory record, in directory order
	order []int  // indexes into items by data offset: the order Verify reads
	list  []Entry
}

// item is one central directory record as Open checked it.
type item struct {
	f      *zip.File
	folder bool
	data   int64 // offset of the (compressed) data
	csize  int64 // compressed size
	usize  int64 // declared uncompressed size
}

// Entries returns the archive's entries other than folders, in central
// directory order. The slice is the caller's own.
func (a *Archive) Entries() []Entry {
	return slices.Clone(a.list)
}
