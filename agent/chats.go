package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/vela-agent/vela-agent/agent/chat"
	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/agent/tree"
	"github.com/vela-agent/vela-agent/store"
)

// A chat file's job posts each of its chats, in file order, one JSON POST
// each, and keeps the ids Vela gave them in Job.Ref, space-separated: the
// chats posted so far. Each id is committed before the next chat is
// posted, so a crash repeats at most the one chat whose reply came and
// was not yet recorded.

// errReleased: the step gave the job back itself (a commit it needed did
// not land before the agent stopped); process must not commit it again.
var errReleased = errors.New("job released")

// readChats reads and checks the job's chat file, and the body of each of
// its chats under cfg. Any problem of the file parks it: nothing of a bad
// file is sent.
func readChats(r *jobRun) ([][]byte, error) {
	j := r.j
	f, err := r.open()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, skipped{"file no longer exists"}
	case errors.Is(err, tree.ErrLink):
		return nil, skipped{notFollowed}
	case err != nil:
		return nil, fileError{fmt.Errorf("read %s: %w", j.Path, err)}
	}
	defer f.Close()
	sc, _ := r.cfg.Source(j.Source)
	m := sc.Meta()
	name := path.Base(j.Path)
	_, chats, err := chat.Read(name, f, chat.Options{Zone: m.Location(), Layouts: m.DateLayouts, TagsSeparator: m.TagsSeparator})
	var fe *chat.FileError
	switch {
	case errors.As(err, &fe):
		return nil, parked{fe.Error()}
	case err != nil:
		return nil, fileError{err}
	}
	schema := chat.Schema(r.cfg.API.ChatSchema)
	bodies := make([][]byte, len(chats))
	for i := range chats {
		withDefaults(&chats[i], m)
		b, err := chats[i].Body(schema, r.cfg.API.OrgID, name)
		if err != nil {
			return nil, parked{fmt.Sprintf("%s: chat %d: %v", name, i+1, err)}
		}
		if limit := int64(r.cfg.Upload.ChatMaxBody); int64(len(b)) > limit {
			return nil, parked{fmt.Sprintf("%s: chat %d is %d bytes as sent, over upload.chat_max_body (%d bytes); it is never cut", name, i+1, len(b), limit)}
		}
		bodies[i] = b
	}
	return bodies, nil
}

// withDefaults adds the source's metadata defaults a chat does not set.
func withDefaults(c *chat.Chat, m *config.Metadata) {
	if c.Metadata == nil {
		c.Metadata = map[string]any{}
	}
	for k, v := range m.Defaults {
		f, ok := meta.CanonicalField(k)
		if !ok {
			continue
		}
		if _, set := c.Metadata[f]; !set {
			c.Metadata[f] = v
		}
	}
}

// describeChat checks a chat file before anything of it is sent:
// Queued (or Staged) -> Ready.
func (a *Agent) describeChat(_ context.Context, r *jobRun) error {
	if err := a.current(r, "describe"); err != nil {
		return err
	}
	if _, err := readChats(r); err != nil {
		return err
	}
	r.j.State = store.Ready
	return nil
}

// postChats posts the chats of the file not posted yet: Ready ->
// Uploaded. Each chat's id is committed before the next is posted.
func (a *Agent) postChats(ctx context.Context, r *jobRun) error {
	j := r.j
	bodies, err := readChats(r)
	if err != nil {
		return err
	}
	ids := strings.Fields(j.Ref)
	if len(ids) > len(bodies) {
		return parked{fmt.Sprintf("%d chats were posted but the file now holds %d", len(ids), len(bodies))}
	}
	for i := len(ids); i < len(bodies); i++ {
		if r.c.confirmed && !r.c.durable(ctx, a.store.Save, false) { // the last chat's id first
			return errReleased
		}
		id, err := a.api.Chat(ctx, fmt.Sprintf("%s #%d", path.Base(j.Path), i+1), bodies[i])
		if err != nil {
			return err
		}
		if id == "" {
			id = "-" // stored, unnamed
		}
		ids = append(ids, id)
		j.Ref = strings.Join(ids, " ")
		r.c.confirmed = true
		a.log.Info("chat uploaded", "file", j.Path, "chat", i+1, "of", len(bodies), "id", id)
	}
	j.State = store.Uploaded
	return nil
}
