package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vela-agent/vela-agent/agent/bulk"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/meta/audio"
	"github.com/vela-agent/vela-agent/agent/tree"
	"github.com/vela-agent/vela-agent/store"
)

// manifestNames are the names of folder manifests, in the order they are
// consulted: the first that names a recording describes it.
var manifestNames = []string{"metadata.csv", "metadata.tsv", "metadata.json"}

// kindOf says what a file found in source sc is: in a chats source a chat
// file; else a folder manifest (metadata.csv, .tsv or .json, whatever
// include says), a bulk ZIP, or a call.
func kindOf(sc config.Source, rel string) store.Kind {
	switch {
	case sc.Chats():
		return store.Chat
	case isManifest(rel):
		return store.Manifest
	case strings.EqualFold(path.Ext(rel), ".zip"):
		return store.Zip
	}
	return store.Call
}

func isManifest(rel string) bool {
	base := strings.ToLower(path.Base(rel))
	for _, n := range manifestNames {
		if base == n {
			return true
		}
	}
	return false
}

// watchPatterns returns the include patterns a source's watcher offers:
// the source's own, and for calls the manifests, which are read whatever
// include says. An empty include offers everything already.
func watchPatterns(sc config.Source) []string {
	if len(sc.Include) == 0 || sc.Chats() {
		return sc.Include
	}
	return append(append([]string(nil), sc.Include...), manifestNames...)
}

// manifestRecheck is how often a call waiting for its manifest row
// (metadata.manifest_wait) looks again.
var manifestRecheck = 2 * time.Second

// waiting: the job is not ready to go on yet and looks again at until;
// not a failure.
type waiting struct {
	until time.Time
	why   string
}

func (e waiting) Error() string { return e.why }

// rulesFor returns the metadata rules of the source sc under cfg.
func rulesFor(cfg *config.Config, sc config.Source) (*meta.Rules, error) {
	m := sc.Meta()
	if sc.Name == "" { // files given to push from outside every source
		m = &cfg.Metadata
	}
	order, err := meta.ParseDateOrder(m.DateOrder)
	if err != nil {
		return nil, err // Load refuses it
	}
	r := &meta.Rules{
		Global:        cfg.Metadata.Defaults,
		SourceName:    sc.Name,
		Pattern:       m.Pattern(),
		Dates:         meta.DateRules{Layouts: m.DateLayouts, Order: order, Zone: m.Location()},
		TagsSeparator: m.TagsSeparator,
		Strict:        m.Strict,
		StrictDates:   m.StrictDates,
	}
	if sc.Metadata != nil {
		r.Source = sc.Metadata.Defaults
	}
	return r, nil
}

// folder is where a call's manifests and sidecar are read from: a local
// source's own folder, or, for a source that stages its files, the copies
// of its manifests under the state directory.
type folder struct {
	root   string
	staged bool // root holds copies (manifestCopy), not the source's tree
}

// metaFolder returns the folder of j's manifests.
func metaFolder(cfg *config.Config, sc config.Source, j *store.Job) folder {
	switch {
	case j.Source == PushSource:
		return folder{root: filepath.Dir(filepath.FromSlash(j.Path))}
	case sc.IsFTP():
		return folder{root: filepath.Join(cfg.StateDir, "manifests", sc.Name), staged: true}
	}
	return folder{root: sc.Path}
}

// manifestCopy is where the copy of a staged source's manifest at rel is
// kept: one folder per source folder, named by a hash of its path so that
// no remote name ever becomes a local one.
func manifestCopy(root, rel string) string {
	sum := sha256.Sum256([]byte(path.Dir(rel)))
	return filepath.Join(root, hex.EncodeToString(sum[:12]), strings.ToLower(path.Base(rel)))
}

// manifests caches parsed manifests by file and version, so that a folder
// of 10,000 calls parses its manifest once per change, not once per call.
// It holds at most maxManifests, dropping the least recently used.
type manifests struct {
	mu   sync.Mutex // guards m and tick
	m    map[string]*cachedManifest
	tick uint64
}

var maxManifests = 64

// manifestRetry is how long a manifest that could not be read is not
// tried again at the same version: a permission fixed without touching the
// file is picked up, and a broken manifest is not reread once per call.
var manifestRetry = 30 * time.Second

type cachedManifest struct {
	ready chan struct{} // closed once man, err and read are set, which are then never written again
	read  time.Time
	size  int64
	mod   time.Time
	opts  *config.Metadata // the block it was read with: a reload reads it again
	man   *meta.Manifest
	err   error
	used  uint64
}

// load returns the manifest at file, nil when there is none; name is how
// messages name it (its path in the source). open and lstat read it
// without following links.
func (c *manifests) load(file, name string, m *config.Metadata, lstat func() (fs.FileInfo, error), open func() (*os.File, error)) (*meta.Manifest, error) {
	fi, err := lstat()
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, tree.ErrLink) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	return c.cached(file, fi.Size(), fi.ModTime(), m, func() (*meta.Manifest, error) { return readManifest(name, m, open) })
}

// cached returns the manifest cached under key at this version (size and
// mod), or reads it with read and caches it. read may return a nil
// manifest (there is none), which is cached too.
func (c *manifests) cached(key string, size int64, mod time.Time, m *config.Metadata, read func() (*meta.Manifest, error)) (*meta.Manifest, error) {
	c.mu.Lock()
	c.tick++
	if e, ok := c.m[key]; ok && e.size == size && e.mod.Equal(mod) && e.opts == m && !e.retry() {
		e.used = c.tick
		c.mu.Unlock()
		<-e.ready // another worker may be reading it: one parse per version
		return e.man, e.err
	}
	if c.m == nil {
		c.m = map[string]*cachedManifest{}
	}
	if len(c.m) >= maxManifests {
		var oldest string
		var at uint64
		for k, e := range c.m {
			if oldest == "" || e.used < at {
				oldest, at = k, e.used
			}
		}
		delete(c.m, oldest)
	}
	e := &cachedManifest{ready: make(chan struct{}), size: size, mod: mod, opts: m, used: c.tick}
	c.m[key] = e
	c.mu.Unlock()

	e.man, e.err = read()
	e.read = time.Now()
	close(e.ready)
	return e.man, e.err
}

// retry reports whether e failed to be read long enough ago to be tried
// again. It does not wait for a read in progress.
func (e *cachedManifest) retry() bool {
	select {
	case <-e.ready:
		return e.err != nil && time.Since(e.read) > manifestRetry
	default:
		return false
	}
}

func readManifest(name string, m *config.Metadata, open func() (*os.File, error)) (*meta.Manifest, error) {
	f, err := open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return meta.ReadManifest(name, f, meta.ManifestOptions{Columns: m.Columns, FilenameColumn: m.FilenameColumn})
}

// lookup finds the manifest row naming the call at rel: in the call's own
// folder first, then in each folder above it up to the source's root
// (names there are relative to that folder). It returns the row, the
// manifest's name as explain shows it, and warnings about manifests that
// could not be read.
func (c *manifests) lookup(fd folder, m *config.Metadata, rel string) (row *meta.Row, name string, warnings []string) {
	for dir := path.Dir(rel); ; dir = path.Dir(dir) {
		for _, n := range manifestNames {
			mrel := path.Join(dir, n)
			file := filepath.Join(fd.root, filepath.FromSlash(mrel))
			lstat := func() (fs.FileInfo, error) { return tree.Lstat(fd.root, mrel) }
			open := func() (*os.File, error) { return tree.Open(fd.root, mrel) }
			if fd.staged {
				file = manifestCopy(fd.root, mrel)
				lstat = func() (fs.FileInfo, error) { return os.Lstat(file) }
				open = func() (*os.File, error) { return os.Open(file) }
			}
			man, err := c.load(file, mrel, m, lstat, open)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("%s: cannot be read: %v", mrel, err))
				continue
			}
			if man == nil {
				continue
			}
			name := rel
			if dir != "." {
				name = strings.TrimPrefix(rel, dir+"/")
			}
			if r, ok := man.Lookup(name); ok {
				return r, mrel, warnings
			}
		}
		if dir == "." || dir == "/" {
			return nil, "", warnings
		}
	}
}

// sidecar reads <stem>.json next to the call, if there is one. Staged
// sources have none (sidecars are read from local folders only).
func sidecar(fd folder, rel string) (fields map[string]any, name string, warnings []string) {
	if fd.staged {
		return nil, "", nil
	}
	name = strings.TrimSuffix(rel, path.Ext(rel)) + ".json"
	f, err := tree.Open(fd.root, name)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, tree.ErrLink):
		return nil, "", nil
	case err != nil:
		return nil, "", []string{fmt.Sprintf("sidecar %s: cannot be read: %v", name, err)}
	}
	defer f.Close()
	fields, problems, err := meta.ReadSidecar(f)
	if err != nil {
		return nil, "", []string{fmt.Sprintf("sidecar %s: %v; not used", name, err)}
	}
	for _, p := range problems {
		warnings = append(warnings, fmt.Sprintf("sidecar %s: %s", name, p))
	}
	return fields, name, warnings
}

// callMeta builds the metadata of the call j. It returns waiting when the
// call is to wait for a manifest row (metadata.manifest_wait) at now;
// a zero now never waits.
// inZip, if set, finds the row of a ZIP's recording in its ZIP's manifest,
// instead of the folder manifests and the sidecar.
func callMeta(mc *manifests, now time.Time, cfg *config.Config, sc config.Source, j *store.Job, inZip func(*config.Metadata) (*meta.Row, string, []string)) (meta.Result, error) {
	rules, err := rulesFor(cfg, sc)
	if err != nil {
		return meta.Result{}, parked{err.Error()}
	}
	m := sc.Meta()
	if sc.Name == "" {
		m = &cfg.Metadata
	}
	fd := metaFolder(cfg, sc, j)
	rel := j.Path
	if j.Source == PushSource {
		rel = path.Base(j.Path)
	}
	in := meta.Input{Path: rel, ModTime: j.ModTime}
	var warnings []string
	if inZip != nil {
		in.Row, in.Manifest, warnings = inZip(m)
		res := rules.Describe(in)
		res.Warnings = append(warnings, res.Warnings...)
		if in.Row != nil && in.Row.Err == nil {
			res.FileName = path.Base(in.Row.Name) // the manifest's spelling
		}
		return res, nil
	}
	in.Row, in.Manifest, warnings = mc.lookup(fd, m, rel)
	if in.Row == nil && m.ManifestWait > 0 && !now.IsZero() {
		if deadline := j.Created.Add(m.ManifestWait.D()); now.Before(deadline) {
			next := now.Add(manifestRecheck)
			if next.After(deadline) {
				next = deadline
			}
			return meta.Result{}, waiting{next, "waiting up to metadata.manifest_wait (" + m.ManifestWait.D().String() + ") for a manifest row naming the file"}
		}
		warnings = append(warnings, "no manifest row names the file after metadata.manifest_wait ("+m.ManifestWait.D().String()+"); sent with what is known")
	}
	var more []string
	in.Sidecar, in.SidecarName, more = sidecar(fd, rel)
	res := rules.Describe(in)
	res.Warnings = append(append(warnings, more...), res.Warnings...)
	return res, nil
}

// probe reads what audio the call's file holds and applies the policy:
// formats Vela does not take are skipped, files whose content is not what
// their name says are parked, and calls shorter than upload.min_duration
// are skipped.
func probe(cfg *config.Config, name string, f io.ReaderAt, size int64) (audio.Info, error) {
	want, ok := audio.FormatOf(name)
	if !ok {
		return audio.Info{}, skipped{fmt.Sprintf("%q is not a format Vela takes (WAV, MP3, M4A or FLAC)", path.Ext(name))}
	}
	info, err := audio.Probe(f, size)
	var ce *audio.CorruptError
	var rf *bulk.Refused
	switch {
	case errors.As(err, &rf):
		return info, parked{fmt.Sprintf("the recording cannot be read from its ZIP: %v", rf)}
	case errors.Is(err, audio.ErrNotAudio):
		what := strings.TrimPrefix(err.Error(), audio.ErrNotAudio.Error()+": ")
		return info, parked{fmt.Sprintf("named %s but holds %s, not audio", path.Ext(name), what)}
	case errors.As(err, &ce):
		return info, parked{fmt.Sprintf("damaged %s file: %s", strings.ToUpper(string(ce.Format)), ce.Reason)}
	case err != nil:
		return info, fileError{fmt.Errorf("read %s: %w", name, err)}
	case info.Format != want:
		return info, parked{fmt.Sprintf("named %s but holds %s audio; rename it so that Vela reads it right", path.Ext(name), strings.ToUpper(string(info.Format)))}
	}
	if min := cfg.Upload.MinDuration.D(); min > 0 && info.Duration < min {
		return info, skipped{fmt.Sprintf("call is %s long, shorter than upload.min_duration (%s)", info.Duration.Round(100*time.Millisecond), min)}
	}
	return info, nil
}

// maxMissing is how many rows naming absent files a manifest's warnings
// list by name.
const maxMissing = 10

// missingRows names the rows of a local manifest whose files are not in
// its folder when it is read: a call that never arrives, or a misspelt
// name. Staged sources are not checked (their files are on the server).
func missingRows(fd folder, rel string, man *meta.Manifest) []string {
	if fd.staged {
		return nil
	}
	dir := path.Dir(rel)
	var missing []string
	var folded map[string]bool // the folder's names, lower-cased, read once if needed
	n := 0
	for _, name := range man.Names() {
		_, err := tree.Lstat(fd.root, path.Join(dir, name))
		if !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if folded == nil {
			folded = map[string]bool{}
			if entries, err := os.ReadDir(filepath.Join(fd.root, filepath.FromSlash(dir))); err == nil {
				for _, e := range entries {
					folded[strings.ToLower(e.Name())] = true
				}
			}
		}
		if !strings.Contains(name, "/") && folded[strings.ToLower(name)] {
			continue // rows match names case-insensitively too
		}
		n++
		if len(missing) < maxMissing {
			missing = append(missing, strconv.Quote(name))
		}
	}
	if n == 0 {
		return nil
	}
	more := ""
	if n > len(missing) {
		more = fmt.Sprintf(" and %d more", n-len(missing))
	}
	if n == 1 {
		return []string{"1 row names a file that is not in the folder (yet): " + missing[0]}
	}
	return []string{fmt.Sprintf("%d rows name files that are not in the folder (yet): %s%s", n, strings.Join(missing, ", "), more)}
}

// readManifest reads a folder manifest that settled: Queued (or Staged) ->
// Done. Calls read manifests themselves, through the cache, when they are
// described; this step reads it once when it arrives or changes, so that
// its problems are reported at once (in the job's warnings and the log),
// and, for a source that stages its files, keeps the copy calls read.
func (a *Agent) readManifest(_ context.Context, r *jobRun) error {
	j := r.j
	sc, _ := r.cfg.Source(j.Source)
	m := sc.Meta()
	fd := metaFolder(r.cfg, sc, j)
	var man *meta.Manifest
	var err error
	if j.Spool != "" {
		dst := manifestCopy(fd.root, j.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("keep manifest %s: %w", j.Path, err)
		}
		if err := os.Rename(j.Spool, dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("keep manifest %s: %w", j.Path, err)
		}
		man, err = a.manifests.load(dst, j.Path, m, func() (fs.FileInfo, error) { return os.Lstat(dst) }, func() (*os.File, error) { return os.Open(dst) })
	} else {
		if err := a.current(r, "read"); err != nil {
			return err
		}
		file := filepath.Join(fd.root, filepath.FromSlash(j.Path))
		man, err = a.manifests.load(file, j.Path, m, func() (fs.FileInfo, error) { return r.stat() }, r.open)
	}
	switch {
	case err != nil:
		return parked{fmt.Sprintf("manifest cannot be read: %v", err)}
	case man == nil:
		return skipped{"file no longer exists"}
	}
	j.Warnings = append(slices.Clip(man.Problems), missingRows(fd, j.Path, man)...)
	for _, p := range j.Warnings {
		a.log.Warn("manifest", "file", j.Path, "problem", p)
		a.track.warn(j, p)
	}
	a.log.Info("manifest read", "file", j.Path, "rows", man.Len(), "problems", len(man.Problems))
	j.State = store.Done
	return nil
}
