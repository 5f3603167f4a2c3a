package agent_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/agent"
	"github.com/vela-agent/vela-agent/agent/vela/velatest"
)

const seedChat = `{
  "chat_data": {
    "session_id": "chat_12345", "agent_id": "agent_001", "customer_id": "customer_789",
    "start_time": "2024-01-15T10:30:00Z", "end_time": "2024-01-15T10:45:00Z",
    "messages": [
      {"timestamp": "2024-01-15T10:30:00Z", "sender": "Customer", "content": "Hello, I need help with my account"},
      {"timestamp": "2024-01-15T10:30:15Z", "sender": " agent ", "content": "Hi! How can I help?"}
    ]
  },
  "metadata": {"department": "customer_support"}
}`

// TestChatsEndToEnd: chat files in the three layouts arrive as Vela
// takes them, one POST per chat; bad files send nothing and say why; a
// used-up chat allocation pauses chats only, and they resume by
// themselves.
func TestChatsEndToEnd(t *testing.T) {
	chats := filepath.Join(t.TempDir(), "chats")
	must(t, os.MkdirAll(chats, 0o755))
	h := newHarness(t, harnessOptions{
		srv:    velatest.Options{ChatAllocation: 0},
		source: "  - name: chats\n    kind: chats\n    path: " + chats + "\n    settle: 300ms\n    rescan_interval: 1s\n    metadata: {defaults: {team: Chat Team}}\n",
	})
	h.srv.SetChatAllocation(0) // used up from the start
	good := map[string]string{
		// The bulk export layout: three chats.
		"bulk.json": `[
 {"metadata": {"agent_name": "Thandi", "interaction_id": "INT-1", "date": "2025-03-04T09:00:00+02:00"},
  "messages": [{"message": "Hi", "time": "2025-03-04T09:00:05+02:00", "sender": "user", "language": "zu"},
               {"message": "Sawubona", "time": "2025-03-04T09:00:09+02:00", "sender": "agent"}]},
 {"metadata": {}, "messages": [{"message": "bye", "time": "1741078800", "sender": "BOT"}]},
 {"metadata": {"tags": "vip"}, "messages": [{"message": "x", "time": "1741078800000", "sender": "customer"}]}]`,
		// The seed's layout: one, and an array of two.
		"seed.json":  seedChat,
		"seeds.json": "[" + seedChat + "," + strings.Replace(seedChat, "chat_12345", "chat_67890", 1) + "]",
		// CSVs of one chat each, times in the source's zone.
		"one.csv":   "time,sender,message,language\r\n2025-01-15 10:30:00,customer,\"a, \"\"b\"\"\",en\r\n15/01/2025 10:31:00,agent,c,\r\n",
		"two.csv":   "time,sender,message\n1736935200,user,x\n2025-01-15T10:00:00+02:00,bot,y\n",
		"three.csv": "time,sender,message\n2025-02-01 08:00,agent,hello\n",
		"four.csv":  "time,sender,message\n2025-02-01 08:00:00,user,help\n2025-02-01 08:01:00,agent,sure\n",
	}
	bad := map[string]string{
		"invalid.json":   `{"chat_data": {`,
		"truncated.json": `[{"metadata": {}, "messages": [{"message": "a", "time": "1741078800", "sender": "user"}]`,
		"sender.json":    `[{"metadata": {}, "messages": [{"message": "a", "time": "1741078800", "sender": "customer service"}]}]`,
		"empty.json":     ``,
		"nomsgs.json":    `[{"metadata": {}, "messages": []}]`,
		"time.json":      `[{"metadata": {}, "messages": [{"message": "a", "time": "yesterday", "sender": "user"}]}]`,
		"nosender.json":  `[{"metadata": {}, "messages": [{"message": "a", "time": "1741078800"}]}]`,
		"layout.json":    `{"conversation": []}`,
		"header.csv":     "when,who,what\n2025-01-01 10:00,user,x\n",
		"columns.csv":    "time,sender,message\n2025-01-01 10:00,user\n",
	}
	for name, text := range good {
		writeText(t, filepath.Join(chats, name), text)
	}
	for name, text := range bad {
		writeText(t, filepath.Join(chats, name), text)
	}
	h.write("call.wav", 5000) // calls go on while chats are paused
	h.start()
	h.waitDone(1)
	h.waitFor("chats paused", 20*time.Second, func() bool {
		st, _ := h.agent.Status()
		for _, g := range st.Paused {
			if g.Name == agent.GateChats {
				return true
			}
		}
		return false
	})
	h.waitFor("the bad chat files parked", 20*time.Second, func() bool { return h.count("parked") == len(bad) })
	if n := len(h.srv.Chats()); n != 0 {
		t.Fatalf("%d chats stored while the allocation is used up", n)
	}

	h.srv.SetChatAllocation(-1) // the next check resumes chats
	h.waitFor("the chat files done", 30*time.Second, func() bool { return h.count("done") == 1+len(good) })

	recs := h.srv.Chats()
	if len(recs) != 10 {
		t.Fatalf("%d chats stored, want 10", len(recs))
	}
	var bodies []map[string]any
	for _, r := range recs {
		var b map[string]any
		must(t, json.Unmarshal(r.Body, &b))
		if b["org_id"] != "org-test" || r.Path != "/chats/upload/vela" {
			t.Errorf("chat to %s with org %v", r.Path, b["org_id"])
		}
		md, _ := b["metadata"].(map[string]any)
		if md["team"] != "Chat Team" || !datePattern.MatchString(fmt.Sprint(md["date"])) {
			t.Errorf("metadata %v: want the source's team and a date", md)
		}
		for _, m := range b["chats"].([]any) {
			m := m.(map[string]any)
			if s := m["sender"]; s != "agent" && s != "user" && s != "bot" {
				t.Errorf("sender %v sent", s)
			}
			if !datePattern.MatchString(fmt.Sprint(m["time"])) {
				t.Errorf("time %v is not DD/MM/YYYY, HH:mm:ss", m["time"])
			}
		}
		bodies = append(bodies, b)
	}
	// Three chats exactly: one of each layout.
	for _, want := range []string{
		`{"org_id":"org-test","chats":[{"message":"Hi","time":"04/03/2025, 09:00:05","sender":"user","language":"zu"},{"message":"Sawubona","time":"04/03/2025, 09:00:09","sender":"agent"}],"metadata":{"agent_name":"Thandi","interaction_id":"INT-1","date":"04/03/2025, 09:00:00","team":"Chat Team"}}`,
		`{"org_id":"org-test","chats":[{"message":"Hello, I need help with my account","time":"15/01/2024, 12:30:00","sender":"user"},{"message":"Hi! How can I help?","time":"15/01/2024, 12:30:15","sender":"agent"}],"metadata":{"department":"customer_support","interaction_id":"chat_12345","date":"15/01/2024, 12:30:00","team":"Chat Team"}}`,
		`{"org_id":"org-test","chats":[{"message":"a, \"b\"","time":"15/01/2025, 10:30:00","sender":"user","language":"en"},{"message":"c","time":"15/01/2025, 10:31:00","sender":"agent"}],"metadata":{"date":"15/01/2025, 10:30:00","team":"Chat Team"}}`,
	} {
		var w map[string]any
		must(t, json.Unmarshal([]byte(want), &w))
		found := false
		for _, b := range bodies {
			found = found || reflect.DeepEqual(b, w)
		}
		if !found {
			t.Errorf("no chat stored as\n%s", want)
		}
	}

	// Each bad file is parked with a reason naming it; the ids of the
	// good ones are on their jobs.
	for id := uint64(1); id <= uint64(2+len(good)+len(bad)); id++ {
		j, err := h.agent.Job(id)
		if err != nil {
			continue
		}
		name := filepath.Base(j.Path)
		switch {
		case bad[name] != "" || name == "empty.json":
			if j.State.String() != "parked" || !strings.Contains(j.Reason, name) {
				t.Errorf("%s: %s %q, want parked naming the file", name, j.State, j.Reason)
			}
		case good[name] != "":
			if n := len(strings.Fields(j.Ref)); j.State.String() != "done" || n == 0 {
				t.Errorf("%s: %s with ids %q", name, j.State, j.Ref)
			}
		}
	}
}
