package chat

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

func TestBody(t *testing.T) {
	const csvFile = "time,sender,message,language\n" +
		"2025-01-15 10:30:00,customer,<b>Hello</b> & welcome,en\n" +
		"15/01/2025 10:31,Bot,\"Hi, how can I help?\",\n"
	tests := []struct {
		name, file, in string
		chat           int // 1-based
		chats, seed    string
	}{
		{"seed layout", "seed.json", seedFile, 1,
			`{"org_id": "org-1",
			  "chats": [
			    {"message": "Hello, I need help with my account", "time": "15/01/2024, 12:30:00", "sender": "user"},
			    {"message": "Hi! How can I help?", "time": "15/01/2024, 12:30:15", "sender": "agent"}],
			  "metadata": {"department": "customer_support", "interaction_id": "chat_12345", "date": "15/01/2024, 12:30:00"}}`,
			`{"org_id": "org-1",
			  "chat_data": {"session_id": "chat_12345", "agent_id": "agent_001", "customer_id": "customer_789",
			    "start_time": "2024-01-15T10:30:00Z", "end_time": "2024-01-15T10:45:00Z",
			    "messages": [
			      {"timestamp": "2024-01-15T10:30:00Z", "sender": "user", "content": "Hello, I need help with my account"},
			      {"timestamp": "2024-01-15T10:30:15Z", "sender": "agent", "content": "Hi! How can I help?"}]},
			  "metadata": {"department": "customer_support", "date": "2024-01-15T10:30:00Z"}}`},
		{"seed layout with its own interaction_id", "seed.json",
			strings.Replace(seedFile, `"metadata": {`, `"metadata": {"interaction_id": "INT-7", `, 1), 1,
			`{"org_id": "org-1",
			  "chats": [
			    {"message": "Hello, I need help with my account", "time": "15/01/2024, 12:30:00", "sender": "user"},
			    {"message": "Hi! How can I help?", "time": "15/01/2024, 12:30:15", "sender": "agent"}],
			  "metadata": {"department": "customer_support", "interaction_id": "INT-7", "date": "15/01/2024, 12:30:00"}}`,
			`{"org_id": "org-1",
			  "chat_data": {"session_id": "chat_12345", "agent_id": "agent_001", "customer_id": "customer_789",
			    "start_time": "2024-01-15T10:30:00Z", "end_time": "2024-01-15T10:45:00Z",
			    "messages": [
			      {"timestamp": "2024-01-15T10:30:00Z", "sender": "user", "content": "Hello, I need help with my account"},
			      {"timestamp": "2024-01-15T10:30:15Z", "sender": "agent", "content": "Hi! How can I help?"}]},
			  "metadata": {"department": "customer_support", "interaction_id": "INT-7", "date": "2024-01-15T10:30:00Z"}}`},
		{"bulk with interaction_id and language", "bulk.json", "[" + bulkChat1 + "," + bulkChat2 + "]", 1,
			`{"org_id": "org-1",
			  "chats": [
			    {"message": "Hi", "time": "04/03/2025, 09:00:05", "sender": "user", "language": "zu"},
			    {"message": "Sawubona", "time": "04/03/2025, 09:00:09", "sender": "agent"}],
			  "metadata": {"agent_name": "Thandi", "interaction_id": "INT-1", "date": "04/03/2025, 09:00:00"}}`,
			`{"org_id": "org-1",
			  "chat_data": {"session_id": "INT-1", "start_time": "2025-03-04T07:00:05Z", "end_time": "2025-03-04T07:00:09Z",
			    "messages": [
			      {"timestamp": "2025-03-04T07:00:05Z", "sender": "user", "content": "Hi"},
			      {"timestamp": "2025-03-04T07:00:09Z", "sender": "agent", "content": "Sawubona"}]},
			  "metadata": {"agent_name": "Thandi", "interaction_id": "INT-1", "date": "2025-03-04T07:00:00Z"}}`},
		{"bulk without interaction_id", "bulk.json", "[" + bulkChat1 + "," + bulkChat2 + "]", 2,
			`{"org_id": "org-1",
			  "chats": [{"message": "bye", "time": "04/03/2025, 11:00:00", "sender": "bot"}],
			  "metadata": {"date": "04/03/2025, 11:00:00"}}`,
			`{"org_id": "org-1",
			  "chat_data": {"session_id": "bulk.json#2", "start_time": "2025-03-04T09:00:00Z", "end_time": "2025-03-04T09:00:00Z",
			    "messages": [{"timestamp": "2025-03-04T09:00:00Z", "sender": "bot", "content": "bye"}]},
			  "metadata": {"date": "2025-03-04T09:00:00Z"}}`},
		{"csv in the source's zone", "chat.csv", csvFile, 1,
			`{"org_id": "org-1",
			  "chats": [
			    {"message": "<b>Hello</b> & welcome", "time": "15/01/2025, 09:30:00", "sender": "user", "language": "en"},
			    {"message": "Hi, how can I help?", "time": "15/01/2025, 09:31:00", "sender": "bot"}],
			  "metadata": {"date": "15/01/2025, 09:30:00"}}`,
			`{"org_id": "org-1",
			  "chat_data": {"session_id": "chat.csv#1", "start_time": "2025-01-15T07:30:00Z", "end_time": "2025-01-15T07:31:00Z",
			    "messages": [
			      {"timestamp": "2025-01-15T07:30:00Z", "sender": "user", "content": "<b>Hello</b> & welcome"},
			      {"timestamp": "2025-01-15T07:31:00Z", "sender": "bot", "content": "Hi, how can I help?"}]},
			  "metadata": {"date": "2025-01-15T07:30:00Z"}}`},
		{"metadata of every kind", "bulk.json", bulk(`{"email": "thandi@example.co.za", "team": "Support", "department": "Sales",
			"direction": "Outbound", "tags": ["vip", "billing"], "contact": "+27 82 123 4567", "notify_email": "qa@example.com",
			"language": "af", "date": "01/06/2025 08:00"}`, `{"message": "x", "time": "2025-06-01T06:05:00Z", "sender": "agent"}`), 1,
			`{"org_id": "org-1",
			  "chats": [{"message": "x", "time": "01/06/2025, 08:05:00", "sender": "agent"}],
			  "metadata": {"email": "thandi@example.co.za", "team": "Support", "department": "Sales", "direction": "outbound",
			    "tags": ["vip", "billing"], "contact": "+27 82 123 4567", "notifyEmail": "qa@example.com", "language": "af",
			    "date": "01/06/2025, 07:00:00"}}`,
			`{"org_id": "org-1",
			  "chat_data": {"session_id": "bulk.json#1", "start_time": "2025-06-01T06:05:00Z", "end_time": "2025-06-01T06:05:00Z",
			    "messages": [{"timestamp": "2025-06-01T06:05:00Z", "sender": "agent", "content": "x"}]},
			  "metadata": {"email": "thandi@example.co.za", "team": "Support", "department": "Sales", "direction": "outbound",
			    "tags": ["vip", "billing"], "contact": "+27 82 123 4567", "notifyEmail": "qa@example.com", "language": "af",
			    "date": "2025-06-01T05:00:00Z"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, chats, err := Read(tt.file, strings.NewReader(tt.in), opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			c := chats[tt.chat-1]
			b, err := c.Body(Chats, "org-1", tt.file)
			if err != nil {
				t.Fatalf("Body(Chats): %v", err)
			}
			jsonEqual(t, b, tt.chats)
			b, err = c.Body(ChatData, "org-1", tt.file)
			if err != nil {
				t.Fatalf("Body(ChatData): %v", err)
			}
			jsonEqual(t, b, tt.seed)
		})
	}
}

func TestBodyNotEscaped(t *testing.T) {
	c := Chat{Index: 1, Messages: []Message{msg(utc(2025, 1, 1, 0, 0, 0), "user", "a <b> & c")}}
	b, err := c.Body(Chats, "o", "f.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"a <b> & c"`) {
		t.Errorf("body %s escapes the text", b)
	}
}

func TestBodyChecksTheChat(t *testing.T) {
	at := utc(2025, 1, 15, 10, 0, 0)
	good := func() Chat {
		return Chat{Index: 3, Messages: []Message{msg(at, "agent", "hi")}, Metadata: map[string]any{"team": "Support"}}
	}
	tests := []struct {
		name   string
		edit   func(*Chat)
		schema Schema
		org    string
		want   string
	}{
		{"sender", func(c *Chat) { c.Messages[0].Sender = "Customer Service" }, Chats, "o",
			`build chats body of chat 3: message 1: sender "Customer Service" is not agent, user or bot`},
		{"no sender", func(c *Chat) { c.Messages[0].Sender = "" }, ChatData, "o",
			`build chat_data body of chat 3: message 1: has no sender`},
		{"no text", func(c *Chat) { c.Messages[0].Text = " " }, Chats, "o", `build chats body of chat 3: message 1: it has no text`},
		{"no time", func(c *Chat) { c.Messages[0].Time = time.Time{} }, Chats, "o", `build chats body of chat 3: message 1: it has no time`},
		{"no messages", func(c *Chat) { c.Messages = nil }, Chats, "o", `build chats body of chat 3: it has no messages`},
		{"no org", func(*Chat) {}, Chats, " ", `build chats body of chat 3: org_id is empty`},
		{"schema", func(*Chat) {}, "chat", "o", `build chat body of chat 3: schema "chat" is not chats or chat_data`},
		{"unknown metadata", func(c *Chat) { c.Metadata["channel"] = "web" }, Chats, "o",
			`build chats body of chat 3: metadata "channel" is not a chat field (email, agent_name, team, department, direction, tags, contact, interaction_id, notifyEmail, date, language); Vela would drop it`},
		{"bad metadata value", func(c *Chat) { c.Metadata["direction"] = "sideways" }, ChatData, "o",
			`build chat_data body of chat 3: metadata "direction": "sideways" is not inbound or outbound`},
		{"bad date", func(c *Chat) { c.Metadata["date"] = 5 }, Chats, "o",
			`build chats body of chat 3: metadata "date": is a value of type int, not a time`},
		{"bad session", func(c *Chat) { c.SessionID = "a\x00" }, Chats, "o",
			`build chats body of chat 3: session_id: "a\x00" has control characters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.edit(&c)
			b, err := c.Body(tt.schema, tt.org, "f.json")
			if err == nil || err.Error() != tt.want {
				t.Errorf("Body = %s, %v; want error %s", b, err, tt.want)
			}
		})
	}
	var nilChat *Chat
	if _, err := nilChat.Body(Chats, "o", "f"); err == nil {
		t.Error("Body of a nil chat succeeded")
	}
}

func TestBodyOfBuiltChat(t *testing.T) {
	// A chat built by hand, not read: senders normalised, date from Start,
	// an ISO date string accepted, session from interaction_id.
	c := Chat{
		Index: 1, Start: utc(2025, 2, 1, 8, 0, 0),
		Metadata: map[string]any{"Interaction_ID": "I-5"},
		Messages: []Message{msg(utc(2025, 2, 1, 8, 1, 0), "Customer", "hello"), msg(utc(2025, 2, 1, 8, 2, 0), " BOT ", "hi")},
	}
	b, err := c.Body(Chats, "o", "f.json")
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, b, `{"org_id": "o", "chats": [
	  {"message": "hello", "time": "01/02/2025, 10:01:00", "sender": "user"},
	  {"message": "hi", "time": "01/02/2025, 10:02:00", "sender": "bot"}],
	  "metadata": {"interaction_id": "I-5", "date": "01/02/2025, 10:00:00"}}`)
	b, err = c.Body(ChatData, "o", "f.json")
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, b, `{"org_id": "o", "chat_data": {"session_id": "I-5", "start_time": "2025-02-01T08:00:00Z", "end_time": "2025-02-01T08:02:00Z",
	  "messages": [
	    {"timestamp": "2025-02-01T08:01:00Z", "sender": "user", "content": "hello"},
	    {"timestamp": "2025-02-01T08:02:00Z", "sender": "bot", "content": "hi"}]},
	  "metadata": {"interaction_id": "I-5", "date": "2025-02-01T08:00:00Z"}}`)

	c.Metadata = map[string]any{"date": "2025-02-01T07:00:00Z"}
	b, err = c.Body(Chats, "o", "f.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"date":"01/02/2025, 09:00:00"`) {
		t.Errorf("body %s does not have the metadata's date", b)
	}
}
