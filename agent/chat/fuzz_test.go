package chat

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fuzzOpts reads times in zone and also by a source layout with an hour-only
// offset, so that the layout path is fuzzed as well.
var fuzzOpts = Options{Zone: zone, Layouts: []string{"2006-01-02T15:04:05Z07"}, MaxMessages: 50}

func FuzzRead(f *testing.F) {
	f.Add([]byte(seedFile))
	f.Add([]byte("[" + seedFile + "," + seedFile + "]"))
	f.Add([]byte("[" + bulkChat1 + "," + bulkChat2 + "]"))
	f.Add([]byte(bulk(`{"tags": "a;b", "Agent": "a@example.com", "date": "04/03/2025 10:00", "language": "en"}`,
		`{"message": "x", "time": "04-03-2025 10:00:00.5", "sender": "Customer", "language": "zu"}`)))
	f.Add([]byte(bulk(`{"contact": 27821234567, "direction": "INBOUND", "notify_email": "qa@example.com"}`,
		`{"message": "\u00e9\ud800", "time": 1736935200999, "sender": " BOT "}`)))
	f.Add([]byte("\ufefftime,sender,message,language\r\n2025-01-15 10:30:00,customer,\"a, \"\"b\"\"\",en\r\n15/01/2025, 10:31:00,agent,c,\r\n"))
	f.Add([]byte("time,sender,message\n1736935200,user,x\n2025-01-15T10:00:00+02:00,bot,y\n"))
	f.Add([]byte(`{"chat_data": {"session_id": "s", "start_time": "2024-01-15T10:30:00Z", "messages": [{"timestamp": "2024-01-15T10:30:00Z", "sender": "agent", "content": "hi"}]}, "metadata": {"interaction_id": "i"}} `))
	f.Add([]byte(`[{"metadata": {"team": "a", "team": "b"}, "messages": []}]`))
	f.Add([]byte(`[{"messages": [{"message": "x", "time": "2025-13-45T25:61:61+99:99", "sender": "user"}]}]`))
	f.Add([]byte("time,sender,message\n2025-01-15T10:00:00-05,user,x\n15.01.2025,agent,y\n31/04/2025 10:00,bot,z\n"))
	f.Add([]byte(""))
	f.Add([]byte("\xef\xbb"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"f.json", "f.csv"} {
			layout, chats, err := Read(name, strings.NewReader(string(data)), fuzzOpts)
			if err != nil {
				var fe *FileError
				if !errors.As(err, &fe) {
					t.Fatalf("Read(%s) error %v is not a *FileError", name, err)
				}
				if layout != "" || chats != nil {
					t.Fatalf("Read(%s) returned chats with its error", name)
				}
				continue
			}
			if len(chats) == 0 {
				t.Fatalf("Read(%s) = no chats and no error", name)
			}
			for i := range chats {
				c := &chats[i]
				if c.Index != i+1 || len(c.Messages) == 0 || len(c.Messages) > 50 {
					t.Fatalf("chat %d: index %d, %d messages", i+1, c.Index, len(c.Messages))
				}
				for _, s := range []Schema{Chats, ChatData} {
					b, err := c.Body(s, "org", name)
					if err != nil {
						t.Fatalf("Body(%s) of chat %d read from %q: %v", s, i+1, data, err)
					}
					checkBody(t, s, b)
				}
			}
		}
	})
}

// checkBody checks that b is JSON of schema s whose every sender is agent,
// user or bot, and that it has a metadata date.
func checkBody(t *testing.T, s Schema, b []byte) {
	t.Helper()
	var body struct {
		Chats    []struct{ Sender, Message, Time string }
		ChatData struct {
			Messages []struct{ Sender, Content, Timestamp string }
		} `json:"chat_data"`
		Metadata map[string]any
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("Body(%s) is not JSON: %v\n%s", s, err, b)
	}
	var senders []string
	switch s {
	case Chats:
		for _, m := range body.Chats {
			senders = append(senders, m.Sender)
			if strings.TrimSpace(m.Message) == "" || m.Time == "" {
				t.Errorf("message %+v has no text or time", m)
			}
		}
	case ChatData:
		for _, m := range body.ChatData.Messages {
			senders = append(senders, m.Sender)
			if strings.TrimSpace(m.Content) == "" || m.Timestamp == "" {
				t.Errorf("message %+v has no text or time", m)
			}
		}
	}
	if len(senders) == 0 {
		t.Errorf("Body(%s) has no messages: %s", s, b)
	}
	for _, from := range senders {
		if from != "agent" && from != "user" && from != "bot" {
			t.Errorf("Body(%s) has sender %q", s, from)
		}
	}
	if d, _ := body.Metadata["date"].(string); d == "" {
		t.Errorf("Body(%s) has no metadata date: %s", s, b)
	}
}
