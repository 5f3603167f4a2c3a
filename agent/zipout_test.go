package agent

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent/bulk"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio/audiotest"
)

// zipConfig returns a configuration whose one source is the folder in,
// with defaults and a file-name pattern, as an admin's would be.
func zipConfig(t *testing.T, in, extra string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	y := fmt.Sprintf(`api: {org_id: org-test, refresh_token_file: %q}
state_dir: %q
sources: [{name: calls, path: %q}]
metadata:
  defaults: {team: Support}
  filename_pattern: '^(?P<agent_name>[A-Za-z]+)_(?P<direction>[A-Za-z]+)_'
%s`, filepath.Join(dir, "token"), filepath.Join(dir, "state"), in, extra)
	cfg, err := config.Parse(filepath.Join(dir, "vela-agent.yaml"), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// zipPut writes a file under root with the given modification time.
func zipPut(t *testing.T, root, rel string, data []byte, mtime time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// readBack is a ZIP as archive/zip reads it.
type readBack struct {
	names    []string // in directory order
	data     map[string][]byte
	modified map[string]time.Time
	manifest string     // metadata.csv as stored
	rows     [][]string // metadata.csv parsed, header first
}

// readZip reads the ZIP at p with archive/zip and checks what every entry
// must be: Deflate, metadata.csv last.
func readZip(t *testing.T, p string) readBack {
	t.Helper()
	zr, err := zip.OpenReader(p)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	defer zr.Close()
	rb := readBack{data: map[string][]byte{}, modified: map[string]time.Time{}}
	for _, f := range zr.File {
		if f.Method != zip.Deflate {
			t.Errorf("%s: %s has method %d, want Deflate", p, f.Name, f.Method)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: read %s: %v", p, f.Name, err)
		}
		rb.names = append(rb.names, f.Name)
		rb.data[f.Name], rb.modified[f.Name] = b, f.Modified
	}
	if n := len(rb.names); n == 0 || rb.names[n-1] != "metadata.csv" {
		t.Fatalf("%s: entries %q, want metadata.csv last", p, rb.names)
	}
	rb.names = rb.names[:len(rb.names)-1]
	rb.manifest = string(rb.data["metadata.csv"])
	rb.rows, err = csv.NewReader(strings.NewReader(rb.manifest)).ReadAll()
	if err != nil {
		t.Fatalf("%s: metadata.csv: %v", p, err)
	}
	return rb
}

// bulkCheck opens the ZIP at p as the agent opens a bulk ZIP it finds and
// returns the recordings it would upload.
func bulkCheck(t *testing.T, cfg *config.Config, p string) []string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	a, err := openZip(cfg, f, fi.Size())
	if err == nil {
		err = a.Verify(context.Background())
	}
	if err != nil {
		t.Fatalf("the agent refuses %s: %v", p, err)
	}
	var recs []string
	manifests := 0
	for _, e := range a.Entries() {
		switch {
		case e.Kind == bulk.Manifest:
			manifests++
		case e.Kind == bulk.Recording && e.Skip == "":
			recs = append(recs, e.Name)
		default:
			t.Errorf("%s: entry %q would not be uploaded: kind %d, %s", p, e.Name, e.Kind, e.Skip)
		}
	}
	if manifests != 1 {
		t.Errorf("%s: %d manifests", p, manifests)
	}
	return recs
}

// partFiles lists the temporary files left in dir.
func partFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".part") {
			parts = append(parts, e.Name())
		}
	}
	return parts
}

func leftOutByFile(rep *ZipReport, root string) map[string]LeftOut {
	m := map[string]LeftOut{}
	for _, l := range rep.LeftOut {
		rel, _ := filepath.Rel(root, l.File)
		m[filepath.ToSlash(rel)] = l
	}
	return m
}

// A folder as admins have them: a manifest, a sidecar, a file-name
// pattern, upper-case extensions, two recordings of one name, and files
// that are no recordings.
func TestBuildZips(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	mtime := time.Date(2025, 3, 4, 10, 20, 30, 0, time.UTC)
	wav1, wav2, mp3 := audiotest.WAV(16_044, 1), audiotest.WAV(8_044, 2), audiotest.MP3(40)
	zipPut(t, in, "Thandi_inbound_001.WAV", wav1, mtime)
	zipPut(t, in, "metadata.csv", []byte("\ufeffFilename,Team,Tags,Email\r\nThandi_inbound_001.WAV,Sales,\"vip; billing\",thandi@example.co.za\r\n"), mtime)
	zipPut(t, in, "sub/Thandi_inbound_001.wav", wav2, mtime.Add(time.Hour))
	zipPut(t, in, "sub/Thandi_inbound_001.json", []byte(`{"contact": "0821234567", "interaction_id": "INT, 7"}`), mtime)
	zipPut(t, in, "sub/Sipho_outbound_002.mp3", mp3, mtime.Add(2*time.Hour))
	zipPut(t, in, "notes.wav", []byte(strings.Repeat("text ", 20)), mtime)
	zipPut(t, in, "readme.txt", []byte("read me"), mtime)
	zipPut(t, in, "empty.mp3", nil, mtime)
	zipPut(t, in, ".hidden.wav", wav1, mtime)
	links := os.Symlink(filepath.Join(in, "Thandi_inbound_001.WAV"), filepath.Join(in, "link.wav")) == nil
	cfg := zipConfig(t, in, "")
	outDir := t.TempDir()
	out := filepath.Join(outDir, "batch.zip")

	rep, err := BuildZips(cfg, in, out, ZipOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Zips) != 1 {
		t.Fatalf("%d ZIPs written, want 1: %+v", len(rep.Zips), rep.Zips)
	}
	z := rep.Zips[0]
	fi, err := os.Stat(out)
	if err != nil || z.Path != out || z.Size != fi.Size() {
		t.Errorf("report names %s of %d bytes; on disk %v, %v", z.Path, z.Size, fi, err)
	}
	wantNames := []string{"Thandi_inbound_001.wav", "Sipho_outbound_002.mp3", "Thandi_inbound_001_2.wav"}
	wantFiles := []string{"Thandi_inbound_001.WAV", "sub/Sipho_outbound_002.mp3", "sub/Thandi_inbound_001.wav"}
	var gotNames, gotFiles []string
	for _, r := range z.Recordings {
		gotNames = append(gotNames, r.Name)
		rel, _ := filepath.Rel(in, r.File)
		gotFiles = append(gotFiles, filepath.ToSlash(rel))
	}
	if !slices.Equal(gotNames, wantNames) || !slices.Equal(gotFiles, wantFiles) {
		t.Errorf("recordings %q from %q, want %q from %q", gotNames, gotFiles, wantNames, wantFiles)
	}

	// Every file left out, with its reason.
	left := leftOutByFile(rep, in)
	for rel, want := range map[string]struct {
		reason   string
		metadata bool
	}{
		".hidden.wav":                 {"hidden", false},
		"empty.mp3":                   {"skip: empty file", false},
		"metadata.csv":                {"folder manifest", true},
		"notes.wav":                   {"park: named .wav but holds text, not audio", false},
		"readme.txt":                  {`skip: ".txt" is not a format Vela takes`, false},
		"sub/Thandi_inbound_001.json": {"sidecar", true},
	} {
		l, ok := left[rel]
		if !ok || !strings.Contains(l.Reason, want.reason) || l.Metadata != want.metadata {
			t.Errorf("%s left out as %+v (listed: %t), want %q, metadata %t", rel, l, ok, want.reason, want.metadata)
		}
		delete(left, rel)
	}
	if l, ok := left["link.wav"]; links && (!ok || !strings.Contains(l.Reason, "symbolic link")) {
		t.Errorf("link.wav left out as %+v (listed: %t), want a link not followed", l, ok)
	}
	delete(left, "link.wav")
	if len(left) > 0 {
		t.Errorf("also left out: %+v", left)
	}

	// Read back with archive/zip: the bytes, the times, and the manifest
	// exactly, RFC 4180 with CRLF and no byte-order mark.
	rb := readZip(t, out)
	if !slices.Equal(rb.names, wantNames) {
		t.Errorf("entries %q, want %q", rb.names, wantNames)
	}
	for i, want := range [][]byte{wav1, mp3, wav2} {
		if !bytes.Equal(rb.data[wantNames[i]], want) {
			t.Errorf("%s: content differs from the file's", wantNames[i])
		}
	}
	for i, d := range []time.Duration{0, 2 * time.Hour, time.Hour} {
		if got := rb.modified[wantNames[i]]; !got.Equal(mtime.Add(d)) {
			t.Errorf("%s: modified %v, want %v", wantNames[i], got, mtime.Add(d))
		}
	}
	date := func(d time.Duration) string { return meta.FormatDate(mtime.Add(d)) }
	wantCSV := "filename,agent_name,team,department,direction,tags,date_of_call,email,contact,interaction_id\r\n" +
		`Thandi_inbound_001.wav,Thandi,Sales,,inbound,vip;billing,"` + date(0) + `",thandi@example.co.za,,` + "\r\n" +
		`Sipho_outbound_002.mp3,Sipho,Support,,outbound,,"` + date(2*time.Hour) + `",,,` + "\r\n" +
		`Thandi_inbound_001_2.wav,Thandi,Support,,inbound,,"` + date(time.Hour) + `",,0821234567,"INT, 7"` + "\r\n"
	if rb.manifest != wantCSV {
		t.Errorf("metadata.csv:\n%q\nwant\n%q", rb.manifest, wantCSV)
	}
	if z.Recordings[2].Fields[meta.Contact] != "0821234567" || !slices.ContainsFunc(z.Recordings[2].Warnings, func(w string) bool { return strings.Contains(w, "another recording is named") }) {
		t.Errorf("report of the renamed recording: %+v", z.Recordings[2])
	}

	// What the agent itself would accept.
	if got := bulkCheck(t, cfg, out); !slices.Equal(got, wantNames) {
		t.Errorf("the agent would upload %q, want %q", got, wantNames)
	}
	if p := partFiles(t, outDir); len(p) > 0 {
		t.Errorf("temporary files left: %q", p)
	}

	// An existing output is never replaced without Force.
	before, _ := os.ReadFile(out)
	if _, err := BuildZips(cfg, in, out, ZipOptions{}); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second run without Force: %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("the existing ZIP was changed")
	}
	rep, err = BuildZips(cfg, in, out, ZipOptions{Force: true})
	if err != nil || len(rep.Zips) != 1 {
		t.Fatalf("with Force: %v, %+v", err, rep)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Error("the same folder made a different ZIP")
	}
}

// Recordings are split into ZIPs within MaxSize, each with its own
// metadata.csv naming exactly its recordings.
func TestBuildZipsSplit(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	mtime := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	var all []string
	for i := range 9 {
		name := fmt.Sprintf("Agent_inbound_%02d.wav", i)
		zipPut(t, in, name, audiotest.WAV(20_000, byte(i)), mtime)
		all = append(all, name)
	}
	zipPut(t, in, "Big_inbound_00.wav", audiotest.WAV(80_000, 9), mtime)
	cfg := zipConfig(t, in, "")
	out := filepath.Join(in, "part.zip") // inside the folder: never packed itself
	const maxSize = 70_000

	var calls [][2]int64
	progress := func(done, total int64) { calls = append(calls, [2]int64{done, total}) }
	rep, err := BuildZips(cfg, in, out, ZipOptions{MaxSize: maxSize, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{out, filepath.Join(in, "part-2.zip"), filepath.Join(in, "part-3.zip")}
	if len(rep.Zips) != 3 {
		t.Fatalf("%d ZIPs, want 3: %+v", len(rep.Zips), rep.Zips)
	}
	var packed []string
	for i, z := range rep.Zips {
		if z.Path != names[i] || z.Size > maxSize || len(z.Recordings) != 3 {
			t.Errorf("ZIP %d: %s, %d bytes, %d recordings; want %s, at most %d bytes, 3 recordings", i, z.Path, z.Size, len(z.Recordings), names[i], maxSize)
		}
		rb := readZip(t, z.Path)
		var listed []string
		for _, row := range rb.rows[1:] {
			listed = append(listed, row[0])
		}
		if !slices.Equal(listed, rb.names) {
			t.Errorf("%s: metadata.csv names %q, the ZIP holds %q", z.Path, listed, rb.names)
		}
		if got := bulkCheck(t, cfg, z.Path); !slices.Equal(got, rb.names) {
			t.Errorf("%s: the agent would upload %q of %q", z.Path, got, rb.names)
		}
		for _, r := range z.Recordings {
			packed = append(packed, r.Name)
		}
	}
	if !slices.Equal(packed, all) {
		t.Errorf("packed %q, want %q", packed, all)
	}
	if l := leftOutByFile(rep, in)["Big_inbound_00.wav"]; !strings.Contains(l.Reason, "does not fit in a ZIP of at most 70000 bytes") {
		t.Errorf("the big recording left out as %+v", l)
	}
	var prev int64
	for _, c := range calls {
		if c[0] < prev || c[0] > c[1] {
			t.Fatalf("progress %d of %d after %d", c[0], c[1], prev)
		}
		prev = c[0]
	}
	if n := len(calls); n == 0 || calls[n-1] != [2]int64{9 * 20_000, 9 * 20_000} {
		t.Errorf("last progress %v, want all 180000 bytes", calls[len(calls)-1:])
	}

	// Again with Force: the outputs in the folder are left out as such,
	// and the ZIPs come out the same.
	first, _ := os.ReadFile(names[2])
	rep, err = BuildZips(cfg, in, out, ZipOptions{MaxSize: maxSize, Force: true})
	if err != nil || len(rep.Zips) != 3 {
		t.Fatalf("again: %v, %+v", err, rep)
	}
	left := leftOutByFile(rep, in)
	for _, n := range []string{"part.zip", "part-2.zip", "part-3.zip"} {
		if l := left[n]; l.Reason != "an output of vela-agent zip" {
			t.Errorf("%s left out as %+v", n, l)
		}
	}
	if again, _ := os.ReadFile(names[2]); !bytes.Equal(first, again) {
		t.Error("part-3.zip differs the second time")
	}

	// One big ZIP over three smaller ones: the two it does not replace
	// are named.
	rep, err = BuildZips(cfg, in, out, ZipOptions{Force: true})
	if err != nil || len(rep.Zips) != 1 || len(rep.Zips[0].Recordings) != 10 {
		t.Fatalf("one ZIP: %v, %+v", err, rep)
	}
	if len(rep.Warnings) != 2 || !strings.Contains(rep.Warnings[0], "part-2.zip is from an earlier run") {
		t.Errorf("warnings %q, want part-2.zip and part-3.zip named", rep.Warnings)
	}
	if p := partFiles(t, in); len(p) > 0 {
		t.Errorf("temporary files left: %q", p)
	}
}

// A recording that changes while the ZIPs are made is dropped, and its ZIP
// written again without it.
func TestBuildZipsChanged(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	mtime := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	for i, n := range []string{"a.wav", "b.wav", "c.wav"} {
		zipPut(t, in, n, audiotest.WAV(10_000*(i+1), byte(i)), mtime)
	}
	changed := 0
	zipBeforeEntry = func(rel string) {
		if rel == "b.wav" {
			changed++
			f, err := os.OpenFile(filepath.Join(in, rel), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write([]byte("more"))
			f.Close()
		}
	}
	t.Cleanup(func() { zipBeforeEntry = nil })
	var done, total int64
	cfg := zipConfig(t, in, "")
	out := filepath.Join(t.TempDir(), "x.zip")
	rep, err := BuildZips(cfg, in, out, ZipOptions{Progress: func(d, tt int64) { done, total = d, tt }})
	if err != nil {
		t.Fatal(err)
	}
	if changed != 1 || len(rep.Zips) != 1 {
		t.Fatalf("b.wav changed %d times, %d ZIPs", changed, len(rep.Zips))
	}
	if got := bulkCheck(t, cfg, out); !slices.Equal(got, []string{"a.wav", "c.wav"}) {
		t.Errorf("ZIP holds %q, want a.wav and c.wav", got)
	}
	if l := leftOutByFile(rep, in)["b.wav"]; !strings.Contains(l.Reason, "changed while the ZIPs were made") {
		t.Errorf("b.wav left out as %+v", l)
	}
	// a.wav was read twice: before b.wav was found changed, and again.
	if want := int64(10_000 + 10_000 + 30_000); done != want || total != want {
		t.Errorf("progress ended at %d of %d, want %d of %d", done, total, want, want)
	}
}

func TestBuildZipsRefuses(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	zipPut(t, in, "a.wav", audiotest.WAV(1000, 1), time.Now())
	cfg := zipConfig(t, in, "")
	out := filepath.Join(t.TempDir(), "x.zip")
	for _, tc := range []struct {
		name     string
		dir, out string
		o        ZipOptions
		want     string
	}{
		{"negative size", in, out, ZipOptions{MaxSize: -1}, "negative"},
		{"over 3 GiB", in, out, ZipOptions{MaxSize: 4e9}, "over the 3221225472 bytes"},
		{"not a zip name", in, filepath.Join(t.TempDir(), "x.tar"), ZipOptions{}, "must be named NAME.zip"},
		{"only an extension", in, filepath.Join(t.TempDir(), ".zip"), ZipOptions{}, "must be named NAME.zip"},
		{"no output folder", in, filepath.Join(t.TempDir(), "none", "x.zip"), ZipOptions{}, "output folder"},
		{"a file for a folder", filepath.Join(in, "a.wav"), out, ZipOptions{}, "not a folder"},
		{"no folder", filepath.Join(in, "none"), out, ZipOptions{}, "no such file"},
	} {
		_, err := BuildZips(cfg, tc.dir, tc.out, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}

	// A folder with nothing to pack writes nothing, and that is no error.
	empty := t.TempDir()
	zipPut(t, empty, "notes.txt", []byte("x"), time.Now())
	rep, err := BuildZips(cfg, empty, out, ZipOptions{})
	if err != nil || len(rep.Zips) != 0 || len(rep.LeftOut) != 1 {
		t.Errorf("empty folder: %v, %+v", err, rep)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a ZIP was written for nothing")
	}

	// A cancelled context leaves nothing behind.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := BuildZips(cfg, in, out, ZipOptions{Context: ctx}); err == nil {
		t.Error("cancelled: no error")
	}
	if _, err := os.Stat(out); err == nil || len(partFiles(t, filepath.Dir(out))) > 0 {
		t.Error("cancelled: files left")
	}
}

// Names that pass zipNameProblem, made unique, make a ZIP the agent takes
// whole, each recording to be uploaded under its own name.
func FuzzZipNames(f *testing.F) {
	for _, s := range [][2]string{
		{"call", "CALL"}, {"a_2", "a"}, {"ǅ", "ǆ"}, {"K", "\u212a"}, {"._x", "y"},
		{"C:x", "c"}, {"tab\there", "x"}, {"\xff", "x"}, {"metadata", "Metadata"}, {"é", "É"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var items []*zipItem
		for i, stem := range []string{a, b, a} {
			name := stem + ".wav"
			if strings.Contains(name, "/") || zipNameProblem(name) != "" {
				return
			}
			items = append(items, &zipItem{ZipEntry: ZipEntry{Name: name, Fields: map[string]string{}}, rel: fmt.Sprint(i)})
		}
		uniqueNames(items)
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		want := map[string]bool{}
		for _, it := range items {
			if want[it.Name] {
				t.Fatalf("name %q given twice", it.Name)
			}
			want[it.Name] = true
			w, err := zw.CreateHeader(&zip.FileHeader{Name: it.Name, Method: zip.Deflate})
			if err != nil {
				t.Fatal(err)
			}
			w.Write(audiotest.WAV(100, 1))
		}
		w, _ := zw.Create(zipManifestName)
		w.Write(csvLine(zipColumns))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		arch, err := bulk.Open(bytes.NewReader(buf.Bytes()), int64(buf.Len()), bulk.Limits{})
		if err != nil {
			t.Fatalf("names %q: %v", slices.Collect(func(yield func(string) bool) {
				for _, it := range items {
					yield(it.Name)
				}
			}), err)
		}
		for _, e := range arch.Entries() {
			if e.Kind == bulk.Manifest {
				continue
			}
			if e.Kind != bulk.Recording || e.Skip != "" || !want[e.Name] {
				t.Errorf("entry %q: kind %d, skip %q", e.Name, e.Kind, e.Skip)
			}
		}
	})
}

// Audio that does not compress at all still fits: the bounds hold for
// random data, packed tight.
func TestBuildZipsIncompressible(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in")
	mtime := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	var sum int64
	x := uint32(7)
	for i := range 24 {
		b := make([]byte, 100_000+i*9_973)
		for j := range b {
			x = x*1664525 + 1013904223
			b[j] = byte(x >> 24)
		}
		zipPut(t, in, fmt.Sprintf("r%02d.wav", i), audiotest.Stamp(b), mtime)
		sum += int64(len(b))
	}
	cfg := zipConfig(t, in, "")
	const maxSize = 1_000_000
	rep, err := BuildZips(cfg, in, filepath.Join(t.TempDir(), "r.zip"), ZipOptions{MaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var written int64
	for _, z := range rep.Zips {
		n += len(z.Recordings)
		written += z.Size
		if z.Size > maxSize {
			t.Errorf("%s is %d bytes", z.Path, z.Size)
		}
		bulkCheck(t, cfg, z.Path)
		t.Logf("%s: %d recordings, %d bytes", filepath.Base(z.Path), len(z.Recordings), z.Size)
	}
	if n != 24 || len(rep.LeftOut) != 0 {
		t.Fatalf("%d recordings packed, left out %+v", n, rep.LeftOut)
	}
	// Tight: on average no ZIP is more than one recording short of full.
	if min := sum / (maxSize - 200_000); int64(len(rep.Zips)) > min+1 {
		t.Errorf("%d ZIPs for %d bytes, want at most %d", len(rep.Zips), sum, min+1)
	}
	t.Logf("%d bytes of recordings in %d ZIPs of %d bytes", sum, len(rep.Zips), written)
}
