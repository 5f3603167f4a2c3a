package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vela-agent/vela-agent/store"
	"github.com/vela-agent/vela-agent/watcher"
)

// pushExtensions are the files taken from a folder given to push; a file
// named on its own is always taken.
var pushExtensions = []string{".wav", ".mp3", ".m4a", ".flac"}

// Pushed is one file given to push and the job that carries it.
type Pushed struct {
	Path string // absolute
	Job  uint64 // 0 if the file was uploaded long enough ago to be pruned
}

// QueueFiles queues files and folders (walked recursively) given on the
// command line as jobs of PushSource. A version already queued or uploaded
// is not queued again; its existing job is returned.
func (a *Agent) QueueFiles(paths []string) ([]Pushed, error) {
	var found []store.Found
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("push %s: %w", p, err)
		}
		if !fi.IsDir() {
			found = append(found, a.pushFound(abs, fi))
			continue
		}
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if path != abs && watcher.Ignored(name) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.Type().IsRegular() || !hasExt(name, pushExtensions) {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			found = append(found, a.pushFound(path, fi))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("push %s: %w", p, err)
		}
	}
	if len(found) == 0 {
		return nil, errors.New("push: no recordings found (folders are searched for " + strings.Join(pushExtensions, ", ") + ")")
	}
	if _, err := a.store.Add(found); err != nil {
		return nil, err
	}
	out := make([]Pushed, len(found))
	for i, f := range found {
		out[i].Path = filepath.FromSlash(f.Path)
		j, err := a.store.Latest(f.Source, f.Path)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			out[i].Job = j.ID
		}
	}
	a.wake.Broadcast()
	return out, nil
}

// pushFound is the job for a pushed file: a file inside a configured
// source is that source's file, under the key its watcher would give it,
// so that it is never uploaded twice; any other is PushSource's.
func (a *Agent) pushFound(abs string, fi fs.FileInfo) store.Found {
	f := store.Found{Source: PushSource, Path: filepath.ToSlash(abs), Size: fi.Size(), ModTime: fi.ModTime(), Kind: store.Call}
	for _, sc := range a.config().Sources {
		if sc.IsFTP() {
			continue
		}
		if rel, ok := inside(sc.Path, abs); ok {
			f.Source, f.Path = sc.Name, rel
			break
		}
	}
	return f
}

// inside returns abs's slash-separated path relative to root, if abs lies
// below root (compared as given, then with links resolved).
func inside(root, abs string) (string, bool) {
	try := func(root, abs string) (string, bool) {
		rel, err := filepath.Rel(root, abs)
		if err != nil || !filepath.IsLocal(rel) {
			return "", false
		}
		return filepath.ToSlash(rel), true
	}
	if rel, ok := try(filepath.Clean(root), abs); ok {
		return rel, true
	}
	r, err1 := filepath.EvalSymlinks(root)
	p, err2 := filepath.EvalSymlinks(abs)
	if err1 != nil || err2 != nil {
		return "", false
	}
	return try(r, p)
}

func hasExt(name string, exts []string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range exts {
		if ext == e {
			return true
		}
	}
	return false
}
