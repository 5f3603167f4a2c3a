package agent

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/vela-agent/vela-agent/store"
)

// Pause gates stop whole lanes of work, not single jobs. They are kept in
// the store too, so `vela-agent status` shows them when the agent is down
// and a restarted agent stays paused until its first check says otherwise.
const (
	// GateCalls pauses call uploads: the organisation's monthly minutes are
	// used up. Lifted when the organisation shows minutes left again.
	GateCalls = "calls"
	// GateChats pauses chat uploads: the organisation's monthly chat
	// allocation is used up. Calls go on. Lifted at the next allocation
	// check, and the next chat tells whether chats are left.
	GateChats = "chats"
	// GateAll pauses everything that talks to Vela: credentials refused or
	// the organisation unknown. An admin has to fix the configuration or run
	// `vela-agent login`; the agent keeps probing in case they did.
	GateAll = "all"
)

// gates is the in-memory view of the pause gates, written through to the store.
type gates struct {
	store *store.Store
	log   *slog.Logger
	now   func() time.Time

	mu     sync.Mutex                             // guards m
	m      map[string]store.Gate                  // by name
	notify func(gate, reason string, paused bool) // told of each change; set before Run
}

func loadGates(s *store.Store, log *slog.Logger, now func() time.Time) (*gates, error) {
	g := &gates{store: s, log: log, now: now, m: map[string]store.Gate{}}
	list, err := s.Gates()
	if err != nil {
		return nil, err
	}
	for _, gt := range list {
		g.m[gt.Name] = gt
		log.Warn("paused since before the restart", "gate", gt.Name, "reason", gt.Reason, "since", gt.Since)
	}
	return g, nil
}

// set closes a gate. It reports whether anything changed, so that callers
// log a pause once rather than once per job.
func (g *gates) set(name, reason string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if old, ok := g.m[name]; ok && old.Reason == reason {
		return false
	}
	gt := store.Gate{Name: name, Reason: reason, Since: g.now()}
	g.m[name] = gt
	if err := g.store.SetGate(gt); err != nil {
		g.log.Error("record pause gate", "gate", name, "err", err)
	}
	if g.notify != nil {
		g.notify(name, reason, true)
	}
	return true
}

// clear opens a gate; it reports whether it was closed.
func (g *gates) clear(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.m[name]; !ok {
		return false
	}
	delete(g.m, name)
	if err := g.store.ClearGate(name); err != nil {
		g.log.Error("clear pause gate", "gate", name, "err", err)
	}
	if g.notify != nil {
		g.notify(name, "", false)
	}
	return true
}

func (g *gates) closed(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.m[name]
	return ok
}

// lanes lists the lanes of the upload workers (calls and chats) whose
// jobs may be claimed now. The local workers' lanes (local work and
// downloads to the spool) have no gate: nothing Vela says holds them.
func (g *gates) lanes() []store.Lane {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.m[GateAll]; ok {
		return nil
	}
	var lanes []store.Lane
	if _, ok := g.m[GateCalls]; !ok {
		lanes = append(lanes, store.LaneCalls)
	}
	if _, ok := g.m[GateChats]; !ok {
		lanes = append(lanes, store.LaneChats)
	}
	return lanes
}

func (g *gates) list() []store.Gate {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]store.Gate, 0, len(g.m))
	for _, gt := range g.m {
		out = append(out, gt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// OnPause makes the agent call f whenever a pause gate closes (paused, with
// the reason) or opens again: for the Windows Event Log, say. f must not
// block. Call it before Run.
func (a *Agent) OnPause(f func(gate, reason string, paused bool)) { a.gates.notify = f }
