package agent_test

import (
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/store"
)

func TestNeedsAttention(t *testing.T) {
	gate := store.Gate{Name: agent.GateCalls, Reason: "Allocation exceeded", Since: time.Unix(0, 0)}
	tests := []struct {
		name string
		st   agent.Status
		want string
	}{
		{"healthy", agent.Status{}, ""},
		{"one problem", agent.Status{Problems: []string{"source a: folder unavailable"}}, "source a: folder unavailable"},
		{"several", agent.Status{Problems: []string{"x", "y", "z"}}, "x (and 2 more)"},
		{"one line", agent.Status{Problems: []string{"bad\nname\r\there"}}, "bad name here"},
		{"a pause alone", agent.Status{Paused: []store.Gate{gate}}, "uploads paused (calls): Allocation exceeded"},
		{"problems first", agent.Status{Paused: []store.Gate{gate}, Problems: []string{"p"}}, "p"},
	}
	for _, tc := range tests {
		if got := tc.st.NeedsAttention(); got != tc.want {
			t.Errorf("%s: NeedsAttention() = %q, want %q", tc.name, got, tc.want)
		}
	}
}
