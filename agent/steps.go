package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vela-agent/vela-agent/agent/bulk"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/tree"
	"github.com/vela-agent/vela-agent/agent/upload"
	"github.com/vela-agent/vela-agent/agent/vela"
	"github.com/vela-agent/vela-agent/store"
)

// PushSource is the source name of files given to `vela-agent push`. It
// cannot clash with a configured source: those names have no '@'.
const PushSource = "@push"

// Outcomes a step reports instead of a plain error.
type (
	// parked: this job cannot succeed as it is; an admin must look.
	parked struct{ reason string }
	// skipped: policy says this job is not to be uploaded.
	skipped struct{ reason string }
	// held: a remote asked for quiet until then; not a failure.
	held struct{ until time.Time }
	// fileError: the file could not be read (permission denied, an I/O
	// error). It is about this job alone: it backs off this job, never a
	// remote, and parks it after maxFileAttempts.
	fileError struct{ err error }
	// orphaned: the job's source is no longer configured. The job is kept
	// as it is and tried again after orphanRecheck.
	orphaned struct{ source string }
)

// maxFileAttempts is how often a file that cannot be read is tried before
// its job is parked.
var maxFileAttempts = 3

// orphanRecheck is how long a job whose source is gone from the
// configuration waits before it is looked at again.
var orphanRecheck = 10 * time.Minute

func (e fileError) Error() string { return e.err.Error() }
func (e fileError) Unwrap() error { return e.err }

func (e parked) Error() string  { return e.reason }
func (e skipped) Error() string { return e.reason }
func (e held) Error() string    { return "held until " + e.until.Format(time.RFC3339) }
func (e orphaned) Error() string {
	return fmt.Sprintf("source %q is no longer in the configuration; the job is kept until it is back", e.source)
}

// openFile opens a job's file for reading; a package variable so that tests
// can make a file unreadable even when they run as root.
var openFile = tree.Open

// A step moves a job of one kind out of one state, in memory; process
// commits it. Every (kind, state) a job can be claimed in has one step;
// the table below is the whole pipeline:
//
//	call    queued ─describe─> ready ─presign─> presigned ─upload─> uploaded ─finish─> done
//	call    queued ─stage─> staged ─describe─> ...   (sources that are Stagers: FTP)
//	manifest queued [─stage─> staged] ─read─> done
//	chat    queued [─stage─> staged] ─describe─> ready ─post─> uploaded ─finish─> done
//	zip     queued [─stage─> staged] ─expand─> ready ─await─> uploaded ─finish─> done
//	        (a call expanded from a ZIP is read from its ZIP, never staged; see zips.go)
//	        (post sends each chat of the file, committing each id before the next)
type step struct {
	name string
	run  func(a *Agent, ctx context.Context, r *jobRun) error
	// lane is where a job waits for this step: it decides which pause
	// gate holds it and which workers take it (calls: the upload workers,
	// held by the calls allocation; stage: the download workers, held by
	// nothing the API says).
	lane store.Lane
	// inline steps run in whichever worker holds the job, whatever their
	// lane: quick local work after a network step (a post-action). lane
	// matters for them only when the job waits for them.
	inline bool
	// saveAfter commits the job in the background once the step succeeded;
	// the next step's outside effect waits for that commit (jobRun.ready).
	saveAfter bool
	// durableFirst reports whether the job, as it is, must be committed
	// before this step's outside effect (deleting or moving the file).
	durableFirst func(r *jobRun) bool
}

// stepKey picks a step. stages is whether the job's source copies its
// files here first (a Stager) and the job has no copy yet.
type stepKey struct {
	kind   store.Kind
	state  store.State
	stages bool
}

var steps = map[stepKey]step{
	{store.Call, store.Queued, false}:    {name: "describe", run: (*Agent).describe, lane: store.LaneCalls},
	{store.Call, store.Queued, true}:     {name: "stage", run: (*Agent).stage, lane: store.LaneStage},
	{store.Call, store.Staged, false}:    {name: "describe", run: (*Agent).describe, lane: store.LaneCalls},
	{store.Call, store.Ready, false}:     {name: "presign", run: (*Agent).presign, lane: store.LaneCalls, saveAfter: true},
	{store.Call, store.Presigned, false}: {name: "upload", run: (*Agent).upload, lane: store.LaneCalls},
	{store.Call, store.Uploaded, false}:  {name: "finish", run: (*Agent).finish, lane: store.LaneLocal, inline: true, durableFirst: dropsFile},

	{store.Chat, store.Queued, false}:   {name: "describe", run: (*Agent).describeChat, lane: store.LaneLocal},
	{store.Chat, store.Queued, true}:    {name: "stage", run: (*Agent).stage, lane: store.LaneStage},
	{store.Chat, store.Staged, false}:   {name: "describe", run: (*Agent).describeChat, lane: store.LaneLocal},
	{store.Chat, store.Ready, false}:    {name: "post", run: (*Agent).postChats, lane: store.LaneChats},
	{store.Chat, store.Uploaded, false}: {name: "finish", run: (*Agent).finish, lane: store.LaneLocal, inline: true, durableFirst: dropsFile},

	{store.Zip, store.Queued, false}:   {name: "expand", run: (*Agent).expandZip, lane: store.LaneLocal},
	{store.Zip, store.Queued, true}:    {name: "stage", run: (*Agent).stage, lane: store.LaneStage},
	{store.Zip, store.Staged, false}:   {name: "expand", run: (*Agent).expandZip, lane: store.LaneLocal},
	{store.Zip, store.Ready, false}:    {name: "await", run: (*Agent).awaitZip, lane: store.LaneLocal},
	{store.Zip, store.Uploaded, false}: {name: "finish", run: (*Agent).finish, lane: store.LaneLocal, inline: true, durableFirst: dropsFile},

	{store.Manifest, store.Queued, false}: {name: "read", run: (*Agent).readManifest, lane: store.LaneLocal},
	{store.Manifest, store.Queued, true}:  {name: "stage", run: (*Agent).stage, lane: store.LaneStage},
	{store.Manifest, store.Staged, false}: {name: "read", run: (*Agent).readManifest, lane: store.LaneLocal},
}

// stepFor returns the step that moves r's job on.
func stepFor(r *jobRun) (step, bool) {
	_, stager := r.src.(Stager)
	// A ZIP's recording is read from its ZIP (staged, if its source stages).
	k := stepKey{r.j.Kind, r.j.State, stager && r.j.Parent == 0 && r.j.Spool == "" && r.j.State == store.Queued}
	st, ok := steps[k]
	return st, ok
}

// dropsFile reports whether finishing the job removes a file the upload
// needs again if a crash loses the record of it: the source's file (a
// delete or a move), or the job's spool copy.
func dropsFile(r *jobRun) bool { return r.j.Spool != "" || keepsNothing(r) }

// keepsNothing reports whether finishing the job deletes or moves its file.
func keepsNothing(r *jobRun) bool {
	if r.j.Source == PushSource {
		return false
	}
	sc, ok := r.cfg.Source(r.j.Source)
	return ok && sc.AfterUpload != "keep"
}

// jobRun is one claimed job on its way through process: the job, the
// configuration in force when it was claimed, its source, and its commits.
type jobRun struct {
	j   *store.Job
	cfg *config.Config
	src Source
	c   *commits
}

// newRun prepares a claimed job for process, with the configuration in
// force now. It fails with orphaned if the job's source is gone.
func (a *Agent) newRun(j *store.Job) (*jobRun, error) {
	r := &jobRun{j: j, cfg: a.config(), c: &commits{a: a, j: j, took: -1}}
	src, ok := a.sources.get(j.Source)
	if !ok {
		return r, orphaned{j.Source}
	}
	r.src = src
	return r, nil
}

// ready waits for the commit the last step started in the background.
func (r *jobRun) ready() error { return r.c.wait() }

// firstLane is the lane a new job of kind from a source waits in: its first
// step's.
func firstLane(kind store.Kind, src Source) store.Lane {
	_, stager := src.(Stager)
	if st, ok := steps[stepKey{kind, store.Queued, stager}]; ok {
		return st.lane
	}
	return kind.Lane()
}

// process drives a claimed job step by step until it finishes, fails,
// has to wait, or reaches a step of another pool's lanes (open are the
// lanes of the worker's pool): then it is handed over, committed in the
// lane of that step. A job released to wait goes to the lane of the step
// it waits for. Each step changes the job in memory; the job is committed
// before the steps whose outside effect a crash must not repeat blindly:
//   - the presign is committed while the upload starts, and the upload's
//     last bytes wait for that commit (Body.Ready), so the storage never
//     has the file under a key the store does not know: a crash after the
//     storage's reply repeats the upload to the same key, never to a new one;
//   - an upload the storage confirmed is committed before the worker takes
//     anything else, retrying the commit while it fails, so at most
//     upload.concurrency jobs are ever past their 2xx and not recorded;
//   - an upload is committed before a post-action deletes or moves the file.
//
// Other steps are committed with the next of those, or when the job is
// released.
func (a *Agent) process(ctx context.Context, j *store.Job, open []store.Lane) {
	defer a.wake.Broadcast()
	ctx = withJob(ctx, j.ID)
	r, err := a.newRun(j)
	c := r.c
	if err != nil {
		a.failed(ctx, j, err)
		c.commit(a.store.Release, true)
		return
	}
	for j.State.Active() {
		st, ok := stepFor(r)
		if !ok {
			a.failed(ctx, j, parked{fmt.Sprintf("no step for a %s job in state %s", j.Kind, j.State)})
			c.commit(a.store.Release, true)
			return
		}
		if !st.inline && !slices.Contains(open, st.lane) {
			j.Lane = st.lane // another pool's work, or a paused lane's
			c.commit(a.store.Release, true)
			return
		}
		if c.confirmed && st.durableFirst != nil && st.durableFirst(r) && !c.durable(ctx, a.store.Save, false) {
			return
		}
		from, start := j.State, a.now()
		err := st.run(a, ctx, r)
		if err == nil && st.saveAfter {
			c.saveInBackground()
		}
		if from == store.Presigned && j.State == store.Uploaded {
			c.took = a.now().Sub(start)
			c.confirmed = true
		}
		var hd held
		if errors.As(err, &hd) {
			// The remote asked for quiet: wait here, keeping the job,
			// rather than put every due job back one commit at a time.
			if d := hd.until.Sub(a.now()); d > 0 {
				a.sleep(ctx, nil, d)
			}
			if ctx.Err() == nil {
				continue
			}
		}
		if errors.Is(err, errReleased) {
			return
		}
		if errors.Is(err, errRestaged) {
			continue // Queued again: the stage step is next
		}
		if err != nil {
			a.failed(ctx, j, err)
			if next, ok := stepFor(r); ok && j.State.Active() {
				j.Lane = next.lane
			}
			if c.confirmed {
				// Only a post-action failed: the upload itself must be
				// recorded, whatever else happens.
				c.durable(ctx, a.store.TryRelease, true)
				return
			}
			c.commit(a.store.Release, true)
			return
		}
	}
	if c.confirmed {
		c.durable(ctx, a.store.TryRelease, true)
		return
	}
	c.commit(a.store.Release, true)
}

// commits orders one job's commits for process.
type commits struct {
	a         *Agent
	j         *store.Job
	pending   func() error  // waits for the commit running in the background
	took      time.Duration // how long the upload took, to log once committed; < 0 if nothing to log
	confirmed bool          // the storage confirmed the upload, and it is not committed yet
}

// saveInBackground starts committing the job as it is now, after the
// previous background commit, so that commits land in order.
func (c *commits) saveInBackground() {
	c.wait()
	c.pending = c.a.store.SaveAsync(c.j)
}

// wait waits for the background commit, if one runs, and returns its error.
// A failed commit is reported once, here.
func (c *commits) wait() error {
	if c.pending == nil {
		return nil
	}
	err := c.pending()
	c.pending = nil
	c.a.committed(err)
	if err != nil {
		return fmt.Errorf("%w: %w", errCommit, err)
	}
	return nil
}

// errCommit is wrapped by the errors of a step that could not go on because
// the job could not be committed: a problem of this machine's disk, not of
// a remote or the file.
var errCommit = errors.New("record the job in the state file")

// commit waits for the background commit, then makes f's. It logs the
// upload once it is committed, and tells the push command of released
// jobs. It returns f's error.
func (c *commits) commit(f func(*store.Job) error, release bool) error {
	c.wait()
	err := f(c.j)
	c.a.committed(err)
	if err != nil {
		if !errors.Is(err, store.ErrWrite) { // those are logged by health, rate-limited
			c.a.log.Error("save job", "job", c.j.ID, "file", c.j.Path, "state", c.j.State, "err", err)
		}
		return err
	}
	if c.took >= 0 {
		// Logged once committed: the line means the upload counts.
		c.a.log.Info("uploaded", "file", c.j.Path, "bytes", c.j.Size, "took", c.took.Round(time.Millisecond))
		c.took = -1
	}
	c.confirmed = false
	if release && c.a.released != nil {
		c.a.released(*c.j)
	}
	return nil
}

// durable makes f's commit of a confirmed upload, trying again while it
// fails: the confirmation lives only in memory until it lands, and losing
// it means uploading the file again. f must leave the job claimed when it
// fails (Save, TryRelease); release says whether it releases the job when
// it succeeds. durable gives up only when ctx ends, releasing the job as it
// was last committed: the next run then repeats the upload with the stored
// presign, to the same object key. It reports whether the commit landed.
func (c *commits) durable(ctx context.Context, f func(*store.Job) error, release bool) bool {
	for n := 1; ; n++ {
		err := c.commit(f, release)
		if err == nil {
			return true
		}
		if !errors.Is(err, store.ErrWrite) {
			c.a.store.Release(c.j) // refused, not failed: trying again would not help
			return false
		}
		c.a.sleep(ctx, nil, backoff(n, time.Second, 30*time.Second))
		if ctx.Err() != nil {
			c.a.log.Warn("stopping with an upload not recorded; the next start sends it again, to the same object key", "job", c.j.ID, "file", c.j.Path)
			c.a.store.Release(c.j) // gives up the claim, whether or not it lands
			return false
		}
	}
}

// committed records the outcome of a commit for the state file's health:
// only failures to write the file count, not changes the store refused.
func (a *Agent) committed(err error) {
	switch {
	case err == nil:
		a.health.ok()
	case errors.Is(err, store.ErrWrite):
		a.health.failed(err)
	}
}

// file gives access to the job's file: the spool copy once a Stager made
// one, else the source's own file.
func (r *jobRun) stat() (fs.FileInfo, error) {
	if r.j.Spool != "" {
		return tree.Lstat(filepath.Dir(r.j.Spool), filepath.Base(r.j.Spool))
	}
	return r.src.Stat(r.j)
}

func (r *jobRun) open() (*os.File, error) {
	if r.j.Spool != "" {
		return openFile(filepath.Dir(r.j.Spool), filepath.Base(r.j.Spool))
	}
	return r.src.Open(r.j)
}

// notFollowed is why a job whose file, or a folder above it, became a
// link is skipped.
const notFollowed = "the file or a folder above it is now a symbolic link, which is not followed"

// sameVersion reports whether fi is the version of the file the job is for.
func sameVersion(j *store.Job, fi fs.FileInfo) bool {
	return fi.Size() == j.Size && fi.ModTime().UnixNano() == j.ModTime.UnixNano()
}

// stage copies a remote source's file to the spool: Queued -> Staged.
func (a *Agent) stage(ctx context.Context, r *jobRun) error {
	sg, ok := r.src.(Stager)
	if !ok {
		return parked{"source " + r.j.Source + " cannot stage files"}
	}
	spool := spoolPath(r.cfg.StateDir, r.j)
	if err := os.MkdirAll(filepath.Dir(spool), 0o700); err != nil {
		return fmt.Errorf("stage %s: %w", r.j.Path, err)
	}
	if err := roomFor(filepath.Dir(spool), r.j.Source, r.j.Size); err != nil {
		return err
	}
	if err := sg.Stage(ctx, r.j, spool); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return spoolFull{source: r.j.Source, err: err}
		}
		return err
	}
	a.spoolFull.clear(r.j.Source)
	r.j.Spool, r.j.State = spool, store.Staged
	return nil
}

// errRestaged: the job's spool copy was lost, and the job is Queued to
// be staged again; not a failure.
var errRestaged = errors.New("spool copy lost: staged again")

// current checks that the job's file is still the regular file, and the
// version of it, the job was made for; op names the step for errors. A
// file that is gone, became a link or changed is skipped (a changed one is
// queued again).
func (a *Agent) current(r *jobRun, op string) error {
	fi, err := r.stat()
	if r.j.Spool != "" && r.j.State == store.Staged &&
		(errors.Is(err, fs.ErrNotExist) || err == nil && (!fi.Mode().IsRegular() || !sameVersion(r.j, fi))) {
		// The copy is lost or not the one staged (this machine crashed
		// before it reached the disk, or someone removed it): stage the
		// file again rather than skip it.
		a.log.Warn("spool copy lost or damaged; staging the file again", "file", r.j.Path, "spool", r.j.Spool)
		a.dropSpool(r.j)
		r.j.Spool, r.j.State = "", store.Queued
		return errRestaged
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return skipped{"file no longer exists"}
	case errors.Is(err, tree.ErrLink):
		return skipped{notFollowed}
	case err != nil:
		return fmt.Errorf("%s %s: %w", op, r.j.Path, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return skipped{notFollowed}
	case !fi.Mode().IsRegular():
		return skipped{"not a regular file"}
	case !sameVersion(r.j, fi):
		a.changed(r, fi)
		return skipped{"file changed since it was found; the new version is queued"}
	}
	return nil
}

// describe checks the file and builds its metadata: Queued -> Ready.
func (a *Agent) describe(_ context.Context, r *jobRun) error {
	j := r.j
	if !inZip(j) {
		if err := a.current(r, "describe"); err != nil {
			return err
		}
	}
	switch {
	case j.Size == 0:
		return skipped{"empty file"}
	case j.Size > int64(r.cfg.Upload.MaxFileSize):
		return parked{fmt.Sprintf("file is %d bytes, over upload.max_file_size (%d bytes)", j.Size, int64(r.cfg.Upload.MaxFileSize))}
	}
	// Find out now whether the file can be read and what it holds, before
	// a presign (which counts against the allocation) is spent on it.
	if err := a.probeJob(r); err != nil {
		return err
	}
	sc, _ := r.cfg.Source(j.Source)
	var inZip func(m *config.Metadata) (*meta.Row, string, []string)
	if j.Parent != 0 {
		inZip = func(m *config.Metadata) (*meta.Row, string, []string) { return a.zipRow(&a.manifests, m, r) }
	}
	res, err := callMeta(&a.manifests, a.now(), r.cfg, sc, j, inZip)
	if err != nil {
		return err
	}
	if res.Park != "" {
		return parked{"metadata: " + res.Park}
	}
	m, err := json.Marshal(res.Send())
	if err != nil {
		return parked{fmt.Sprintf("encode metadata: %v", err)}
	}
	j.Meta, j.Warnings, j.Ref = m, res.Warnings, res.FileName
	for _, w := range res.Warnings {
		a.log.Warn("metadata", "file", j.Path, "warning", w)
		a.track.warn(j, w)
	}
	j.State = store.Ready
	return nil
}

// probeJob probes the job's file: the file, or the recording in its ZIP.
func (a *Agent) probeJob(r *jobRun) error {
	j := r.j
	if inZip(j) {
		z, en, release, err := a.entry(r)
		if err != nil {
			return err
		}
		defer release()
		ra, err := z.ReaderAt(en.Index)
		if err != nil {
			return fileError{fmt.Errorf("read %s: %w", j.Path, err)}
		}
		defer ra.Close()
		_, err = probe(r.cfg, j.Path, ra, j.Size)
		return err
	}
	f, err := r.open()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return skipped{"file no longer exists"}
	case errors.Is(err, tree.ErrLink):
		return skipped{notFollowed}
	case err != nil:
		return fileError{fmt.Errorf("read %s: %w", j.Path, err)}
	}
	defer f.Close()
	_, err = probe(r.cfg, j.Path, f, j.Size)
	return err
}

// changed handles a file that is no longer the version a job was made for:
// the new version must be queued once it has settled. A watched source
// does that when told to forget what it sent; files given to push are
// queued again at once.
func (a *Agent) changed(r *jobRun, fi fs.FileInfo) {
	j := r.j
	if j.Source != PushSource {
		r.src.Forget(j.Path)
		return
	}
	if fi == nil {
		return
	}
	if _, err := a.store.Add([]store.Found{{Source: j.Source, Path: j.Path, Size: fi.Size(), ModTime: fi.ModTime(), Kind: j.Kind}}); err != nil {
		a.log.Error("queue the new version", "file", j.Path, "err", err)
	}
}

// fileName is the name Vela is given for the job's file: its base name
// (or, for a ZIP's recording its manifest names, the manifest's spelling,
// kept in Ref) with the extension in lower case (Vela fails on .WAV).
func fileName(j *store.Job) string {
	base := path.Base(j.Path)
	if j.Kind == store.Call && j.Ref != "" {
		base = path.Base(j.Ref)
	}
	ext := path.Ext(base)
	return strings.TrimSuffix(base, ext) + strings.ToLower(ext)
}

// presign asks Vela for an upload form: Ready -> Presigned. The form is
// saved in the job before it is used, because asking again is not free
// (Vela logs the call and checks the allocation each time).
func (a *Agent) presign(ctx context.Context, r *jobRun) error {
	j := r.j
	var m map[string]any
	if len(j.Meta) > 0 {
		if err := json.Unmarshal(j.Meta, &m); err != nil {
			return parked{fmt.Sprintf("stored metadata is unreadable: %v", err)}
		}
	}
	form, err := a.api.Presign(ctx, fileName(j), m)
	if err != nil {
		return err
	}
	exp := form.Expires
	if !exp.IsZero() && exp.Sub(a.now()) < presignMargin {
		// Brand new yet about to expire by our clock: the clock is off or
		// the policy is very short. Use it anyway; the upload service
		// decides, and says so if it has expired.
		a.log.Warn("new presign expires within a minute by this machine's clock; check the system time", "file", j.Path, "expires", exp)
		exp = time.Time{}
	}
	ps := &store.Presign{URL: form.URL, Expires: exp, Fields: make([]store.Field, len(form.Fields))}
	for i, f := range form.Fields {
		ps.Fields[i] = store.Field{Name: f.Name, Value: f.Value}
	}
	j.Presign = ps
	j.State = store.Presigned
	j.Attempts, j.LastError = 0, ""
	return nil
}

// upload sends the file with the stored form: Presigned -> Uploaded. The
// job becomes Uploaded only once the upload service confirmed it; the one
// window for a duplicate is a crash between that reply and the next commit.
// The upload's last bytes wait for the presign's commit (r.ready): the
// storage must not have the whole file before it landed.
func (a *Agent) upload(ctx context.Context, r *jobRun) error {
	j := r.j
	ps := j.Presign
	if ps == nil || (!ps.Expires.IsZero() && ps.Expires.Sub(a.now()) < presignMargin) {
		j.Presign, j.State = nil, store.Ready
		return nil
	}
	form := &upload.Form{URL: ps.URL, Expires: ps.Expires, Fields: make([]upload.Field, len(ps.Fields))}
	for i, f := range ps.Fields {
		form.Fields[i] = upload.Field{Name: f.Name, Value: f.Value}
	}
	// The file is opened without following links and must still be the
	// version found (size and modification time, to the nanosecond), so a
	// file swapped for a link or another file is never sent.
	body := upload.OpenedFileBody(r.open, fileName(j), j.Size, j.ModTime)
	if inZip(j) {
		body = a.entryBody(r)
	}
	body.Ready = func(context.Context) error { return r.ready() }
	tr := a.track.start(j)
	defer a.track.done(j.ID)
	_, err := a.up.Post(ctx, form, body, tr.set)
	var (
		ue *upload.Error
		pk parked
		sk skipped
		fe fileError
		rf *bulk.Refused
	)
	switch {
	case err == nil:
	case errors.As(err, &pk): // the outcomes of a ZIP's recording (Agent.entry)
		return pk
	case errors.As(err, &sk):
		return sk
	case errors.As(err, &fe):
		return fe
	case errors.As(err, &rf):
		return parked{fmt.Sprintf("the recording cannot be read from its ZIP: %v", rf)}
	case errors.Is(err, fs.ErrNotExist):
		return skipped{"file no longer exists"}
	case errors.Is(err, tree.ErrLink):
		return skipped{notFollowed}
	case errors.Is(err, tree.ErrNotRegular):
		return skipped{"not a regular file"}
	case errors.Is(err, upload.ErrChanged):
		fi, _ := r.stat()
		a.changed(r, fi)
		return skipped{"file changed while it was being uploaded; the new version is queued"}
	case errors.As(err, &ue) && ue.Kind == upload.Represign:
		// The form is no good any more: drop it and ask for a new one, at
		// once the first time, with backoff if it keeps happening.
		a.log.Info("presign no longer accepted; asking for a new one", "file", j.Path, "reason", ue.Message)
		j.Presign, j.State = nil, store.Ready
		j.Attempts++
		if j.Attempts > 1 {
			return err
		}
		return nil
	case errors.As(err, &ue) && ue.Kind == upload.Permanent:
		return parked{err.Error()}
	case errors.Is(err, errCommit):
		return err // this machine's disk; health says so
	case ue != nil && ue.Local:
		return fileError{err} // this file alone
	case err != nil:
		return err
	}
	a.track.uploaded(j.Size)
	j.State, j.Presign = store.Uploaded, nil
	j.Attempts, j.LastError = 0, ""
	return nil
}

// finish applies the source's after_upload action: Uploaded -> Done. A
// file that changed since it was found is never deleted or moved: its new
// version is queued instead. On an error the job stays Uploaded and the
// action is retried.
func (a *Agent) finish(ctx context.Context, r *jobRun) error {
	if r.j.Parent != 0 {
		// A ZIP's recording: after_upload applies to the ZIP, once all
		// its recordings are finished.
		r.j.State = store.Done
		a.dropSpool(r.j)
		return nil
	}
	fi, err := r.stat()
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, tree.ErrLink), errors.As(err, new(parked)):
		// gone, or no longer ours to touch
	case err != nil:
		return fmt.Errorf("after upload: %w", err)
	case !fi.Mode().IsRegular():
	case !sameVersion(r.j, fi):
		a.changed(r, fi)
	default:
		if err := r.src.Finish(ctx, r.j); err != nil {
			return fmt.Errorf("after upload: %w", err)
		}
	}
	r.j.State = store.Done
	a.dropSpool(r.j)
	return nil
}

// failed records in j why a step did not complete and when to try again;
// the caller commits it.
func (a *Agent) failed(ctx context.Context, j *store.Job, err error) {
	var (
		pk parked
		sk skipped
		fe fileError
		or orphaned
		wt waiting
		sf spoolFull
		ve *vela.Error
	)
	switch {
	case ctx.Err() != nil:
		// Shutting down: not the job's fault. It resumes where it was.
	case errors.As(err, &pk):
		j.State, j.Reason = store.Parked, pk.reason
		a.outcomes.count(true, j.Reason)
		a.log.Warn("parked: needs attention", "job", j.ID, "file", j.Path, "reason", pk.reason)
		a.track.event(j, "parked: "+pk.reason)
	case errors.As(err, &sk):
		j.State, j.Reason = store.Skipped, sk.reason
		a.outcomes.count(false, j.Reason)
		a.dropSpool(j)
		a.log.Info("skipped", "job", j.ID, "file", j.Path, "reason", sk.reason)
	case errors.As(err, &sf):
		// Not the job's fault: it waits for room, its source says why.
		j.NextAttempt = a.now().Add(spoolRecheck)
		if a.spoolFull.get(sf.source) == "" {
			a.log.Warn("downloads wait for room in the spool", "source", sf.source, "reason", sf.Error())
		}
		a.spoolFull.set(sf.source, sf.Error()+"; downloads resume by themselves when there is room (free space under state_dir)")
	case errors.As(err, &wt):
		j.NextAttempt, j.LastError = wt.until, wt.why
	case errors.As(err, &or):
		// Kept, not parked: the source may come back with the next
		// configuration. Checked again now and then.
		a.retries.count(CauseOrphaned)
		j.NextAttempt = a.now().Add(orphanRecheck)
		j.LastError = or.Error()
		a.orphanLog.Warn(a.log, "jobs wait for a source that is no longer configured; kept queued", "source", j.Source, "file", j.Path)
		a.track.event(j, or.Error())
	case errors.As(err, &fe) && j.Attempts+1 >= maxFileAttempts:
		j.Attempts++
		j.State, j.Reason = store.Parked, fmt.Sprintf("cannot read the file (%d tries): %v", j.Attempts, fe.err)
		a.outcomes.count(true, j.Reason)
		a.log.Warn("parked: needs attention", "job", j.ID, "file", j.Path, "reason", j.Reason)
		a.track.event(j, "parked: "+j.Reason)
	case errors.As(err, &ve) && ve.Action == vela.Park:
		j.State, j.Reason = store.Parked, ve.Error()
		a.outcomes.count(true, j.Reason)
		a.log.Warn("parked: Vela refused the metadata", "job", j.ID, "file", j.Path, "reason", ve.Message)
		a.track.event(j, "parked: "+ve.Error())
	case errors.As(err, &ve) && ve.Action == vela.PauseCalls:
		if a.gates.set(GateCalls, ve.Error()) {
			a.log.Warn("call uploads paused: the organisation's minute allocation is used up; the queue is kept and checked again every "+a.config().API.AllocationRecheck.D().String(), "err", ve)
			a.track.event(j, "paused: "+ve.Error())
		}
	case errors.As(err, &ve) && ve.Action == vela.PauseChats:
		if a.gates.set(GateChats, ve.Error()) {
			a.log.Warn("chat uploads paused: the organisation's chat allocation is used up; calls go on, and chats are tried again every "+a.config().API.AllocationRecheck.D().String(), "err", ve)
			a.track.event(j, "paused: "+ve.Error())
		}
	case errors.Is(err, errCommit):
		// This machine's disk, not the job: health logs it and holds new
		// work; the job goes on from its last commit.
		a.retries.count(CauseCommit)
		j.NextAttempt = a.now().Add(a.config().Upload.RetryMin.D())
	case errors.As(err, &ve) && ve.Action == vela.PauseAll:
		if a.gates.set(GateAll, ve.Error()) {
			a.log.Error("all uploads paused", "err", ve)
			a.track.event(j, "paused: "+ve.Error())
		}
	default:
		a.retries.count(retryCause(err))
		j.Attempts++
		j.LastError = err.Error()
		up := a.config().Upload
		wait := retryWait(j.Attempts, up.RetryMin.D(), up.RetryMax.D(), err)
		j.NextAttempt = a.now().Add(wait)
		a.log.Warn("will retry", "job", j.ID, "file", j.Path, "attempt", j.Attempts, "in", wait.Round(time.Millisecond), "err", err)
		a.track.event(j, err.Error())
	}
}
