package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// layoutReason is the error of a JSON file in no known layout.
const layoutReason = `is in no known chat layout: want {"chat_data": {...}, "metadata": {...}}, ` +
	`a JSON array of those, or a JSON array of {"metadata": {...}, "messages": [...]}`

// msgKeys are the keys of one layout's message objects.
type msgKeys struct {
	text, time string
	language   bool   // the layout has a message language
	list       string // the keys, for errors
}

var (
	bulkKeys = msgKeys{text: "message", time: "time", language: true, list: "message, time, sender and language"}
	seedKeys = msgKeys{text: "content", time: "timestamp", list: "timestamp, sender and content"}
)

// jsonReader reads the JSON layouts with a streaming decoder, token by
// token, so that a duplicate or unknown key is found and every error can
// name its chat and message.
type jsonReader struct {
	dec  *json.Decoder
	opts Options
	chat int // 1-based chat being read, 0 outside one
	msg  int // 1-based message being read, 0 outside one
}

func readJSON(r io.Reader, opts Options) (string, []Chat, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	p := &jsonReader{dec: dec, opts: opts}
	return p.file()
}

// errorf returns a *FileError at the current chat and message.
func (p *jsonReader) errorf(format string, a ...any) *FileError {
	return &FileError{Chat: p.chat, Message: p.msg, Reason: fmt.Sprintf(format, a...)}
}

// fail returns err, which is about the current chat and message, as a
// *FileError there.
func (p *jsonReader) fail(err error) *FileError {
	return &FileError{Chat: p.chat, Message: p.msg, Reason: err.Error()}
}

// decodeError returns the error of the file for an error of the decoder.
func (p *jsonReader) decodeError(err error) error {
	if ce := contentError(err); ce != nil {
		return ce
	}
	var se *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return p.errorf("ends before its JSON does: is it cut short?")
	case errors.As(err, &se):
		return p.errorf("is not valid JSON at byte %d: %v", se.Offset, se)
	}
	return p.errorf("is not valid JSON: %v", err)
}

func (p *jsonReader) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err != nil {
		return nil, p.decodeError(err)
	}
	return t, nil
}

// value reads one whole value.
func (p *jsonReader) value() (any, error) {
	var v any
	if err := p.dec.Decode(&v); err != nil {
		return nil, p.decodeError(err)
	}
	return v, nil
}

// file reads the whole file.
func (p *jsonReader) file() (string, []Chat, error) {
	t, err := p.dec.Token()
	if err == io.EOF {
		return "", nil, &FileError{Reason: "is empty"}
	}
	if err != nil {
		return "", nil, p.decodeError(err)
	}
	var layout string
	var chats []Chat
	switch t {
	case json.Delim('{'):
		c, _, err := p.chat1(1, true)
		if err != nil {
			return "", nil, err
		}
		layout, chats = layoutChatData, []Chat{c}
	case json.Delim('['):
		for p.dec.More() {
			i := len(chats) + 1
			p.chat = i
			t, err := p.token()
			if err != nil {
				return "", nil, err
			}
			if t != json.Delim('{') {
				if i == 1 {
					return "", nil, &FileError{Reason: layoutReason}
				}
				return "", nil, p.errorf("is %s, not an object", kind(t))
			}
			c, hasData, err := p.chat1(i, false)
			if err != nil {
				return "", nil, err
			}
			l := layoutBulk
			if hasData {
				l = layoutChatData
			}
			if layout == "" {
				layout = l
			} else if l != layout {
				return "", nil, p.errorf("is in the %s layout, but chat 1 is in the %s layout", l, layout)
			}
			chats = append(chats, c)
		}
		p.chat = 0
		if _, err := p.token(); err != nil { // ]
			return "", nil, err
		}
		if len(chats) == 0 {
			return "", nil, &FileError{Reason: "is an empty list: it has no chats"}
		}
	default:
		return "", nil, &FileError{Reason: layoutReason}
	}
	p.chat = 0
	if _, err := p.dec.Token(); err != io.EOF {
		if ce := contentError(err); ce != nil {
			return "", nil, ce
		}
		return "", nil, &FileError{Reason: "has more data after its JSON value"}
	}
	return layout, chats, nil
}

// object reads the members of an object whose { has been read, calling
// member with each key to read its value. what names the object for errors.
func (p *jsonReader) object(what string, member func(key string) error) error {
	var seen []string // objects are small: unknown keys are errors
	for p.dec.More() {
		t, err := p.token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return p.errorf("is not valid JSON: %s has a key that is not text", what)
		}
		for _, s := range seen {
			if s == key {
				return p.errorf("%s has key %s twice", what, quote(key))
			}
		}
		seen = append(seen, key)
		if err := member(key); err != nil {
			return err
		}
	}
	_, err := p.token() // }
	return err
}

// open reads the start of an object or list, want; null reports false.
func (p *jsonReader) open(what string, want json.Delim) (bool, error) {
	t, err := p.token()
	if err != nil {
		return false, err
	}
	switch t {
	case nil:
		return false, nil
	case want:
		return true, nil
	}
	a := "an object"
	if want == '[' {
		a = "a list"
	}
	return false, p.errorf("%s is %s, not %s", what, kind(t), a)
}

// chat1 reads chat i, an object whose { has been read, and reports whether
// it is in the chat_data layout. With single, the chat is the file's only
// value, which must be in the chat_data layout.
func (p *jsonReader) chat1(i int, single bool) (Chat, bool, error) {
	p.chat, p.msg = i, 0
	c := Chat{Index: i}
	md := newMetadata()
	var hasMessages, hasData bool
	err := p.object("the chat", func(key string) error {
		switch key {
		case "metadata":
			return p.metadata(md)
		case "messages":
			hasMessages = true
			var err error
			c.Messages, err = p.messages(bulkKeys)
			return err
		case "chat_data":
			hasData = true
			return p.chatData(&c)
		}
		if single {
			return &FileError{Reason: fmt.Sprintf("%s; it has key %s", layoutReason, quote(key))}
		}
		return p.errorf("has key %s, which no chat layout has (metadata with messages or chat_data)", quote(key))
	})
	switch {
	case err != nil:
		return c, false, err
	case hasMessages && hasData:
		return c, false, p.errorf("has both messages and chat_data")
	case single && !hasData:
		return c, false, &FileError{Reason: layoutReason}
	}
	if err := finish(&c, md); err != nil {
		return c, false, err
	}
	return c, hasData, nil
}

// metadata reads a chat's metadata object into md.
func (p *jsonReader) metadata(md *metadata) error {
	if ok, err := p.open("metadata", '{'); !ok {
		return err
	}
	return p.object("metadata", func(key string) error {
		v, err := p.value()
		if err != nil {
			return err
		}
		if err := md.add(key, v, p.opts.dates(), ""); err != nil {
			return p.fail(err)
		}
		return nil
	})
}

// chatData reads the seed layout's chat_data object into c.
func (p *jsonReader) chatData(c *Chat) error {
	if ok, err := p.open("chat_data", '{'); !ok {
		if err == nil {
			err = p.errorf("chat_data is null, not an object")
		}
		return err
	}
	return p.object("chat_data", func(key string) error {
		if key == "messages" {
			var err error
			c.Messages, err = p.messages(seedKeys)
			return err
		}
		var dst *string
		var when *time.Time
		switch key {
		case "session_id":
			dst = &c.SessionID
		case "agent_id":
			dst = &c.AgentID
		case "customer_id":
			dst = &c.CustomerID
		case "start_time":
			when = &c.Start
		case "end_time":
			when = &c.End
		default:
			return p.errorf("chat_data has key %s; it has session_id, agent_id, customer_id, start_time, end_time and messages", quote(key))
		}
		v, err := p.value()
		if err != nil {
			return err
		}
		if dst != nil {
			*dst, err = id(key, v)
			if err != nil {
				return p.fail(err)
			}
			return nil
		}
		s, err := timeText(key, v)
		if err != nil {
			return p.fail(err)
		}
		if s == "" {
			return nil
		}
		t, err := readTime(s, p.opts.dates())
		if err != nil {
			return p.errorf("%s: %v", key, err)
		}
		*when = t
		return nil
	})
}

// messages reads a list of messages with keys k.
func (p *jsonReader) messages(k msgKeys) ([]Message, error) {
	if ok, err := p.open("messages", '['); !ok {
		return nil, err
	}
	var msgs []Message
	for p.dec.More() {
		if len(msgs) >= p.opts.MaxMessages {
			p.msg = 0
			return nil, p.errorf("has more than %d messages", p.opts.MaxMessages)
		}
		p.msg = len(msgs) + 1
		m, err := p.message(k)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	p.msg = 0
	if _, err := p.token(); err != nil { // ]
		return nil, err
	}
	return msgs, nil
}

// message reads one message object with keys k.
func (p *jsonReader) message(k msgKeys) (Message, error) {
	t, err := p.token()
	if err != nil {
		return Message{}, err
	}
	if t != json.Delim('{') {
		return Message{}, p.errorf("is %s, not an object", kind(t))
	}
	var body, when, from, lang any
	err = p.object("the message", func(key string) error {
		var dst *any
		switch {
		case key == k.text:
			dst = &body
		case key == k.time:
			dst = &when
		case key == "sender":
			dst = &from
		case key == "language" && k.language:
			dst = &lang
		default:
			return p.errorf("has key %s; a message has %s", quote(key), k.list)
		}
		v, err := p.value()
		*dst = v
		return err
	})
	if err != nil {
		return Message{}, err
	}
	var s [4]string
	if s[0], err = text(k.text, body); err == nil {
		if s[1], err = timeText(k.time, when); err == nil {
			if s[2], err = text("sender", from); err == nil {
				s[3], err = text("language", lang)
			}
		}
	}
	if err != nil {
		return Message{}, p.fail(err)
	}
	m, err := newMessage(s[0], s[1], s[2], s[3], p.opts.dates())
	if err != nil {
		return Message{}, p.fail(err)
	}
	return m, nil
}
