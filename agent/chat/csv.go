package chat

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// csvHeader is the CSV layout's header; the language column is optional.
var csvHeader = []string{"time", "sender", "message", "language"}

// readCSV reads the CSV layout: a header row, then one message a row, all
// one chat.
func readCSV(in io.Reader, opts Options) ([]Chat, error) {
	r := csv.NewReader(in)
	r.FieldsPerRecord = -1 // counted here, to say which message is wrong
	r.ReuseRecord = true
	head, err := r.Read()
	if err == io.EOF {
		return nil, &FileError{Reason: "is empty"}
	}
	if err != nil {
		return nil, csvError(err, 0)
	}
	if !isHeader(head) {
		return nil, &FileError{Reason: fmt.Sprintf(`has header %s, want "time,sender,message" or "time,sender,message,language"`,
			quote(strings.Join(head, ",")))}
	}
	cols := len(head)
	c := Chat{Index: 1}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		n := len(c.Messages) + 1
		if err != nil {
			return nil, csvError(err, n)
		}
		if n > opts.MaxMessages {
			return nil, &FileError{Chat: 1, Reason: fmt.Sprintf("has more than %d messages", opts.MaxMessages)}
		}
		if len(rec) != cols {
			line, _ := r.FieldPos(0)
			return nil, &FileError{Chat: 1, Message: n, Reason: fmt.Sprintf("line %d has %d columns, the header %d", line, len(rec), cols)}
		}
		lang := ""
		if cols == 4 {
			lang = rec[3]
		}
		m, err := newMessage(rec[2], rec[0], rec[1], lang, opts.dates())
		if err != nil {
			return nil, &FileError{Chat: 1, Message: n, Reason: err.Error()}
		}
		c.Messages = append(c.Messages, m)
	}
	if err := finish(&c, newMetadata()); err != nil {
		return nil, err
	}
	return []Chat{c}, nil
}

// isHeader reports whether head is the CSV header, with or without the
// language column, each name trimmed and in any case.
func isHeader(head []string) bool {
	if len(head) != 3 && len(head) != 4 {
		return false
	}
	for i, h := range head {
		if !strings.EqualFold(strings.TrimSpace(h), csvHeader[i]) {
			return false
		}
	}
	return true
}

// csvError returns the error of the file for an error of the CSV reader
// at message n (0 for the header).
func csvError(err error, n int) error {
	if ce := contentError(err); ce != nil {
		return ce
	}
	fe := &FileError{Reason: fmt.Sprintf("is not valid CSV: %v", err)}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		fe.Reason = fmt.Sprintf("is not valid CSV: line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
	}
	if n > 0 {
		fe.Chat, fe.Message = 1, n
	}
	return fe
}
