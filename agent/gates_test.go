package agent

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/store"
)

// OnPause's function hears each pause and resume once, not each job that
// meets the gate.
func TestGateNotify(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "queue.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g, err := loadGates(s, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	type change struct {
		gate, reason string
		paused       bool
	}
	var got []change
	g.notify = func(gate, reason string, paused bool) { got = append(got, change{gate, reason, paused}) }
	g.set(GateCalls, "Allocation exceeded")
	g.set(GateCalls, "Allocation exceeded") // a second job meets it: no news
	g.clear(GateCalls)
	g.clear(GateCalls)
	want := []change{{GateCalls, "Allocation exceeded", true}, {GateCalls, "", false}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("changes %+v, want %+v", got, want)
	}
}
