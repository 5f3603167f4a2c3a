package vela

import (
	"net/http"
	"strings"
	"testing"
)

func TestOrganisation(t *testing.T) {
	f := newFakeAPI(t, newClock())
	c := newTestClient(t, testConfig(t, f))
	org, err := c.Organisation(background)
	if err != nil {
		t.Fatal(err)
	}
	want := Organisation{Active: true, MonthlyAllocatedDuration: 1000, CurrentDurationUse: 250.5, StopWhenAllocationExceeded: true}
	if *org != want {
		t.Errorf("organisation %+v, want %+v", *org, want)
	}
	if got := org.MinutesLeft(); got != 749.5 {
		t.Errorf("MinutesLeft() = %v, want 749.5", got)
	}
	reqs := f.requests("/organisations/vela/1234")
	if len(reqs) != 1 || reqs[0].method != http.MethodGet || reqs[0].auth != "Bearer access-SECRET-0001" {
		t.Errorf("requests %+v, want one authorised GET", reqs)
	}
}

func TestOrganisationPathEscaped(t *testing.T) {
	f := newFakeAPI(t, newClock())
	const escaped = "/organisations/vela/org%201%2F2%3F"
	f.handle(escaped, func(w http.ResponseWriter, r *http.Request) {
		respond(w, 200, `{"active":true,"monthlyAllocatedDuration":10,"currentDurationUse":0,"stopWhenAllocationExceeded":false}`)
	})
	cfg := testConfig(t, f)
	cfg.OrgID = "org 1/2?"
	c := newTestClient(t, cfg)
	if _, err := c.Organisation(background); err != nil {
		t.Fatal(err)
	}
	if n := f.hits(escaped); n != 1 {
		t.Errorf("%d requests to %s, want 1", n, escaped)
	}
}

func TestOrganisationErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		action Action
		say    string
	}{
		{"not found", 404, `{"message":"Organisation not found"}`, PauseAll, "organisation: 404 Organisation not found; check api.org_id (now 1234)"},
		{"forbidden", 403, `{"message":"Forbidden"}`, PauseAll, "organisation: 403 Forbidden"},
		{"bad request", 400, `{"message":"Invalid organisation id"}`, PauseAll, "organisation: 400 Invalid organisation id"},
		{"server error", 500, ``, Retry, "organisation: 500 Internal Server Error"},
		{"unreadable", 200, `[]`, Retry, "organisation: 200 OK: unreadable reply"},
		{"no durations", 200, `{"active":true}`, Retry, "reply has no monthlyAllocatedDuration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, newClock())
			f.handle("/organisations/vela/1234", func(w http.ResponseWriter, r *http.Request) { respond(w, tt.status, tt.body) })
			c := newTestClient(t, testConfig(t, f))
			_, err := c.Organisation(background)
			if e := asError(t, err); e.Action != tt.action || !strings.Contains(err.Error(), tt.say) {
				t.Errorf("error %q: action %v, want %v saying %q", err, e.Action, tt.action, tt.say)
			}
		})
	}
}

func TestParseOrganisation(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Organisation
		wantErr string
	}{
		{name: "numbers", body: `{"active":false,"monthlyAllocatedDuration":600,"currentDurationUse":12.25,"stopWhenAllocationExceeded":false}`,
			want: Organisation{MonthlyAllocatedDuration: 600, CurrentDurationUse: 12.25}},
		{name: "strings", body: `{"active":"TRUE","monthlyAllocatedDuration":"600","currentDurationUse":" 12.5 ","stopWhenAllocationExceeded":"false"}`,
			want: Organisation{Active: true, MonthlyAllocatedDuration: 600, CurrentDurationUse: 12.5}},
		{name: "booleans absent", body: `{"monthlyAllocatedDuration":600,"currentDurationUse":0}`,
			want: Organisation{Active: true, MonthlyAllocatedDuration: 600, StopWhenAllocationExceeded: true}},
		{name: "other fields", body: `{"name":"Example","monthlyAllocatedDuration":1,"currentDurationUse":2,"active":true}`,
			want: Organisation{Active: true, MonthlyAllocatedDuration: 1, CurrentDurationUse: 2, StopWhenAllocationExceeded: true}},
		{name: "no use", body: `{"monthlyAllocatedDuration":600}`, wantErr: "no currentDurationUse"},
		{name: "not a number", body: `{"monthlyAllocatedDuration":"lots","currentDurationUse":0}`, wantErr: "no monthlyAllocatedDuration"},
		{name: "NaN", body: `{"monthlyAllocatedDuration":"NaN","currentDurationUse":0}`, wantErr: "no monthlyAllocatedDuration"},
		{name: "null", body: `null`, wantErr: "no monthlyAllocatedDuration"},
		{name: "not json", body: `<html>`, wantErr: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			org, err := parseOrganisation([]byte(tt.body))
			if !wantError(t, err, tt.wantErr) {
				return
			}
			if *org != tt.want {
				t.Errorf("got %+v, want %+v", *org, tt.want)
			}
		})
	}
}

func TestMinutesLeft(t *testing.T) {
	tests := []struct {
		name    string
		org     *Organisation
		left    float64
		accepts bool
	}{
		{"nil", nil, 0, false},
		{"minutes left", &Organisation{Active: true, MonthlyAllocatedDuration: 600, CurrentDurationUse: 100, StopWhenAllocationExceeded: true}, 500, true},
		{"used up", &Organisation{Active: true, MonthlyAllocatedDuration: 600, CurrentDurationUse: 600, StopWhenAllocationExceeded: true}, 0, false},
		{"overused", &Organisation{Active: true, MonthlyAllocatedDuration: 600, CurrentDurationUse: 700, StopWhenAllocationExceeded: true}, 0, false},
		{"overused, not stopped", &Organisation{Active: true, MonthlyAllocatedDuration: 600, CurrentDurationUse: 700}, 0, true},
		{"inactive", &Organisation{MonthlyAllocatedDuration: 600, StopWhenAllocationExceeded: true}, 0, false},
		{"inactive, not stopped", &Organisation{MonthlyAllocatedDuration: 600}, 0, false},
	}
	for _, tt := range tests {
		if got := tt.org.MinutesLeft(); got != tt.left {
			t.Errorf("%s: MinutesLeft() = %v, want %v", tt.name, got, tt.left)
		}
		if got := tt.org.AcceptsCalls(); got != tt.accepts {
			t.Errorf("%s: AcceptsCalls() = %v, want %v", tt.name, got, tt.accepts)
		}
	}
}
