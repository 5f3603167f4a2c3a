package bulk

import (
	"fmt"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// badName says what is wrong with an entry name that must not reach a
// spool folder, or returns "".
func badName(name string) string {
	if name == "" {
		return "an entry's name is empty"
	}
	for _, r := range name {
		switch {
		case r == 0:
			return "name has a NUL character"
		case unicode.IsControl(r):
			return fmt.Sprintf("name has a control character (%U)", r)
		}
	}
	switch {
	case strings.Contains(name, `\`):
		return "name has a backslash"
	case name[0] == '/':
		return "name is absolute"
	case len(name) >= 2 && name[1] == ':' && isLetter(name[0]):
		return "name has a drive letter"
	}
	for elem := range strings.SplitSeq(name, "/") {
		if elem == ".." {
			return "name escapes the archive"
		}
	}
	return ""
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }

// checkNames refuses two entries whose names are the same ignoring case
// (after path.Clean), and a file whose name, ignoring case, is also the
// folder of another entry: either would collide in a case-insensitive
// spool folder.
func checkNames(items []item) error {
	seen := make(map[string]int, len(items))    // key of each entry → its index
	folders := make(map[string]int, len(items)) // key of each folder some entry lies in → that entry
	for i, it := range items {
		name := it.f.Name
		k := foldKey(path.Clean(name))
		if j, ok := seen[k]; ok {
			return refuse(name, "name equals that of entry %q ignoring case", items[j].f.Name)
		}
		seen[k] = i
		if j, ok := folders[k]; ok && !it.folder {
			return refuse(name, "is a file, but also the folder of entry %q", items[j].f.Name)
		}
		for d := path.Dir(k); d != "." && d != "/"; d = path.Dir(d) {
			if j, ok := seen[d]; ok && !items[j].folder {
				return refuse(name, "lies in a folder that is the file %q", items[j].f.Name)
			}
			if _, ok := folders[d]; ok {
				break // and so are its parents
			}
			folders[d] = i
		}
	}
	return nil
}

// foldKey maps s to a key that is equal for strings equal under Unicode
// case folding (strings.EqualFold): each rune becomes the least rune of
// its folding orbit. Bytes that are not UTF-8 stay as they are.
func foldKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			b.WriteByte(s[0])
			s = s[1:]
			continue
		}
		s = s[n:]
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}

// audio lists the extensions of the recordings Vela accepts.
var audio = map[string]bool{".wav": true, ".mp3": true, ".m4a": true, ".flac": true}

// macOSFolder holds the resource forks the macOS Finder adds to ZIPs.
const macOSFolder = "__MACOSX/"

// listEntries describes the entries other than folders.
func listEntries(items []item) []Entry {
	top := topFolder(items)
	list := make([]Entry, 0, len(items))
	for i, it := range items {
		if it.folder {
			continue
		}
		name := it.f.Name
		e := Entry{Index: i, Name: name, Base: path.Base(name), Size: it.usize}
		e.Modified, e.ModifiedExact = modified(it)
		mac := strings.HasPrefix(name, macOSFolder) || strings.HasPrefix(e.Base, "._")
		isManifest := strings.EqualFold(e.Base, "metadata.csv")
		dir := path.Dir(name)
		switch {
		case audio[strings.ToLower(path.Ext(e.Base))]:
			e.Kind = Recording
			switch {
			case mac:
				e.Skip = "macOS resource fork, not a recording"
			case e.Size == 0:
				e.Skip = "zero-length recording"
			case e.Size > maxRecording:
				e.Skip = fmt.Sprintf("recording of %d bytes is over the 1 GB Vela accepts", e.Size)
			}
		case isManifest && !mac && (dir == "." || top != "" && dir == top):
			e.Kind = Manifest
		default:
			e.Kind = Other
			switch {
			case mac:
				e.Skip = "macOS resource fork"
			case strings.EqualFold(path.Ext(e.Base), ".zip"):
				e.Skip = "nested ZIP is not expanded"
			case isManifest:
				e.Skip = "metadata.csv below the top folder is not read"
			default:
				e.Skip = "not audio"
			}
		}
		list = append(list, e)
	}
	return list
}

// topFolder returns the single folder at the top of the archive that every
// file lies in, or "" if there is none. The Finder's __MACOSX folder and
// hidden files at the top (.DS_Store) do not count.
func topFolder(items []item) string {
	top := ""
	for _, it := range items {
		name := it.f.Name
		if it.folder || strings.HasPrefix(name, macOSFolder) {
			continue
		}
		first, _, inFolder := strings.Cut(name, "/")
		if !inFolder {
			if strings.HasPrefix(name, ".") {
				continue
			}
			return ""
		}
		switch top {
		case "":
			top = first
		case first:
		default:
			return ""
		}
	}
	return top
}

// Extra field tags carrying real instants.
const (
	extTimeTag     = 0x5455 // extended timestamp
	ntfsTag        = 0x000a
	unixTag        = 0x000d // PKWARE Unix
	infoZipUnixTag = 0x5855 // Info-ZIP Unix, old
)

// modified returns an entry's modification time: the instant of an extra
// field when there is one (exact), or else the MS-DOS wall clock.
func modified(it item) (time.Time, bool) {
	extra := it.f.Extra
	if b, ok := findExtra(extra, extTimeTag); ok && len(b) >= 5 && b[0]&1 != 0 {
		return time.Unix(int64(le32(b[1:])), 0).UTC(), true
	}
	if b, ok := findExtra(extra, ntfsTag); ok && len(b) >= 4 {
		for b = b[4:]; len(b) >= 4; {
			tag, n := le16(b), int(le16(b[2:]))
			b = b[4:]
			if len(b) < n {
				break
			}
			if tag == 1 && n == 24 {
				const ticks = 10_000_000 // per second, since 1601
				ts := int64(le64(b))
				epoch := time.Date(1601, time.January, 1, 0, 0, 0, 0, time.UTC)
				return time.Unix(epoch.Unix()+ts/ticks, ts%ticks*100).UTC(), true
			}
			b = b[n:]
		}
	}
	for _, tag := range []uint16{unixTag, infoZipUnixTag} {
		if b, ok := findExtra(extra, tag); ok && len(b) >= 8 {
			return time.Unix(int64(le32(b[4:])), 0).UTC(), true
		}
	}
	// archive/zip reads the MS-DOS fields as a wall clock in UTC. A date
	// before 1980 is the zero date: unset.
	m := it.f.Modified
	if m.Year() < 1980 {
		return time.Time{}, false
	}
	return time.Date(m.Year(), m.Month(), m.Day(), m.Hour(), m.Minute(), m.Second(), 0, time.UTC), false
}
