package agent

import (
	"context"
	"sync"
)

// pool runs a number of workers that can change while they run (a reload
// of upload.concurrency). A worker asked to go finishes its job first.
type pool struct {
	work func(ctx context.Context, stop func() bool) // one worker; returns once stop() says so or ctx ends

	mu   sync.Mutex // guards want, live and ctx
	want int
	live map[int]bool    // ids of running workers; ids are 0..want-1
	ctx  context.Context // Run's, while it runs
	wg   sync.WaitGroup
}

func newPool(work func(ctx context.Context, stop func() bool)) *pool {
	return &pool{work: work, live: map[int]bool{}}
}

// run starts n workers, unless resize set a number before, and returns
// once ctx has ended and every worker has returned.
func (p *pool) run(ctx context.Context, n int) {
	p.mu.Lock()
	if p.want == 0 {
		p.want = n
	}
	p.ctx = ctx
	p.fill()
	p.mu.Unlock()
	<-ctx.Done()
	p.wg.Wait()
}

// resize sets the number of workers: new ones start at once, surplus ones
// end after their current job.
func (p *pool) resize(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want = max(n, 1)
	if p.ctx != nil && p.ctx.Err() == nil {
		p.fill()
	}
}

// size reports the number of workers wanted and running.
func (p *pool) size() (want, live int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.want, len(p.live)
}

// fill starts the workers missing below want. p.mu is held.
func (p *pool) fill() {
	for id := 0; id < p.want; id++ {
		if p.live[id] {
			continue
		}
		p.live[id] = true
		p.wg.Add(1)
		ctx := p.ctx
		go func() {
			defer p.wg.Done()
			p.work(ctx, func() bool { return p.leave(id) })
		}()
	}
}

// leave reports whether worker id is surplus, and if so counts it gone:
// the decision and the count change together, so a resize in between
// never leaves a worker missing.
func (p *pool) leave(id int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if id < p.want {
		return false
	}
	delete(p.live, id)
	return true
}
