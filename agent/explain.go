package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vela-agent/vela-agent/agent/bulk"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/tree"
	"github.com/vela-agent/vela-agent/store"
)

// Explanation is what the agent would do with one file and send for it,
// worked out without sending anything: `vela-agent explain`.
type Explanation struct {
	File   string `json:"file"`
	Source string `json:"source,omitempty"` // "" for a file outside every source
	Kind   string `json:"kind"`
	// Outcome is "upload", or "skip: REASON", "park: REASON", "error: ..."
	Outcome  string `json:"outcome"`
	FileName string `json:"fileName,omitempty"` // the name Vela is given
	Format   string `json:"format,omitempty"`
	// Duration is the call's length in seconds, read from the audio.
	Duration float64 `json:"duration_seconds,omitempty"`
	// Fields are the metadata sent, each with the rule that gave it.
	Fields   map[string]meta.Field `json:"fields,omitempty"`
	Warnings []string              `json:"warnings,omitempty"`
	// Rows is the number of recordings a manifest names, or a ZIP holds.
	Rows int `json:"rows,omitempty"`
}

// MetaFields returns the names of the call metadata fields, in the order
// explain shows them.
func MetaFields() []string { return slices.Clone(meta.Fields) }

// Explain works out, for each file, what the agent would send for it under
// cfg, with the same rules and checks as the describe step. Files inside a
// local source are explained as that source's; others with the top-level
// metadata block, as push would send them.
func Explain(cfg *config.Config, files []string) []Explanation {
	var mc manifests
	out := make([]Explanation, 0, len(files))
	for _, f := range files {
		out = append(out, explain(&mc, cfg, f))
	}
	return out
}

func explain(mc *manifests, cfg *config.Config, file string) Explanation {
	e := Explanation{File: file}
	abs, err := filepath.Abs(file)
	if err != nil {
		e.Outcome = "error: " + err.Error()
		return e
	}
	j := &store.Job{Source: PushSource, Path: filepath.ToSlash(abs)}
	var sc config.Source
	root, rel := filepath.Dir(abs), filepath.Base(abs)
	for _, s := range cfg.Sources {
		if s.IsFTP() {
			continue
		}
		if r, ok := inside(s.Path, abs); ok {
			sc, j.Source, j.Path = s, s.Name, r
			root, rel = s.Path, filepath.FromSlash(r)
			break
		}
	}
	if j.Source != PushSource {
		e.Source = sc.Name
	}
	j.Kind = kindOf(sc, j.Path)
	if j.Source == PushSource {
		j.Kind = store.Call // push sends every file as a call
	}
	e.Kind = j.Kind.String()
	fi, err := tree.Lstat(root, rel)
	switch {
	case errors.Is(err, tree.ErrLink):
		e.Outcome = "skip: " + notFollowed
		return e
	case err != nil:
		e.Outcome = "error: " + err.Error()
		return e
	case !fi.Mode().IsRegular():
		e.Outcome = "skip: not a regular file"
		return e
	}
	j.Size, j.ModTime = fi.Size(), fi.ModTime()

	if j.Kind == store.Manifest {
		man, err := mc.load(abs, j.Path, sc.Meta(), func() (fs.FileInfo, error) { return tree.Lstat(root, rel) }, func() (*os.File, error) { return tree.Open(root, rel) })
		if err != nil {
			e.Outcome = "park: manifest cannot be read: " + err.Error()
			return e
		}
		e.Outcome, e.Rows, e.Warnings = "read", man.Len(), man.Problems
		return e
	}

	if j.Kind == store.Zip {
		explainZip(&e, cfg, root, rel, j.Size)
		return e
	}
	if j.Kind == store.Chat {
		e.Outcome = "post: chat transcripts (explain shows calls' metadata only)"
		return e
	}

	e.FileName = fileName(j)
	switch {
	case j.Size == 0:
		e.Outcome = "skip: empty file"
		return e
	case j.Size > int64(cfg.Upload.MaxFileSize):
		e.Outcome = fmt.Sprintf("park: file is %d bytes, over upload.max_file_size", j.Size)
		return e
	}
	f, err := tree.Open(root, rel)
	if err != nil {
		e.Outcome = "error: " + err.Error()
		return e
	}
	info, err := probe(cfg, j.Path, f, j.Size)
	f.Close()
	e.Format, e.Duration = string(info.Format), info.Duration.Round(100*time.Millisecond).Seconds()
	if o := outcome(err); o != "" {
		e.Outcome = o
		return e
	}
	res, err := callMeta(mc, time.Time{}, cfg, sc, j, nil)
	if o := outcome(err); o != "" {
		e.Outcome = o
		return e
	}
	e.Fields, e.Warnings = res.Fields, res.Warnings
	e.Outcome = "upload"
	if res.Park != "" {
		e.Outcome = "park: metadata: " + res.Park
	}
	return e
}

// outcome words a step's error as explain shows it; "" for none.
func outcome(err error) string {
	var (
		pk parked
		sk skipped
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &sk):
		return "skip: " + sk.reason
	case errors.As(err, &pk):
		return "park: " + pk.reason
	}
	return "error: " + err.Error()
}

// explainZip says whether a bulk ZIP would be expanded, and how many
// recordings it holds.
func explainZip(e *Explanation, cfg *config.Config, root, rel string, size int64) {
	f, err := tree.Open(root, rel)
	if err != nil {
		e.Outcome = "error: " + err.Error()
		return
	}
	defer f.Close()
	z, err := openZip(cfg, f, size)
	if err == nil {
		err = z.Verify(context.Background())
	}
	if err != nil {
		e.Outcome = outcome(refusal(rel, err))
		return
	}
	for _, en := range z.Entries() {
		switch {
		case en.Kind == bulk.Manifest:
		case en.Skip != "":
			e.Warnings = append(e.Warnings, fmt.Sprintf("entry %q skipped: %s", en.Name, en.Skip))
		case en.Kind != bulk.Recording:
			e.Warnings = append(e.Warnings, fmt.Sprintf("entry %q skipped: not a recording", en.Name))
		default:
			e.Rows++
		}
	}
	e.Outcome = fmt.Sprintf("expand: %d recordings, each uploaded on its own", e.Rows)
}
