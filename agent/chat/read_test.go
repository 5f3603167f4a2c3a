package chat

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// zone is the source's zone in these tests: not Vela's, so that a time read
// in the wrong zone shows.
var zone = time.FixedZone("UTC+3", 3*3600)

// johannesburg is a real zone, for layouts with a zone abbreviation.
var johannesburg = mustZone("Africa/Johannesburg")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// opts reads times in zone, by meta's forms alone.
var opts = Options{Zone: zone}

func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

// msg is a message as the tests expect it; times compare as instants.
func msg(t time.Time, from, text string) Message {
	return Message{Time: t, Sender: from, Text: text}
}

const seedFile = `{
  "chat_data": {
    "session_id": "chat_12345", "agent_id": "agent_001", "customer_id": "customer_789",
    "start_time": "2024-01-15T10:30:00Z", "end_time": "2024-01-15T10:45:00Z",
    "messages": [
      {"timestamp": "2024-01-15T10:30:00Z", "sender": "customer", "content": "Hello, I need help with my account"},
      {"timestamp": "2024-01-15T10:30:15Z", "sender": "agent", "content": "Hi! How can I help?"}
    ]
  },
  "metadata": {"department": "customer_support"}
}`

var seedWant = Chat{
	Index: 1, SessionID: "chat_12345", AgentID: "agent_001", CustomerID: "customer_789",
	Start: utc(2024, 1, 15, 10, 30, 0), End: utc(2024, 1, 15, 10, 45, 0),
	Metadata: map[string]any{"department": "customer_support", "date": utc(2024, 1, 15, 10, 30, 0)},
	Messages: []Message{
		msg(utc(2024, 1, 15, 10, 30, 0), "user", "Hello, I need help with my account"),
		msg(utc(2024, 1, 15, 10, 30, 15), "agent", "Hi! How can I help?"),
	},
}

const bulkChat1 = `{"metadata": {"agent_name": "Thandi", "interaction_id": "INT-1", "date": "2025-03-04T09:00:00+02:00"},
  "messages": [
    {"message": "Hi", "time": "2025-03-04T09:00:05+02:00", "sender": "user", "language": "zu"},
    {"message": "Sawubona", "time": "2025-03-04T09:00:09+02:00", "sender": "agent"}
  ]}`

var bulkWant1 = Chat{
	Index: 1, SessionID: "INT-1",
	Metadata: map[string]any{"agent_name": "Thandi", "interaction_id": "INT-1", "date": utc(2025, 3, 4, 7, 0, 0)},
	Messages: []Message{
		{Time: utc(2025, 3, 4, 7, 0, 5), Sender: "user", Text: "Hi", Language: "zu"},
		msg(utc(2025, 3, 4, 7, 0, 9), "agent", "Sawubona"),
	},
}

const bulkChat2 = `{"metadata": {}, "messages": [{"message": "bye", "time": "1741078800", "sender": "bot"}]}`

var bulkWant2 = Chat{
	Index: 2,
	// No date in the metadata: the first message's time.
	Metadata: map[string]any{"date": utc(2025, 3, 4, 9, 0, 0)},
	Messages: []Message{msg(utc(2025, 3, 4, 9, 0, 0), "bot", "bye")},
}

func TestReadLayouts(t *testing.T) {
	seed2 := seedWant
	seed2.Index = 2
	bulk2 := bulkWant2
	bulk2.Index = 2
	csvWant := Chat{
		Index:    1,
		Metadata: map[string]any{"date": utc(2025, 1, 15, 7, 30, 0)},
		Messages: []Message{
			msg(utc(2025, 1, 15, 7, 30, 0), "user", "Hello, I need help"),
			msg(utc(2025, 1, 15, 7, 31, 0), "agent", "Hi! \"Quoted\", with a comma"),
		},
	}
	csvLang := csvWant
	csvLang.Messages = []Message{csvWant.Messages[0], csvWant.Messages[1]}
	csvLang.Messages[0].Language = "en"

	tests := []struct {
		name, file, in string
		layout         string
		want           []Chat
	}{
		{"seed object", "chat.json", seedFile, "chat_data", []Chat{seedWant}},
		{"seed array", "chats.json", "[" + seedFile + "," + seedFile + "]", "chat_data", []Chat{seedWant, seed2}},
		{"seed array of one", "chats.json", "[" + seedFile + "]", "chat_data", []Chat{seedWant}},
		{"bulk array of one", "bulk.json", "[" + bulkChat1 + "]", "bulk", []Chat{bulkWant1}},
		{"bulk array", "bulk.json", "[" + bulkChat1 + "," + bulkChat2 + "]", "bulk", []Chat{bulkWant1, bulk2}},
		{"upper-case extension", "BULK.JSON", "[" + bulkChat1 + "]", "bulk", []Chat{bulkWant1}},
		{"byte-order mark", "bulk.json", "\ufeff[" + bulkChat1 + "]", "bulk", []Chat{bulkWant1}},
		{"JSON without extension", "export", "\n [" + bulkChat1 + "]", "bulk", []Chat{bulkWant1}},
		{"csv", "chat.csv", "time,sender,message\n" +
			"2025-01-15 10:30:00,Customer,\"  Hello, I need help  \"\n" +
			"2025-01-15 10:31:00,AGENT,\"Hi! \"\"Quoted\"\", with a comma\"\n", "csv", []Chat{csvWant}},
		{"csv with language, BOM and CRLF", "chat.CSV", "\ufeff Time , SENDER,Message,language\r\n" +
			"2025-01-15 10:30:00,user,\"  Hello, I need help\",en\r\n" +
			"2025-01-15 10:31:00,agent,\"Hi! \"\"Quoted\"\", with a comma\",\r\n\r\n", "csv", []Chat{csvLang}},
		{"csv without extension", "chat.txt", "time,sender,message\n" +
			"2025-01-15 10:30:00,user,\"Hello, I need help\"\n" +
			"2025-01-15 10:31:00,agent,\"Hi! \"\"Quoted\"\", with a comma\"\n", "csv", []Chat{csvWant}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layout, chats, err := Read(tt.file, strings.NewReader(tt.in), opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if layout != tt.layout {
				t.Errorf("layout = %q, want %q", layout, tt.layout)
			}
			checkChats(t, chats, tt.want)
		})
	}
}

// checkChats compares chats, with times as instants.
func checkChats(t *testing.T, got, want []Chat) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d chats, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := normChat(got[i]), normChat(want[i])
		if !reflect.DeepEqual(g, w) {
			t.Errorf("chat %d:\n got %+v\nwant %+v", i+1, g, w)
		}
	}
}

// normChat puts every time of c in UTC, so that equal instants compare equal.
func normChat(c Chat) Chat {
	c.Start, c.End = c.Start.UTC(), c.End.UTC()
	md := map[string]any{}
	for k, v := range c.Metadata {
		if t, ok := v.(time.Time); ok {
			v = t.UTC()
		}
		md[k] = v
	}
	c.Metadata = md
	msgs := make([]Message, len(c.Messages))
	for i, m := range c.Messages {
		m.Time = m.Time.UTC()
		msgs[i] = m
	}
	c.Messages = msgs
	return c
}

// bulk returns a bulk file of one chat with metadata md and one message m.
func bulk(md, m string) string {
	return `[{"metadata": ` + md + `, "messages": [` + m + `]}]`
}

func TestReadMessages(t *testing.T) {
	local := func(y int, mo time.Month, d, h, mi, s int) time.Time { return time.Date(y, mo, d, h, mi, s, 0, zone) }
	tests := []struct {
		name string
		m    string // one bulk message
		o    Options
		want Message
	}{
		{"agent in capitals", `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": " Agent "}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "agent", "x")},
		{"user", `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "USER"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"customer is user", `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "Customer"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"bot", `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "bot\t"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "bot", "x")},
		{"text trimmed, inner lines kept", `{"message": "  two\nlines \n", "time": "2025-01-15T10:00:00Z", "sender": "user"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "two\nlines")},
		{"language", `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "user", "language": " af "}`, opts,
			Message{Time: utc(2025, 1, 15, 10, 0, 0), Sender: "user", Text: "x", Language: "af"}},
		{"empty language", `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "user", "language": ""}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"null language", `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "user", "language": null}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"offset", `{"message": "x", "time": " 2025-01-15T12:00:00+02:00 ", "sender": "user"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"offset without colon, space", `{"message": "x", "time": "2025-01-15 12:00:00+0200", "sender": "user"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"hour offset by a source layout", `{"message": "x", "time": "2025-01-15T05:00:00-05", "sender": "user"}`,
			Options{Zone: zone, Layouts: []string{"2006-01-02T15:04:05Z07"}}, msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"no seconds, lower-case z", `{"message": "x", "time": "2025-01-15t10:00z", "sender": "user"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"fraction truncated", `{"message": "x", "time": "2025-01-15T10:00:00.999Z", "sender": "user"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"epoch seconds", `{"message": "x", "time": "1736935200", "sender": "user"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"epoch seconds as a number", `{"message": "x", "time": 1736935200, "sender": "user"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"epoch milliseconds truncated", `{"message": "x", "time": "1736935200999", "sender": "user"}`, opts,
			msg(utc(2025, 1, 15, 10, 0, 0), "user", "x")},
		{"no offset: the source's zone", `{"message": "x", "time": "2025-01-15T13:00:00", "sender": "user"}`, opts,
			msg(local(2025, 1, 15, 13, 0, 0), "user", "x")},
		{"no offset and no zone: Africa/Johannesburg", `{"message": "x", "time": "2025-01-15 10:00", "sender": "user"}`, Options{},
			msg(utc(2025, 1, 15, 8, 0, 0), "user", "x")},
		{"day-first without seconds", `{"message": "x", "time": "04/03/2025 13:05", "sender": "user"}`, opts,
			msg(local(2025, 3, 4, 13, 5, 0), "user", "x")},
		{"day-first with seconds", `{"message": "x", "time": "04/03/2025 13:05:07", "sender": "user"}`, opts,
			msg(local(2025, 3, 4, 13, 5, 7), "user", "x")},
		{"Vela's own form", `{"message": "x", "time": "04/03/2025, 13:05:07", "sender": "user"}`, opts,
			msg(local(2025, 3, 4, 13, 5, 7), "user", "x")},
		{"day-first with dashes", `{"message": "x", "time": "04-03-2025 13:05:07.5", "sender": "user"}`, opts,
			msg(local(2025, 3, 4, 13, 5, 7), "user", "x")},
		{"day-first, one-digit fields", `{"message": "x", "time": "4/3/2025 9:05", "sender": "user"}`, opts,
			msg(local(2025, 3, 4, 9, 5, 0), "user", "x")},
		{"day-first by the source's day-first layouts", `{"message": "x", "time": "04/03/2025 13:05", "sender": "user"}`,
			Options{Zone: zone, Layouts: []string{"02/01/2006 15:04:05", "02/01/2006 15:04"}}, msg(local(2025, 3, 4, 13, 5, 0), "user", "x")},
		{"the source's layouts are tried first", `{"message": "x", "time": "04/03/2025 13:05", "sender": "user"}`,
			Options{Zone: zone, Layouts: []string{"01/02/2006 15:04"}}, msg(local(2025, 4, 3, 13, 5, 0), "user", "x")},
		{"a layout in a named zone", `{"message": "x", "time": "2025-01-15 13:00 SAST", "sender": "user"}`,
			Options{Zone: johannesburg, Layouts: []string{"2006-01-02 15:04 MST"}}, msg(utc(2025, 1, 15, 11, 0, 0), "user", "x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, chats, err := Read("b.json", strings.NewReader(bulk("{}", tt.m)), tt.o)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got := chats[0].Messages[0]
			if !got.Time.Equal(tt.want.Time) || got.Sender != tt.want.Sender || got.Text != tt.want.Text || got.Language != tt.want.Language {
				t.Errorf("message = %+v, want %+v", got, tt.want)
			}
			if got.Time.Nanosecond() != 0 {
				t.Errorf("time %v has a fraction", got.Time)
			}
		})
	}
}

func TestReadMetadata(t *testing.T) {
	const m = `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "user"}`
	first := utc(2025, 1, 15, 10, 0, 0)
	tests := []struct {
		name, md string
		want     map[string]any
		session  string
	}{
		{"none", `{}`, map[string]any{"date": first}, ""},
		{"null", `null`, map[string]any{"date": first}, ""},
		{"aliases and case", `{" Agent ": "thandi@example.co.za", "Notify_Email": "qa@example.com", "TEAM": " Support "}`,
			map[string]any{"email": "thandi@example.co.za", "notifyEmail": "qa@example.com", "team": "Support", "date": first}, ""},
		{"direction in lower case", `{"direction": "Inbound"}`, map[string]any{"direction": "inbound", "date": first}, ""},
		{"tags string is one tag", `{"tags": "vip;billing"}`, map[string]any{"tags": []string{"vip;billing"}, "date": first}, ""},
		{"tags list", `{"tags": [" vip", "billing", ""]}`, map[string]any{"tags": []string{"vip", "billing"}, "date": first}, ""},
		{"contact as a number", `{"contact": 27821234567}`, map[string]any{"contact": "27821234567", "date": first}, ""},
		{"empty values are left out", `{"team": "", "department": null, "tags": [], "language": " ", "date": ""}`,
			map[string]any{"date": first}, ""},
		{"language", `{"Language": "zu"}`, map[string]any{"language": "zu", "date": first}, ""},
		{"date", `{"Date": "2025-01-14T08:00:00Z"}`, map[string]any{"date": utc(2025, 1, 14, 8, 0, 0)}, ""},
		{"date day-first in the source's zone", `{"date": "14/01/2025 11:00"}`, map[string]any{"date": utc(2025, 1, 14, 8, 0, 0)}, ""},
		{"date as epoch", `{"date": 1736841600}`, map[string]any{"date": utc(2025, 1, 14, 8, 0, 0)}, ""},
		{"interaction_id is the session", `{"interaction_id": "INT-9"}`,
			map[string]any{"interaction_id": "INT-9", "date": first}, "INT-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, chats, err := Read("b.json", strings.NewReader(bulk(tt.md, m)), opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			c := normChat(chats[0])
			if !reflect.DeepEqual(c.Metadata, tt.want) {
				t.Errorf("metadata = %#v\nwant %#v", c.Metadata, tt.want)
			}
			if c.SessionID != tt.session {
				t.Errorf("SessionID = %q, want %q", c.SessionID, tt.session)
			}
		})
	}
}

func TestReadSeedDateAndSession(t *testing.T) {
	const msgs = `"messages": [{"timestamp": "2024-01-15T10:31:00Z", "sender": "agent", "content": "Hi"}]`
	tests := []struct {
		name, in string
		date     time.Time
		session  string
	}{
		{"start_time", `{"chat_data": {"start_time": "2024-01-15T10:30:00Z", ` + msgs + `}}`, utc(2024, 1, 15, 10, 30, 0), ""},
		{"metadata date wins", `{"chat_data": {"start_time": "2024-01-15T10:30:00Z", ` + msgs + `}, "metadata": {"date": "1705314000"}}`,
			utc(2024, 1, 15, 10, 20, 0), ""},
		{"first message", `{"chat_data": {"start_time": null, ` + msgs + `}}`, utc(2024, 1, 15, 10, 31, 0), ""},
		{"interaction_id without session_id", `{"metadata": {"interaction_id": "I-1"}, "chat_data": {` + msgs + `}}`,
			utc(2024, 1, 15, 10, 31, 0), "I-1"},
		{"session_id and interaction_id", `{"metadata": {"interaction_id": "I-1"}, "chat_data": {"session_id": "S-1", ` + msgs + `}}`,
			utc(2024, 1, 15, 10, 31, 0), "S-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, chats, err := Read("c.json", strings.NewReader(tt.in), opts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if d, _ := chats[0].Metadata["date"].(time.Time); !d.Equal(tt.date) {
				t.Errorf("date = %v, want %v", chats[0].Metadata["date"], tt.date)
			}
			if chats[0].SessionID != tt.session {
				t.Errorf("SessionID = %q, want %q", chats[0].SessionID, tt.session)
			}
		})
	}
}

func TestReadBad(t *testing.T) {
	const m = `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "user"}`
	ok := bulk("{}", m)
	lines := func(n int) string {
		var b strings.Builder
		b.WriteString("time,sender,message\n")
		for range n {
			b.WriteString("2025-01-15T10:00:00Z,user,x\n")
		}
		return b.String()
	}
	tests := []struct {
		name, file, in string
		o              Options
		want           string // the whole Error()
		chat, msg      int
	}{
		{"invalid JSON", "f.json", `[{"metadata": {}, "messages": [{"message": "x" "time": 1}]}]`, opts,
			`f.json: chat 1, message 1: is not valid JSON at byte 47: invalid character '"' after object key:value pair`, 1, 1},
		{"truncated JSON", "f.json", ok[:len(ok)-3], opts, `f.json: chat 1: ends before its JSON does: is it cut short?`, 1, 0},
		{"truncated in a value", "f.json", `[{"metadata": {"team": "Sup`, opts, `f.json: chat 1: ends before its JSON does: is it cut short?`, 1, 0},
		{"trailing data", "f.json", ok + ` {}`, opts, `f.json: has more data after its JSON value`, 0, 0},
		{"trailing garbage", "f.json", ok + `]`, opts, `f.json: has more data after its JSON value`, 0, 0},
		{"empty JSON", "f.json", "", opts, `f.json: is empty`, 0, 0},
		{"blank JSON", "f.json", " \r\n\t", opts, `f.json: is empty`, 0, 0},
		{"byte-order mark only", "f.json", "\ufeff", opts, `f.json: is empty`, 0, 0},
		{"empty CSV", "f.csv", "", opts, `f.csv: is empty`, 0, 0},
		{"empty list", "f.json", ` [ ] `, opts, `f.json: is an empty list: it has no chats`, 0, 0},
		{"no messages", "f.json", `[{"metadata": {}, "messages": []}]`, opts, `f.json: chat 1: has no messages`, 1, 0},
		{"no messages key", "f.json", `[` + ok[1:len(ok)-1] + `, {"metadata": {}}]`, opts, `f.json: chat 2: has no messages`, 2, 0},
		{"seed without messages", "f.json", `{"chat_data": {"session_id": "s"}}`, opts, `f.json: chat 1: has no messages`, 1, 0},
		{"CSV without messages", "f.csv", "time,sender,message\n", opts, `f.csv: chat 1: has no messages`, 1, 0},
		{"no text", "f.json", bulk("{}", `{"message": " \n ", "time": "2025-01-15T10:00:00Z", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: has no text`, 1, 1},
		{"text not a string", "f.json", bulk("{}", `{"message": 5, "time": "2025-01-15T10:00:00Z", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: message is a number, not text`, 1, 1},
		{"no time", "f.json", bulk("{}", `{"message": "x", "sender": "user"}`), opts, `f.json: chat 1, message 1: has no time`, 1, 1},
		{"empty time", "f.csv", "time,sender,message\n ,user,x\n", opts, `f.csv: chat 1, message 1: has no time`, 1, 1},
		{"no sender", "f.json", bulk("{}", `{"message": "x", "time": "2025-01-15T10:00:00Z"}`), opts,
			`f.json: chat 1, message 1: has no sender`, 1, 1},
		{"unknown sender", "chats.json", `[` + ok[1:len(ok)-1] + `,` + ok[1:len(ok)-3] +
			`, {"message": "y", "time": "2025-01-15T10:00:00Z", "sender": " customer service"}]}]`, opts,
			`chats.json: chat 2, message 2: sender "customer service" is not agent, user or bot`, 2, 2},
		{"sender Agent Smith", "f.csv", "time,sender,message\n2025-01-15T10:00:00Z,Agent Smith,x\n", opts,
			`f.csv: chat 1, message 1: sender "Agent Smith" is not agent, user or bot`, 1, 1},
		{"time no form reads", "f.json", bulk("{}", `{"message": "x", "time": "yesterday", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: read time: date "yesterday" matches no date layout and no known date form`, 1, 1},
		{"hour offset without a layout", "f.json", bulk("{}", `{"message": "x", "time": "2025-01-15T05:00:00-05", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: read time: date "2025-01-15T05:00:00-05" matches no date layout and no known date form`, 1, 1},
		{"day-first out of range", "f.json", bulk("{}", `{"message": "x", "time": "31/04/2025 10:00", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: read time: date "31/04/2025 10:00" has day 31, but April 2025 has 30 days (read day-first, as chat times always are)`, 1, 1},
		{"out of range for the source's layout", "f.json", bulk("{}", `{"message": "x", "time": "13/03/2025 13:05", "sender": "user"}`),
			Options{Zone: zone, Layouts: []string{"01/02/2006 15:04"}},
			`f.json: chat 1, message 1: read time: date "13/03/2025 13:05" does not fit layout "01/02/2006 15:04": month out of range`, 1, 1},
		{"zone the source's zone does not know", "f.json", bulk("{}", `{"message": "x", "time": "2025-01-15 13:00 CET", "sender": "user"}`),
			Options{Zone: johannesburg, Layouts: []string{"2006-01-02 15:04 MST"}},
			`f.json: chat 1, message 1: read time: date "2025-01-15 13:00 CET" has zone "CET", which Africa/Johannesburg does not know: write a numeric offset or set the source's zone`, 1, 1},
		{"offset out of range", "f.json", bulk("{}", `{"message": "x", "time": "2025-01-15T10:00:00+15:00", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: read time: date "2025-01-15T10:00:00+15:00" has offset +15:00, outside -12:00 to +14:00`, 1, 1},
		{"year out of range", "f.json", bulk("{}", `{"message": "x", "time": "9999999999", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: read time: date "9999999999" has year 2286, outside 1970 to 2100`, 1, 1},
		{"time an object", "f.json", bulk("{}", `{"message": "x", "time": {}, "sender": "user"}`), opts,
			`f.json: chat 1, message 1: time is an object, not a time`, 1, 1},
		{"bad start_time", "f.json", `{"chat_data": {"start_time": "soon", "messages": []}}`, opts,
			`f.json: chat 1: start_time: read time: date "soon" matches no date layout and no known date form`, 1, 0},
		{"unknown layout: a string", "f.json", `"chat"`, opts, `f.json: ` + layoutReason, 0, 0},
		{"unknown layout: other keys", "f.json", `{"org_id": "x", "chats": []}`, opts, `f.json: ` + layoutReason + `; it has key "org_id"`, 0, 0},
		{"unknown layout: a single bulk chat", "f.json", ok[1 : len(ok)-1], opts, `f.json: ` + layoutReason, 0, 0},
		{"unknown layout: list of numbers", "f.json", `[1, 2]`, opts, `f.json: ` + layoutReason, 0, 0},
		{"unknown chat key", "f.json", `[{"metadata": {}, "transcript": []}]`, opts,
			`f.json: chat 1: has key "transcript", which no chat layout has (metadata with messages or chat_data)`, 1, 0},
		{"unknown message key", "f.json", bulk("{}", `{"message": "x", "timestamp": "2025-01-15T10:00:00Z", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: has key "timestamp"; a message has message, time, sender and language`, 1, 1},
		{"seed message with bulk keys", "f.json", `{"chat_data": {"messages": [` + m + `]}}`, opts,
			`f.json: chat 1, message 1: has key "message"; a message has timestamp, sender and content`, 1, 1},
		{"unknown chat_data key", "f.json", `{"chat_data": {"channel": "web"}}`, opts,
			`f.json: chat 1: chat_data has key "channel"; it has session_id, agent_id, customer_id, start_time, end_time and messages`, 1, 0},
		{"duplicate key", "f.json", bulk("{}", `{"message": "x", "message": "y", "time": "2025-01-15T10:00:00Z", "sender": "user"}`), opts,
			`f.json: chat 1, message 1: the message has key "message" twice`, 1, 1},
		{"mixed layouts", "f.json", `[` + ok[1:len(ok)-1] + `,` + seedFile + `]`, opts,
			`f.json: chat 2: is in the chat_data layout, but chat 1 is in the bulk layout`, 2, 0},
		{"both layouts in one chat", "f.json", `[{"messages": [` + m + `], "chat_data": {"messages": []}}]`, opts,
			`f.json: chat 1: has both messages and chat_data`, 1, 0},
		{"chat not an object", "f.json", `[` + ok[1:len(ok)-1] + `, "x"]`, opts, `f.json: chat 2: is text, not an object`, 2, 0},
		{"message not an object", "f.json", bulk("{}", `"hi"`), opts, `f.json: chat 1, message 1: is text, not an object`, 1, 1},
		{"messages not a list", "f.json", `[{"messages": {}}]`, opts, `f.json: chat 1: messages is an object, not a list`, 1, 0},
		{"chat_data null", "f.json", `{"chat_data": null}`, opts, `f.json: chat 1: chat_data is null, not an object`, 1, 0},
		{"metadata not an object", "f.json", `[{"metadata": [], "messages": [` + m + `]}]`, opts,
			`f.json: chat 1: metadata is a list, not an object`, 1, 0},
		{"unknown metadata key", "f.json", bulk(`{"channel": "website"}`, m), opts,
			`f.json: chat 1: metadata "channel" is not a chat field (email, agent_name, team, department, direction, tags, contact, interaction_id, notifyEmail, date, language); Vela would drop it`, 1, 0},
		{"date_of_call in a chat", "f.json", bulk(`{"date_of_call": "15/01/2025, 10:00:00"}`, m), opts,
			`f.json: chat 1: metadata "date_of_call" is a call field: a chat's date is "date"`, 1, 0},
		{"invalid metadata value", "f.json", bulk(`{"email": "thandi@"}`, m), opts,
			`f.json: chat 1: metadata "email": "thandi@" is not an e-mail address`, 1, 0},
		{"invalid direction", "f.json", bulk(`{"direction": "both"}`, m), opts,
			`f.json: chat 1: metadata "direction": "both" is not inbound or outbound`, 1, 0},
		{"tags not strings", "f.json", bulk(`{"tags": ["a", 2]}`, m), opts, `f.json: chat 1: metadata "tags": tag 2 is not a string`, 1, 0},
		{"bad metadata date", "f.json", bulk(`{"date": "2025-13-01T00:00:00Z"}`, m), opts,
			`f.json: chat 1: metadata "date": read time: date "2025-13-01T00:00:00Z" has month 13, outside 1 to 12`, 1, 0},
		{"metadata date not a time", "f.json", bulk(`{"date": true}`, m), opts,
			`f.json: chat 1: metadata "date": is true or false, not a time`, 1, 0},
		{"alias and field both given", "f.json", bulk(`{"email": "a@example.com", "Agent": "b@example.com"}`, m), opts,
			`f.json: chat 1: metadata "email" and "Agent" are both email`, 1, 0},
		{"metadata key twice", "f.json", bulk(`{"team": "a", "team": "b"}`, m), opts,
			`f.json: chat 1: metadata has key "team" twice`, 1, 0},
		{"session_id a number", "f.json", `{"chat_data": {"session_id": 12}}`, opts,
			`f.json: chat 1: session_id: 12 is a number, not text`, 1, 0},
		{"bad language", "f.json", bulk("{}", `{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "user", "language": "e\u0007n"}`), opts,
			`f.json: chat 1, message 1: language "e\an" has control characters`, 1, 1},
		{"CSV wrong header", "f.csv", "timestamp,sender,content\n", opts,
			`f.csv: has header "timestamp,sender,content", want "time,sender,message" or "time,sender,message,language"`, 0, 0},
		{"CSV header out of order", "f.csv", "sender,time,message\n", opts,
			`f.csv: has header "sender,time,message", want "time,sender,message" or "time,sender,message,language"`, 0, 0},
		{"CSV with semicolons", "f.csv", "time;sender;message\n", opts,
			`f.csv: has header "time;sender;message", want "time,sender,message" or "time,sender,message,language"`, 0, 0},
		{"JSON named .csv", "f.csv", ok, opts, `f.csv: is not valid CSV: line 1, column 3: bare " in non-quoted-field`, 0, 0},
		{"CSV named .json", "f.json", "time,sender,message\n", opts,
			`f.json: is not valid JSON at byte 2: invalid character 'i' in literal true (expecting 'r')`, 0, 0},
		{"CSV wrong column count", "f.csv", "time,sender,message\n2025-01-15T10:00:00Z,user,x\n2025-01-15T10:00:00Z,user,x,en\n", opts,
			`f.csv: chat 1, message 2: line 3 has 4 columns, the header 3`, 1, 2},
		{"CSV too few columns", "f.csv", "time,sender,message,language\n2025-01-15T10:00:00Z,user\n", opts,
			`f.csv: chat 1, message 1: line 2 has 2 columns, the header 4`, 1, 1},
		{"CSV bad quote", "f.csv", "time,sender,message\n2025-01-15T10:00:00Z,user,\"x\n", opts,
			`f.csv: chat 1, message 1: is not valid CSV: line 2, column 30: extraneous or missing " in quoted-field`, 1, 1},
		{"too many messages", "f.json", bulk("{}", m+","+m+","+m), Options{Zone: zone, MaxMessages: 2},
			`f.json: chat 1: has more than 2 messages`, 1, 0},
		{"too many CSV messages", "f.csv", lines(3), Options{Zone: zone, MaxMessages: 2}, `f.csv: chat 1: has more than 2 messages`, 1, 0},
		{"not UTF-8", "f.csv", "time,sender,message\n2025-01-15T10:00:00Z,user,caf\xe9\n", opts,
			`f.csv: is not UTF-8 text (byte 49): save it as UTF-8`, 0, 0},
		{"not UTF-8 in JSON", "f.json", bulk("{}", "{\"message\": \"caf\xe9\"}"), opts,
			`f.json: is not UTF-8 text (byte 47): save it as UTF-8`, 0, 0},
		{"cut UTF-8 at the end", "f.json", ok + "\xe2\x82", opts, `f.json: is not UTF-8 text (byte 100): save it as UTF-8`, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layout, chats, err := Read(tt.file, strings.NewReader(tt.in), tt.o)
			if err == nil {
				t.Fatalf("Read = %q, %d chats; want error %q", layout, len(chats), tt.want)
			}
			if layout != "" || chats != nil {
				t.Errorf("Read returned %q and %d chats with its error", layout, len(chats))
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T) is not a *FileError", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			if fe.File != tt.file || fe.Chat != tt.chat || fe.Message != tt.msg {
				t.Errorf("error names %q chat %d message %d, want %q chat %d message %d",
					fe.File, fe.Chat, fe.Message, tt.file, tt.chat, tt.msg)
			}
		})
	}
}

func TestReadTooBig(t *testing.T) {
	defer func(n int64) { maxFileSize = n }(maxFileSize)
	maxFileSize = 64 << 10
	var b strings.Builder
	b.WriteString("[")
	for b.Len() < 64<<10 {
		b.WriteString(`{"metadata": {}, "messages": [{"message": "x", "time": "2025-01-15T10:00:00Z", "sender": "user"}]},`)
	}
	in := strings.TrimSuffix(b.String(), ",") + "]"
	csv := "time,sender,message\n" + strings.Repeat("2025-01-15T10:00:00Z,user,x\n", 64<<10/28)
	for name, in := range map[string]string{"big.json": in, "big.csv": csv} {
		_, _, err := Read(name, strings.NewReader(in), Options{Zone: zone, MaxMessages: 1 << 20})
		if want := name + ": is larger than 65536 bytes"; err == nil || err.Error() != want {
			t.Errorf("Read(%s) error = %v, want %s", name, err, want)
		}
	}
	if _, chats, err := Read("ok.json", strings.NewReader(in[:32<<10]+"x"), opts); err == nil || chats != nil {
		t.Errorf("a cut file was read: %v", err)
	}
}

func TestReadReaderFails(t *testing.T) {
	boom := errors.New("disk gone")
	for _, name := range []string{"f.json", "f.csv"} {
		r := io.MultiReader(strings.NewReader(`[{"metadata": {`), iotest.ErrReader(boom))
		if name == "f.csv" {
			r = io.MultiReader(strings.NewReader("time,sender,message\n"), iotest.ErrReader(boom))
		}
		_, _, err := Read(name, r, opts)
		var fe *FileError
		if !errors.Is(err, boom) || errors.As(err, &fe) {
			t.Errorf("Read(%s) error = %v; want the reader's error, not a *FileError", name, err)
		}
		if want := "read chat file " + name + ": disk gone"; err == nil || err.Error() != want {
			t.Errorf("Read(%s) error = %v, want %s", name, err, want)
		}
	}
}

func TestReadOneByteAtATime(t *testing.T) {
	in := "\ufeff[" + bulkChat1 + `, {"metadata": {"team": "Ondersteuning – ñ 😀"}, "messages": [{"message": "😀 café", "time": "1741078800", "sender": "bot"}]}]`
	_, chats, err := Read("b.json", iotest.OneByteReader(strings.NewReader(in)), opts)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := chats[1].Messages[0].Text; got != "😀 café" {
		t.Errorf("text = %q", got)
	}
	if got := chats[1].Metadata["team"]; got != "Ondersteuning – ñ 😀" {
		t.Errorf("team = %q", got)
	}
}

func TestFileError(t *testing.T) {
	tests := []struct {
		e    FileError
		want string
	}{
		{FileError{File: "chats.json", Chat: 2, Message: 14, Reason: `sender "customer service" is not agent, user or bot`},
			`chats.json: chat 2, message 14: sender "customer service" is not agent, user or bot`},
		{FileError{File: "a.csv", Chat: 1, Reason: "has no messages"}, "a.csv: chat 1: has no messages"},
		{FileError{File: "a.csv", Reason: "is empty"}, "a.csv: is empty"},
		{FileError{File: "a.csv", Message: 3, Reason: "x"}, "a.csv: message 3: x"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	long := strings.Repeat("é", 40)
	got := quote(long)
	if !strings.HasSuffix(got, `"...`) || len(got) > 70 {
		t.Errorf("quote(long) = %s", got)
	}
	if got := quote("a\nb"); got != `"a\nb"` {
		t.Errorf("quote = %s", got)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{64 << 20: "64 MiB", 1 << 20: "1 MiB", 1000: "1000 bytes", 3<<20 + 1: "3145729 bytes"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
}
