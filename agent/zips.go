package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vela-agent/vela-agent/agent/bulk"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/tree"
	"github.com/vela-agent/vela-agent/agent/upload"
	"github.com/vela-agent/vela-agent/store"
)

// A bulk ZIP's job is expanded into one call job per recording, its
// children (store.Expand): each is described, presigned and uploaded on
// its own, so a crash in the middle of a 3 GB ZIP resumes at the next
// recording. A recording is read straight from the ZIP (the ZIP's spool
// copy, for a source that stages), streamed and checked against its size
// and CRC-32 as it is sent: the upload's last bytes go only if the entry
// checks out, so a bad entry is never stored. Nothing of it is copied to
// the spool. The ZIP waits (Ready) until its children are finished, then
// its source's after_upload applies to it.
//
//	zip   queued [─stage─> staged] ─expand─> ready ─await─> uploaded ─finish─> done
//	child queued ─describe─> ready ─presign─> ... as any call
//
// A child's path is the ZIP's path joined with the entry's name
// ("batch.zip/rec/a.wav"): no file of the tree can have it, and it is the
// same at every expansion, which makes Expand idempotent.

// zipRecheck is the longest a ZIP waiting for its recordings waits before
// it looks again; it looks sooner as fewer are left (see awaitZip).
var zipRecheck = time.Second

// zipRecheckPer is how much sooner per recording left, and
// zipRecheckMin the soonest: a ZIP with few left is done about as soon as
// they are, for a few more walks of its children (a millisecond or two for
// a thousand).
const (
	zipRecheckPer = 3 * time.Millisecond
	zipRecheckMin = 20 * time.Millisecond
)

// openZips keeps the ZIPs whose recordings are being read open and
// checked, so that each recording's read does not open and check the
// whole archive again (which made a ZIP's expansion quadratic in its
// entries). An archive is
// shared by the workers extracting from it; it is closed when no worker
// uses it and others are needed more (at most maxOpenZips are kept), when
// its ZIP finishes, or when the agent closes.
type openZips struct {
	mu   sync.Mutex // guards m and tick
	m    map[uint64]*heldZip
	tick uint64
}

// maxOpenZips is how many ZIPs are kept open.
var maxOpenZips = 4

type heldZip struct {
	f     *os.File
	z     *bulk.Archive
	index map[string]bulk.Entry // entries by name, read once
	size  int64
	mod   time.Time
	refs  int // workers using it
	used  uint64
	stale bool // to be closed when refs drops to 0
}

// get returns the checked archive of ZIP job parent and its entries by
// name, opening it with open if it is not open at this version; release
// gives it back. A file open returns that is not the version of the ZIP
// the job was made for (size and modification time) fails with
// errZipChanged.
func (c *openZips) get(cfg *config.Config, parent *store.Job, open func() (*os.File, error)) (*bulk.Archive, map[string]bulk.Entry, func(), error) {
	c.mu.Lock()
	c.tick++
	if e, ok := c.m[parent.ID]; ok && !e.stale && e.size == parent.Size && e.mod.Equal(parent.ModTime) {
		// Still the version the job was made for? A ZIP written again in
		// place changes under the open file.
		if fi, err := e.f.Stat(); err == nil && sameVersion(parent, fi) {
			e.refs++
			e.used = c.tick
			c.mu.Unlock()
			return e.z, e.index, func() { c.put(e) }, nil
		}
		c.retire(e)
		delete(c.m, parent.ID)
	}
	c.mu.Unlock()

	f, err := open()
	if err != nil {
		return nil, nil, nil, err
	}
	if fi, err := f.Stat(); err != nil || !sameVersion(parent, fi) {
		f.Close()
		if err != nil {
			return nil, nil, nil, err
		}
		return nil, nil, nil, errZipChanged
	}
	z, err := openZip(cfg, f, parent.Size)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	index := map[string]bulk.Entry{}
	for _, en := range z.Entries() {
		index[en.Name] = en
	}
	e := &heldZip{f: f, z: z, index: index, size: parent.Size, mod: parent.ModTime, refs: 1}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[uint64]*heldZip{}
	}
	if old, ok := c.m[parent.ID]; ok {
		c.retire(old)
	}
	c.tick++
	e.used = c.tick
	c.m[parent.ID] = e
	for len(c.m) > maxOpenZips {
		var victim uint64
		var at uint64
		for id, o := range c.m {
			if o != e && (victim == 0 || o.used < at) {
				victim, at = id, o.used
			}
		}
		if victim == 0 {
			break
		}
		c.retire(c.m[victim])
		delete(c.m, victim)
	}
	return z, index, func() { c.put(e) }, nil
}

// put gives back an archive get returned.
func (c *openZips) put(e *heldZip) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.stale && e.refs == 0 {
		e.f.Close()
	}
}

// retire closes e now, or once its last user gives it back. c.mu is held.
func (c *openZips) retire(e *heldZip) {
	e.stale = true
	if e.refs == 0 {
		e.f.Close()
	}
}

// drop closes the archive of ZIP job id, if open.
func (c *openZips) drop(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		c.retire(e)
		delete(c.m, id)
	}
}

// closeAll closes every archive; for Agent.Close.
func (c *openZips) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.m {
		c.retire(e)
		delete(c.m, id)
	}
}

// maxZipManifest bounds the metadata.csv read from a ZIP.
const maxZipManifest = 64 << 20

// openZip opens the job's ZIP (its spool copy once staged) and checks its
// structure.
func openZip(cfg *config.Config, f *os.File, size int64) (*bulk.Archive, error) {
	return bulk.Open(f, size, bulk.Limits{MaxTotal: int64(cfg.Upload.ZipMaxTotal)})
}

// refusal words a bulk error for the ZIP's job: a refused archive parks
// it; anything else is a read error of this file.
func refusal(name string, err error) error {
	var rf *bulk.Refused
	if errors.As(err, &rf) {
		return parked{fmt.Sprintf("ZIP refused, nothing of it is uploaded: %v", rf)}
	}
	return fileError{fmt.Errorf("read %s: %w", name, err)}
}

// expandZip checks a bulk ZIP whole, then adds a call job per recording:
// Queued (or Staged) -> Ready.
func (a *Agent) expandZip(ctx context.Context, r *jobRun) error {
	j := r.j
	if err := a.current(r, "expand"); err != nil {
		return err
	}
	f, err := r.open()
	if err != nil {
		return fileError{fmt.Errorf("read %s: %w", j.Path, err)}
	}
	defer f.Close()
	z, err := openZip(r.cfg, f, j.Size)
	if err != nil {
		return refusal(j.Path, err)
	}
	if err := z.Verify(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return refusal(j.Path, err)
	}
	sc, _ := r.cfg.Source(j.Source)
	zone := sc.Meta().Location()
	var children []store.Found
	var warnings []string
	for _, e := range z.Entries() {
		if e.Kind == bulk.Manifest {
			continue
		}
		mod := e.Modified
		if !e.ModifiedExact && !mod.IsZero() {
			// ZIP times are wall clocks without a zone: the source's.
			mod = time.Date(mod.Year(), mod.Month(), mod.Day(), mod.Hour(), mod.Minute(), mod.Second(), 0, zone)
		}
		if mod.IsZero() {
			mod = j.ModTime
		}
		c := store.Found{Source: j.Source, Path: j.Path + "/" + e.Name, Size: e.Size, ModTime: mod, Kind: store.Call, Parent: j.ID, Skip: e.Skip}
		if e.Skip == "" && e.Kind != bulk.Recording {
			c.Skip = "not a recording (inside a ZIP only audio files and metadata.csv are read)"
		}
		if c.Skip != "" {
			warnings = append(warnings, fmt.Sprintf("entry %q skipped: %s", e.Name, c.Skip))
		}
		children = append(children, c)
	}
	n, err := a.store.Expand(j.ID, children)
	if err != nil {
		return fmt.Errorf("expand %s: %w", j.Path, err)
	}
	a.log.Info("ZIP expanded", "file", j.Path, "entries", len(children), "new_jobs", n)
	j.Warnings = warnings
	j.State = store.Ready
	return nil
}

// awaitZip finishes a ZIP once all its recordings are: Ready -> Uploaded.
// They are the files under its path: its children, and the recordings of
// an earlier version of the ZIP still to be read from this one.
func (a *Agent) awaitZip(_ context.Context, r *jobRun) error {
	left, err := a.store.ActiveUnder(r.j.Source, r.j.Path+"/")
	if err != nil {
		return fmt.Errorf("ZIP %s: %w", r.j.Path, err)
	}
	if left > 0 {
		// Look again sooner the fewer are left: a few looks more, each a
		// walk of the ZIP's children, rather than up to zipRecheck idle
		// after the last one.
		wait := min(zipRecheck, max(time.Duration(left)*zipRecheckPer, zipRecheckMin))
		return waiting{a.now().Add(wait), fmt.Sprintf("%d recordings of the ZIP are not finished", left)}
	}
	a.zips.drop(r.j.ID)
	r.j.State = store.Uploaded
	return nil
}

// zipEntry finds the child's ZIP and the entry's name in it.
func (a *Agent) zipEntry(r *jobRun) (parent *store.Job, name string, err error) {
	parent, err = a.store.Get(r.j.Parent)
	if err != nil {
		return nil, "", parked{fmt.Sprintf("the ZIP it came from (job %d) is gone: %v", r.j.Parent, err)}
	}
	name, ok := strings.CutPrefix(r.j.Path, parent.Path+"/")
	if !ok || name == "" {
		return nil, "", parked{fmt.Sprintf("path %q is not inside its ZIP %q", r.j.Path, parent.Path)}
	}
	return parent, name, nil
}

// openParent opens the ZIP a child came from: the ZIP's spool copy, or
// the source's file.
func (a *Agent) openParent(r *jobRun, parent *store.Job) (*os.File, error) {
	if parent.Spool != "" {
		return openFile(filepath.Dir(parent.Spool), filepath.Base(parent.Spool))
	}
	return r.src.Open(parent)
}

// errZipChanged: the ZIP's file is not the version its job was made for.
var errZipChanged = errors.New("the ZIP changed since it was found")

// entry finds a ZIP child's recording in its ZIP, opening the ZIP if it is
// not open; release gives the archive back. Its errors are outcomes: the
// ZIP gone or changed skips the recording (a changed ZIP is a new job of
// its own), a refused one parks it.
func (a *Agent) entry(r *jobRun) (z *bulk.Archive, en bulk.Entry, release func(), err error) {
	parent, name, err := a.zipEntry(r)
	if err != nil {
		return nil, en, nil, err
	}
	z, entries, release, err := a.zips.get(r.cfg, parent, func() (*os.File, error) { return a.openParent(r, parent) })
	if errors.Is(err, errZipChanged) {
		// The ZIP was written again. Its new version is a job of its own,
		// whose expansion found this recording already known (Expand):
		// the recording is read from that version if it is still there
		// unchanged, and that job waits for it (awaitZip).
		if latest, lerr := a.store.Latest(parent.Source, parent.Path); lerr == nil && latest.ID != parent.ID && latest.Kind == store.Zip {
			z, entries, release, err = a.zips.get(r.cfg, latest, func() (*os.File, error) { return a.openParent(r, latest) })
		}
	}
	var rf *bulk.Refused
	switch {
	case err == nil:
	case errors.Is(err, errZipChanged):
		return nil, en, nil, skipped{"the ZIP it came from changed since it was found; its new version is queued"}
	case errors.Is(err, fs.ErrNotExist):
		return nil, en, nil, skipped{"the ZIP it came from no longer exists"}
	case errors.Is(err, tree.ErrLink):
		return nil, en, nil, skipped{"the ZIP it came from, or a folder above it, is now a symbolic link, which is not followed"}
	case errors.As(err, &rf):
		return nil, en, nil, refusal(parent.Path, err)
	default:
		return nil, en, nil, fileError{fmt.Errorf("read the ZIP %s: %w", parent.Path, err)}
	}
	en, ok := entries[name]
	if !ok {
		release()
		return nil, en, nil, parked{fmt.Sprintf("entry %q is no longer in the ZIP", name)}
	}
	if en.Size != r.j.Size {
		release()
		return nil, en, nil, parked{fmt.Sprintf("entry %q is %d bytes in the ZIP, not the %d it was found with", name, en.Size, r.j.Size)}
	}
	return z, en, release, nil
}

// entryBody is the upload body of a ZIP child read from its ZIP: the
// recording streamed, checked as it is read (see bulk.Archive.Open).
func (a *Agent) entryBody(r *jobRun) upload.Body {
	return upload.Body{
		Name: fileName(r.j),
		Size: r.j.Size,
		Open: func() (io.ReadCloser, error) {
			z, en, release, err := a.entry(r)
			if err != nil {
				return nil, err
			}
			rc, err := z.Open(en.Index)
			if err != nil {
				release()
				return nil, err
			}
			return &heldReader{ReadCloser: rc, release: release}, nil
		},
	}
}

// heldReader is an entry's reader that gives its archive back on Close.
type heldReader struct {
	io.ReadCloser
	release func()
}

func (h *heldReader) Close() error {
	err := h.ReadCloser.Close()
	if h.release != nil {
		h.release()
		h.release = nil
	}
	return err
}

// inZip reports whether the job's file is read from its ZIP: a ZIP's
// recording with no spool copy (one extracted by an older version has).
func inZip(j *store.Job) bool { return j.Parent != 0 && j.Spool == "" }

// zipRow finds the row of a ZIP child in its ZIP's metadata.csv, by the
// entry's base name (exactly, then ignoring case). The manifest is read
// once per ZIP version, through the manifests cache.
func (a *Agent) zipRow(mc *manifests, m *config.Metadata, r *jobRun) (*meta.Row, string, []string) {
	parent, name, err := a.zipEntry(r)
	if err != nil {
		return nil, "", nil
	}
	mname := parent.Path + "/metadata.csv"
	man, err := mc.cached(fmt.Sprintf("zip %d", parent.ID), parent.Size, parent.ModTime, m, func() (*meta.Manifest, error) {
		z, entries, release, err := a.zips.get(r.cfg, parent, func() (*os.File, error) { return a.openParent(r, parent) })
		if err != nil {
			return nil, err
		}
		defer release()
		for _, e := range entries {
			if e.Kind != bulk.Manifest {
				continue
			}
			if e.Size > maxZipManifest {
				return nil, fmt.Errorf("it is %d bytes, over %d", e.Size, maxZipManifest)
			}
			var buf bytes.Buffer
			if _, err := z.Extract(context.Background(), e.Index, &buf); err != nil {
				return nil, err
			}
			return meta.ReadManifest(mname, &buf, meta.ManifestOptions{Columns: m.Columns, FilenameColumn: m.FilenameColumn})
		}
		return nil, nil
	})
	if err != nil {
		return nil, "", []string{fmt.Sprintf("%s: cannot be read: %v", mname, err)}
	}
	if man == nil {
		return nil, "", nil
	}
	row, ok := man.Lookup(path.Base(name))
	if !ok {
		return nil, "", nil
	}
	return row, mname, nil
}
