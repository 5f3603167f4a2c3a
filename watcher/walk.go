package watcher

import (
	"context"
	"path/filepath"
	"time"
)

// checkEvery is how many entries a paced scan reads between looks at the
// clock.
const checkEvery = 64

// walk is a scan of a folder and, if recursive, of the folders below it,
// read one at a time. A full scan's walk is paced: it may stop after any
// entry and go on later, its folder left open.
type walk struct {
	list    lister
	todo    []walkDir // folders still to read, the next one last
	cur     walkDir   // the folder being read, while reading
	d       *dir
	reading bool
	files   int // files seen that the filters let through
}

type walkDir struct{ abs, rel string }

// stop ends the walk where it is.
func (wk *walk) stop() {
	if wk.reading {
		wk.list.close()
		wk.reading, wk.d = false, nil
	}
	wk.todo = nil
}

// readTree reads the folder abs (rel relative to Root), which events named,
// and the folders below it, all at once.
func (r *run) readTree(ctx context.Context, abs, rel string) error {
	wk := &walk{list: r.eventList, todo: []walkDir{{abs: abs, rel: rel}}}
	_, err := r.step(ctx, wk, false)
	wk.stop()
	return err
}

// step reads the walk's folders until there are none left (true), or, if
// paced, until it has worked for scanSlice (false). The folders of one
// found in a folder are read after it.
func (r *run) step(ctx context.Context, wk *walk, paced bool) (done bool, err error) {
	var until time.Time
	if paced {
		until = time.Now().Add(scanSlice)
	}
	for n := 0; ; {
		if !wk.reading {
			if len(wk.todo) == 0 {
				return true, nil
			}
			if err := ctx.Err(); err != nil {
				return false, err
			}
			next := wk.todo[len(wk.todo)-1]
			wk.todo = wk.todo[:len(wk.todo)-1]
			if !r.begin(wk, next) {
				continue
			}
		}
		for wk.list.next() {
			if err := r.entry(ctx, wk); err != nil {
				return false, err
			}
			if n++; paced && n%checkEvery == 0 && time.Now().After(until) {
				return false, nil
			}
		}
		r.end(wk)
		if paced && time.Now().After(until) {
			return false, nil
		}
	}
}

// begin starts reading a folder, which is watched first, so that a file
// created meanwhile is caught by the read or by an event. It reports
// whether the folder could be opened.
func (r *run) begin(wk *walk, wd walkDir) bool {
	r.watch(wd.abs, wd.rel)
	var err error
	if r.w.failDir != nil {
		err = r.w.failDir(wd.abs)
	}
	if err == nil {
		err = wk.list.open(wd.abs, wd.rel == ".")
	}
	if err != nil {
		r.readFailed(wd.abs, wd.rel, err)
		if d := r.dirs[wd.rel]; d != nil {
			d.gen = r.gen // what it holds is kept while it cannot be read
		}
		return false
	}
	if _, ok := r.failed[wd.rel]; ok && wd.rel != "." {
		delete(r.failed, wd.rel) // read by an event-driven scan since the full one
		r.failedChanged = true
	}
	switch {
	case wd.rel == "." && r.clearWarn("dir:."):
		r.w.setProblem("")
		r.w.log.Info("root folder available again", "root", wd.abs)
	case r.clearWarn("dir:" + wd.rel):
		r.w.log.Info("folder readable again", "folder", wd.abs)
	}
	d := r.dir(wd.rel)
	d.gen = r.gen
	d.reads++
	d.files.startRead()
	wk.cur, wk.d, wk.reading = wd, d, true
	return true
}

// entry looks at the folder's current entry: a file is observed, a folder
// queued for reading, anything else skipped. Nothing is allocated for a
// file already offered in the size and modification time it has.
func (r *run) entry(ctx context.Context, wk *walk) error {
	l, d := wk.list, wk.d
	name := l.name()
	typ, typed := l.kind()
	var size, mtime int64
	if !typed {
		s, m, t, err := l.stat()
		if err != nil {
			return nil // gone since the listing
		}
		size, mtime, typ = s, m, t
	}
	switch {
	case typ.IsDir():
		if !r.w.opts.Recursive {
			return nil
		}
		child := d.join(name)
		if !r.w.rules.wantDir(child, name) {
			return nil
		}
		wk.todo = append(wk.todo, walkDir{abs: filepath.Join(wk.cur.abs, name), rel: child})
	case typ.IsRegular():
		if !r.w.rules.wantListed(&r.sc, d.rel, name) {
			return nil
		}
		if typed {
			s, m, t, err := l.stat()
			if err != nil || !t.IsRegular() {
				return nil // gone or replaced since the listing
			}
			size, mtime = s, m
		}
		wk.files++
		if r.observe(d, name, size, mtime, true) {
			return r.sendFull(ctx)
		}
	default: // symbolic links (never followed), FIFOs, sockets, devices
		r.skip(d.join(name), filepath.Join(wk.cur.abs, name), name, typ)
	}
	return nil
}

// end finishes the read of the current folder. A complete read forgets the
// files it did not list: gone, or replaced by another version. A folder
// whose read failed midway keeps what it holds.
func (r *run) end(wk *walk) {
	err := wk.list.err()
	wk.list.close()
	d := wk.d
	wk.reading, wk.d = false, nil
	if err != nil {
		r.readFailed(wk.cur.abs, wk.cur.rel, err)
		return
	}
	d.files.sweep()
	for _, e := range d.settling {
		if e.read != d.reads {
			r.dropSettling(e)
		}
	}
}
