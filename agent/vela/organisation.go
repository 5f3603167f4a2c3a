package vela

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// Organisation is the organisation's entitlement: whether Vela will process
// calls now.
type Organisation struct {
	Active                     bool    `json:"active"`
	MonthlyAllocatedDuration   float64 `json:"monthlyAllocatedDuration"` // minutes
	CurrentDurationUse         float64 `json:"currentDurationUse"`       // minutes
	StopWhenAllocationExceeded bool    `json:"stopWhenAllocationExceeded"`
}

// MinutesLeft is what remains of this month's allocation, in minutes: zero
// when it is used up, and zero for an organisation that is not active,
// which Vela refuses with the same "Allocation exceeded".
func (o *Organisation) MinutesLeft() float64 {
	if o == nil || !o.Active {
		return 0
	}
	return max(o.MonthlyAllocatedDuration-o.CurrentDurationUse, 0)
}

// AcceptsCalls reports whether Vela should accept new calls now: the
// organisation is active and has minutes left, or is not stopped when it
// has none.
func (o *Organisation) AcceptsCalls() bool {
	return o != nil && o.Active && (!o.StopWhenAllocationExceeded || o.MinutesLeft() > 0)
}

// Organisation fetches the organisation's entitlement: GET
// Paths.Organisation with "{OrgID}" replaced by the path-escaped OrgID.
func (c *Client) Organisation(ctx context.Context) (*Organisation, error) {
	const op = "organisation"
	rep, err := c.call(ctx, request{
		op:     op,
		kind:   opOrganisation,
		method: http.MethodGet,
		path:   strings.ReplaceAll(c.cfg.Paths.Organisation, "{OrgID}", url.PathEscape(c.cfg.OrgID)),
	})
	if err != nil {
		return nil, err
	}
	org, err := parseOrganisation(rep.body)
	if err != nil {
		return nil, unreadable(op, rep.status, err)
	}
	return org, nil
}

// parseOrganisation reads the organisation reply. Numbers may come as JSON
// numbers or numeric strings, booleans as JSON booleans or "true"/"false".
// Both durations are required; a missing "active" or
// "stopWhenAllocationExceeded" is taken to be true, so that an agent paused
// for its allocation resumes once minutes are left (and pauses again if
// Vela still refuses).
func parseOrganisation(body []byte) (*Organisation, error) {
	var r struct {
		Active    json.RawMessage `json:"active"`
		Allocated json.RawMessage `json:"monthlyAllocatedDuration"`
		Used      json.RawMessage `json:"currentDurationUse"`
		Stop      json.RawMessage `json:"stopWhenAllocationExceeded"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	var (
		org Organisation
		ok  bool
	)
	if org.MonthlyAllocatedDuration, ok = parseNumber(r.Allocated); !ok {
		return nil, errors.New("reply has no monthlyAllocatedDuration")
	}
	if org.CurrentDurationUse, ok = parseNumber(r.Used); !ok {
		return nil, errors.New("reply has no currentDurationUse")
	}
	if org.Active, ok = parseBool(r.Active); !ok {
		org.Active = true
	}
	if org.StopWhenAllocationExceeded, ok = parseBool(r.Stop); !ok {
		org.StopWhenAllocationExceeded = true
	}
	return &org, nil
}

// parseBool reads a JSON boolean or a "true"/"false" string; ok is false
// when raw is absent, null or anything else.
func parseBool(raw json.RawMessage) (v, ok bool) {
	switch s := strings.ToLower(string(bytes.TrimSpace(raw))); s {
	case "true", `"true"`:
		return true, true
	case "false", `"false"`:
		return false, true
	}
	return false, false
}
