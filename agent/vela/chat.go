package vela

import (
	"context"
	"encoding/json"
	"net/http"
)

// Chat posts one chat transcript, body as built by agent/chat (it names
// the organisation itself), to Paths.Chats, and returns the id Vela gave
// it: "id" in the newer reference's reply, "chat_id" in the seed's, or ""
// when the 2xx reply names none.
//
// A confirmed chat is stored at Vela: posting the same body again stores
// it twice, so the caller records the id before it posts the next one.
func (c *Client) Chat(ctx context.Context, name string, body []byte) (string, error) {
	op := "upload chat " + name
	rep, err := c.call(ctx, request{
		op:          op,
		kind:        opChat,
		method:      http.MethodPost,
		path:        c.cfg.Paths.Chats,
		contentType: "application/json",
		body:        body,
	})
	if err != nil {
		return "", err
	}
	var r struct {
		ID     string `json:"id"`
		ChatID string `json:"chat_id"`
	}
	if err := json.Unmarshal(rep.body, &r); err != nil {
		return "", unreadable(op, rep.status, err)
	}
	if r.ID == "" {
		r.ID = r.ChatID
	}
	return r.ID, nil // "" when the reply names none: the chat is stored all the same
}
