package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta"
)

// chatsBody is the Chats schema's body.
type chatsBody struct {
	OrgID    string         `json:"org_id"`
	Chats    []chatsMessage `json:"chats"`
	Metadata map[string]any `json:"metadata"`
}

type chatsMessage struct {
	Message  string `json:"message"`
	Time     string `json:"time"`
	Sender   string `json:"sender"`
	Language string `json:"language,omitempty"`
}

// seedBody is the ChatData schema's body.
type seedBody struct {
	OrgID    string         `json:"org_id"`
	ChatData seedChat       `json:"chat_data"`
	Metadata map[string]any `json:"metadata"`
}

type seedChat struct {
	SessionID  string        `json:"session_id"`
	AgentID    string        `json:"agent_id,omitempty"`
	CustomerID string        `json:"customer_id,omitempty"`
	StartTime  string        `json:"start_time"`
	EndTime    string        `json:"end_time"`
	Messages   []seedMessage `json:"messages"`
}

type seedMessage struct {
	Timestamp string `json:"timestamp"`
	Sender    string `json:"sender"`
	Content   string `json:"content"`
}

// isoTime renders t as the ChatData schema's times: RFC 3339 in UTC.
func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Body returns the JSON body of one chat for the schema.
//
// Under Chats: {"org_id", "chats": [{"message","time","sender","language"?}],
// "metadata": {..., "date"}} with times as meta.FormatDate (DD/MM/YYYY,
// HH:mm:ss Africa/Johannesburg). The seed layout's agent_id, customer_id
// and end_time have no place and are dropped; SessionID is sent as metadata
// interaction_id unless the metadata has one.
//
// Under ChatData: {"org_id","chat_data":{"session_id","agent_id",
// "customer_id","start_time","end_time","messages":[{"timestamp","sender",
// "content"}]},"metadata":{...}} with ISO 8601 UTC times (RFC 3339, "Z"),
// metadata.date included. session_id is SessionID, else metadata
// interaction_id, else "<fileName>#<Index>"; start_time and end_time are
// Start and End, else the first and last message's times; agent_id and
// customer_id are left out when empty, and so is a message's language,
// which the schema has no place for.
//
// Metadata "date" is sent always: Metadata's, else Start, else the first
// message's time. Body checks c again as Read does (senders, texts, times,
// metadata) so that what it returns is always a body Vela reads as meant.
func (c *Chat) Body(schema Schema, orgID, fileName string) ([]byte, error) {
	if c == nil {
		return nil, fmt.Errorf("build %s body: no chat", schema)
	}
	b, err := c.body(schema, orgID, fileName)
	if err != nil {
		return nil, fmt.Errorf("build %s body of chat %d: %w", schema, c.Index, err)
	}
	return b, nil
}

func (c *Chat) body(schema Schema, orgID, fileName string) ([]byte, error) {
	if strings.TrimSpace(orgID) == "" {
		return nil, errors.New("org_id is empty")
	}
	if schema != Chats && schema != ChatData {
		return nil, fmt.Errorf("schema %q is not %s or %s", schema, Chats, ChatData)
	}
	if len(c.Messages) == 0 {
		return nil, errors.New("it has no messages")
	}
	md, err := c.checkMetadata()
	if err != nil {
		return nil, err
	}
	date, _ := md[fieldDate].(time.Time)
	switch {
	case !date.IsZero():
	case !c.Start.IsZero():
		date = c.Start
	default:
		date = c.Messages[0].Time
	}
	senders := make([]string, len(c.Messages))
	langs := make([]string, len(c.Messages))
	for i, m := range c.Messages {
		if senders[i], langs[i], err = checkSent(m); err != nil {
			return nil, fmt.Errorf("message %d: %w", i+1, err)
		}
	}

	var v any
	switch schema {
	case Chats:
		md[fieldDate] = meta.FormatDate(date)
		if _, ok := md[fieldInteractionID]; !ok && c.SessionID != "" {
			id, err := id("session_id", c.SessionID)
			if err != nil {
				return nil, err
			}
			md[fieldInteractionID] = id
		}
		out := chatsBody{OrgID: orgID, Chats: make([]chatsMessage, len(c.Messages)), Metadata: md}
		for i, m := range c.Messages {
			out.Chats[i] = chatsMessage{Message: m.Text, Time: meta.FormatDate(m.Time), Sender: senders[i], Language: langs[i]}
		}
		v = out
	case ChatData:
		md[fieldDate] = isoTime(date)
		session := c.SessionID
		if session == "" {
			session, _ = md[fieldInteractionID].(string)
		}
		if session == "" {
			session = fileName + "#" + strconv.Itoa(c.Index)
		}
		start, end := c.Start, c.End
		if start.IsZero() {
			start = c.Messages[0].Time
		}
		if end.IsZero() {
			end = c.Messages[len(c.Messages)-1].Time
		}
		out := seedBody{OrgID: orgID, Metadata: md, ChatData: seedChat{
			SessionID: session, AgentID: c.AgentID, CustomerID: c.CustomerID,
			StartTime: isoTime(start), EndTime: isoTime(end),
			Messages: make([]seedMessage, len(c.Messages)),
		}}
		for i, m := range c.Messages {
			out.ChatData.Messages[i] = seedMessage{Timestamp: isoTime(m.Time), Sender: senders[i], Content: m.Text}
		}
		v = out
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// checkMetadata checks c.Metadata as Read does and returns a copy to send.
// A date string is read as Read reads one with a zero Options: a time
// without an offset is in Africa/Johannesburg.
func (c *Chat) checkMetadata() (map[string]any, error) {
	md := newMetadata()
	dates := Options{}.dates()
	for _, k := range slices.Sorted(maps.Keys(c.Metadata)) {
		if err := md.add(k, c.Metadata[k], dates, ""); err != nil {
			return nil, err
		}
	}
	return md.m, nil
}

// checkSent checks a message before it is sent and returns its sender and
// language.
func checkSent(m Message) (from, lang string, err error) {
	if strings.TrimSpace(m.Text) == "" {
		return "", "", errors.New("it has no text")
	}
	if m.Time.IsZero() {
		return "", "", errors.New("it has no time")
	}
	if from, err = sender(m.Sender); err != nil {
		return "", "", err
	}
	if lang, err = language(m.Language); err != nil {
		return "", "", err
	}
	return from, lang, nil
}
