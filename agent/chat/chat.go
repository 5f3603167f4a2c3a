// Package chat reads chat transcripts in the layouts customers export and builds the bodies Vela's chats endpoint takes.
package chat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
)

// Schema names the body layout of Vela's chats endpoint.
type Schema string

const (
	// Chats is the newer reference's {org_id, chats, metadata}.
	Chats Schema = "chats"
	// ChatData is the seed document's {org_id, chat_data, metadata}.
	ChatData Schema = "chat_data"
)

// Options says how Read reads one source's files.
type Options struct {
	// Zone is the source's zone: times without an offset are wall times
	// in it. Nil means Africa/Johannesburg, as for call metadata.
	Zone *time.Location
	// Layouts are the source's metadata.date_layouts (Go time layouts),
	// tried before the forms meta.DateRules.Parse knows. All-numeric
	// day/month times (DD/MM/YYYY HH:MM[:SS], DD-MM-YYYY HH:MM:SS and
	// Vela's DD/MM/YYYY, HH:mm:ss) are always read day-first, whatever the
	// source's metadata.date_order.
	Layouts []string
	// TagsSeparator is for a tags string in metadata; JSON strings are one
	// tag, so this applies only to CSV-derived values (none today).
	TagsSeparator string
	// MaxMessages is the most messages one chat may have; 0 means 10,000.
	MaxMessages int
}

// defaultMaxMessages is the MaxMessages of a zero Options.
const defaultMaxMessages = 10000

// maxFileSize is the largest file Read reads; a variable so tests can lower it.
var maxFileSize int64 = 64 << 20

// Message is one message of a chat.
type Message struct {
	Time     time.Time
	Sender   string // agent, user or bot
	Text     string // trimmed, never empty
	Language string // "" when not given
}

// Chat is one chat of a file, checked and normalised.
type Chat struct {
	Index               int       // 1-based position in the file
	SessionID           string    // seed layout's session_id, or metadata interaction_id, else ""
	Start, End          time.Time // seed layout's start_time/end_time when given (zero otherwise)
	AgentID, CustomerID string    // seed layout only
	// Metadata holds the chat's metadata fields by their canonical names,
	// each checked with meta.Value: strings, and tags as a []string. Besides
	// the call fields (not date_of_call) it has "language" when given and
	// always "date", a time.Time: the input's metadata.date, else the seed
	// layout's start_time, else the first message's time.
	Metadata map[string]any
	Messages []Message
}

// The layouts Read returns.
const (
	layoutBulk     = "bulk"
	layoutChatData = "chat_data"
	layoutCSV      = "csv"
)

// Read detects the layout from the content (the file name only decides CSV
// vs JSON by extension .csv/.json, any case; with another extension a file
// whose first character is [ or { is JSON) and returns every chat in file
// order. The layout is "bulk" (JSON array of {metadata, messages}),
// "chat_data" (the seed's {chat_data:{...}, metadata} object or an array of
// them) or "csv" (time,sender,message[,language] with a header row; one chat).
// A leading UTF-8 byte-order mark is skipped; the rest must be UTF-8.
//
// Any problem makes the whole file bad: its error is a *FileError naming
// the chat and message where it can, and no chats are returned. An error
// reading r itself is not the file's fault and is returned wrapped, not as
// a *FileError, so that the caller can try again.
func Read(name string, r io.Reader, opts Options) (layout string, chats []Chat, err error) {
	if opts.MaxMessages <= 0 {
		opts.MaxMessages = defaultMaxMessages
	}
	in := newInput(r, maxFileSize)
	br := bufio.NewReaderSize(in, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\ufeff" {
		_, _ = br.Discard(3)
	}
	isCSV := false
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		isCSV = true
	case ".json":
	default:
		isCSV = !startsJSON(br)
	}
	if isCSV {
		layout = layoutCSV
		chats, err = readCSV(br, opts)
	} else {
		layout, chats, err = readJSON(br, opts)
	}
	if err != nil {
		return "", nil, fileError(name, err)
	}
	return layout, chats, nil
}

// startsJSON reports whether the first character after white space is [ or
// {, consuming the white space.
func startsJSON(br *bufio.Reader) bool {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return false
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		_ = br.UnreadByte()
		return b == '[' || b == '{'
	}
}

// fileError returns err of reading the file name as Read returns it.
func fileError(name string, err error) error {
	var re *readError
	if errors.As(err, &re) {
		return fmt.Errorf("read chat file %s: %w", name, re.err)
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		fe = &FileError{Reason: err.Error()}
	}
	fe.File = name
	return fe
}

// FileError says why a chat file is bad, and where.
type FileError struct {
	File          string // the name given to Read
	Chat, Message int    // 1-based, 0 = not about one
	Reason        string
}

// Error returns e.g. `chats.json: chat 2, message 14: sender "customer
// service" is not agent, user or bot`.
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	sep := ": "
	if e.Chat > 0 {
		fmt.Fprintf(&b, "%schat %d", sep, e.Chat)
		sep = ", "
	}
	if e.Message > 0 {
		fmt.Fprintf(&b, "%smessage %d", sep, e.Message)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// finish completes chat c of a file from its metadata md: the session id,
// metadata.date and the checks that need the whole chat.
func finish(c *Chat, md *metadata) error {
	if len(c.Messages) == 0 {
		return &FileError{Chat: c.Index, Reason: "has no messages"}
	}
	if c.SessionID == "" {
		c.SessionID, _ = md.m[fieldInteractionID].(string)
	}
	if _, ok := md.m[fieldDate]; !ok {
		if !c.Start.IsZero() {
			md.m[fieldDate] = c.Start
		} else {
			md.m[fieldDate] = c.Messages[0].Time
		}
	}
	c.Metadata = md.m
	return nil
}
