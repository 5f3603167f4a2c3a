package agent

import (
	"context"
	"errors"
	"time"

	"github.com/vela-agent/vela-agent/agent/retryafter"
	"github.com/vela-agent/vela-agent/agent/upload"
	"github.com/vela-agent/vela-agent/agent/vela"
)

// Pacing is a wrapper around each remote, in the shape of the API and the
// Uploader it wraps: a call made while the remote's pacer holds returns
// held at once (the worker waits it out with its job), and every outcome
// tells the pacer. The wrapped client says which of its errors are the
// remote's transient failures; nothing else reaches the pacer. Steps never
// touch a pacer themselves. Each request made is timed for /metrics
// (metrics.go).
var (
	_ API      = pacedAPI{}
	_ Uploader = pacedUploader{}
)

// pacedAPI is the Vela API behind its pacer. Only presigns are paced: the
// organisation check is the probe that lifts a pause, and goes at its own
// interval.
type pacedAPI struct {
	API
	p *pacer
}

func (c pacedAPI) Presign(ctx context.Context, fileName string, meta map[string]any) (*vela.Presign, error) {
	if until := c.p.Hold(); !until.IsZero() {
		return nil, held{until}
	}
	sent := c.p.clock()
	ps, err := c.API.Presign(ctx, fileName, meta)
	c.p.timed.observe(sent, c.p.clock(), err, ctx.Err() != nil)
	var ve *vela.Error
	c.p.observe(ctx, sent, err, errors.As(err, &ve) && ve.Action == vela.Retry)
	return ps, err
}

func (c pacedAPI) Chat(ctx context.Context, name string, body []byte) (string, error) {
	if until := c.p.Hold(); !until.IsZero() {
		return "", held{until}
	}
	sent := c.p.clock()
	id, err := c.API.Chat(ctx, name, body)
	var ve *vela.Error
	c.p.observe(ctx, sent, err, errors.As(err, &ve) && ve.Action == vela.Retry)
	return id, err
}

// pacedUploader is the upload service behind its pacer. Failures about the
// file itself (Local: unreadable, changed, a commit of ours that failed)
// and answers that are not the service's transient trouble never count.
type pacedUploader struct {
	Uploader
	p *pacer
}

func (u pacedUploader) Post(ctx context.Context, f *upload.Form, b upload.Body, progress func(sent int64)) (*upload.Result, error) {
	if until := u.p.Hold(); !until.IsZero() {
		return nil, held{until}
	}
	sent := u.p.clock()
	res, err := u.Uploader.Post(ctx, f, b, progress)
	u.p.timed.observe(sent, u.p.clock(), err, ctx.Err() != nil)
	var ue *upload.Error
	u.p.observe(ctx, sent, err, errors.As(err, &ue) && ue.Kind == upload.Retry && !ue.Local)
	return res, err
}

// clock reads the pacer's clock.
func (p *pacer) clock() time.Time { return p.now() }

// observe tells the pacer how a request sent at sent ended: a success, a
// transient failure of the remote, or neither (an error the remote's
// health has nothing to do with, or the agent stopping).
func (p *pacer) observe(ctx context.Context, sent time.Time, err error, transient bool) {
	switch {
	case err == nil:
		p.Succeeded(sent)
	case transient && ctx.Err() == nil:
		p.Failed(jobOf(ctx), sent, hint(err))
	}
}

// hint is the Retry-After an error carries, 0 if none.
func hint(err error) time.Duration {
	var re retryafter.Error
	if errors.As(err, &re) {
		return re.RetryAfter()
	}
	return 0
}

// retryWait is how long a job waits after its n-th consecutive failure,
// err: its own backoff, or the remote's Retry-After when that is longer.
func retryWait(n int, lo, hi time.Duration, err error) time.Duration {
	return max(backoff(n, lo, hi), hint(err))
}

// jobKey carries the job a request is made for, so that a pacer can tell
// one job failing again from the remote failing for many.
type jobKey struct{}

func withJob(ctx context.Context, id uint64) context.Context {
	return context.WithValue(ctx, jobKey{}, id)
}

func jobOf(ctx context.Context) uint64 {
	id, _ := ctx.Value(jobKey{}).(uint64)
	return id
}
