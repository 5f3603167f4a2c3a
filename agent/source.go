package agent

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/tree"
	"github.com/vela-agent/vela-agent/store"
	"github.com/vela-agent/vela-agent/watcher"
)

// Source is a place files come from, as the agent uses it. The local
// folder (localSource, on watcher.Local) is one; a remote source (FTP)
// also implements Stager. A source never touches the store: it reports
// what it found, and acts on a job's file when the agent asks.
type Source interface {
	// Run reports settled files on found until ctx ends. It is called at
	// most once; the supervisor owns the goroutine.
	Run(ctx context.Context, found chan<- []watcher.File) error
	// Forget makes the source offer path again on its next scan, whether
	// or not it changed (its job could not be queued, or a new version of
	// the file is to be taken).
	Forget(path string)
	// Status says how the source watches and what an admin must fix.
	Status() SourceStatus
	// Stats returns the source's figures for monitoring.
	Stats() watcher.Stats
	// Stat describes the job's file as it is now, following no link.
	Stat(j *store.Job) (fs.FileInfo, error)
	// Open opens the job's file for reading, following no link.
	Open(j *store.Job) (*os.File, error)
	// Finish applies the source's after_upload action to the uploaded
	// file: keep, delete or move. It may be called again after a failure
	// or a crash, and must then do nothing twice.
	Finish(ctx context.Context, j *store.Job) error
}

// Stager is a Source whose files are copied to this machine before they
// are described and uploaded (FTP). Stage downloads the job's file to
// spool, resuming a partial copy; the agent then reads the spool copy.
type Stager interface {
	Source
	Stage(ctx context.Context, j *store.Job, spool string) error
}

var (
	_ Source = (*localSource)(nil)
	_ Source = pushSource{}
)

// localSource is a watched local folder.
type localSource struct {
	cfg config.Source
	w   *watcher.Local // nil when the agent does not watch (push)
	log *slog.Logger
	// known reports whether the queue holds the file at path of source
	// in this size and modification time already: the watcher then
	// remembers it as offered without sending it (watcher.Options.Known),
	// so that a restart on a big tree re-offers nothing. nil means the
	// watcher offers every file it has no memory of. Set it before Run.
	known func(source, path string, size int64, mtime time.Time) bool
}

// newLocalSource makes the source sc configures; it watches sc's folder if
// watch. Set its known before Run (supervisor.newSource does).
func newLocalSource(sc config.Source, watch bool, log *slog.Logger) (*localSource, error) {
	s := &localSource{cfg: sc, log: log}
	if !watch {
		return s, nil
	}
	w, err := watcher.New(watcher.Options{
		Name:           sc.Name,
		Root:           sc.Path,
		Recursive:      sc.Recurse(),
		Include:        watchPatterns(sc),
		Exclude:        sc.Exclude,
		Settle:         sc.Settle.D(),
		RescanInterval: sc.RescanInterval.D(),
		Poll:           sc.Poll,
		Logger:         log,
		Known:          s.isKnown,
	})
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", sc.Name, err)
	}
	s.w = w
	return s, nil
}

// isKnown is the watcher's Options.Known: s.known of this source.
func (s *localSource) isKnown(rel string, size int64, mtime time.Time) bool {
	return s.known != nil && s.known(s.cfg.Name, rel, size, mtime)
}

func (s *localSource) Run(ctx context.Context, found chan<- []watcher.File) error {
	if s.w == nil {
		<-ctx.Done()
		return nil
	}
	return s.w.Run(ctx, found)
}

func (s *localSource) Forget(path string) {
	if s.w != nil {
		s.w.Forget(path)
	}
}

func (s *localSource) Status() SourceStatus {
	ss := SourceStatus{Name: s.cfg.Name, Path: s.cfg.Path}
	if s.w != nil {
		ss.Mode, ss.Reason = s.w.Mode()
		ss.Problem = s.w.Problem()
	}
	return ss
}

func (s *localSource) Stats() watcher.Stats {
	if s.w == nil {
		return watcher.Stats{}
	}
	return s.w.Stats()
}

func (s *localSource) rel(j *store.Job) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(j.Path)) {
		return "", parked{fmt.Sprintf("path %q leaves source %s", j.Path, j.Source)}
	}
	return j.Path, nil
}

func (s *localSource) Stat(j *store.Job) (fs.FileInfo, error) {
	rel, err := s.rel(j)
	if err != nil {
		return nil, err
	}
	return tree.Lstat(s.cfg.Path, rel)
}

func (s *localSource) Open(j *store.Job) (*os.File, error) {
	rel, err := s.rel(j)
	if err != nil {
		return nil, err
	}
	return openFile(s.cfg.Path, rel)
}

func (s *localSource) Finish(_ context.Context, j *store.Job) error {
	rel, err := s.rel(j)
	if err != nil {
		return nil // nothing of ours to act on
	}
	switch {
	case s.cfg.AfterUpload == "delete":
		return tree.Remove(s.cfg.Path, rel)
	case s.cfg.MoveDir() != "":
		dst, err := tree.Move(s.cfg.Path, rel, s.cfg.MoveDir())
		if err == nil && dst != filepath.Join(s.cfg.MoveDir(), filepath.FromSlash(rel)) {
			s.log.Info("moved under another name: one by that name is there already", "file", j.Path, "to", dst)
		}
		return err
	}
	return nil
}

// pushSource is where the files given to `vela-agent push` are: anywhere,
// by absolute path. They are never watched and always kept.
type pushSource struct{}

func (pushSource) Run(ctx context.Context, _ chan<- []watcher.File) error {
	<-ctx.Done()
	return nil
}

func (pushSource) Forget(string) {}

func (pushSource) Status() SourceStatus { return SourceStatus{Name: PushSource} }

func (pushSource) Stats() watcher.Stats { return watcher.Stats{} }

func (pushSource) split(j *store.Job) (dir, base string) {
	p := filepath.FromSlash(j.Path)
	return filepath.Dir(p), filepath.Base(p)
}

func (s pushSource) Stat(j *store.Job) (fs.FileInfo, error) {
	dir, base := s.split(j)
	return tree.Lstat(dir, base)
}

func (s pushSource) Open(j *store.Job) (*os.File, error) {
	dir, base := s.split(j)
	return openFile(dir, base)
}

func (pushSource) Finish(context.Context, *store.Job) error { return nil }
