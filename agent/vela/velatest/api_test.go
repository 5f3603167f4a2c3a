package velatest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLogin(t *testing.T) {
	s := startServer(t, Options{OrgID: "org-42"})
	status, out := apiCall(t, s, "POST", "/auth/login", "", map[string]string{"email": "Admin@Example.com", "password": "secret"})
	if status != http.StatusOK || out["org_id"] != "org-42" || out["id"] == "" || out["token"] == "" || out["refresh_token"] == "" {
		t.Fatalf("login: %d %v", status, out)
	}
	if status, _ := apiCall(t, s, "GET", "/organisations/vela/org-42", out["token"].(string), nil); status != http.StatusOK {
		t.Errorf("the login's access token: %d", status)
	}
	status, out = apiCall(t, s, "POST", "/auth/login", "", map[string]string{"email": "admin@example.com", "password": "wrong"})
	if status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d %v", status, out)
	}
	if got := s.Count(OpLogin); got != 2 {
		t.Errorf("Count(OpLogin) = %d", got)
	}
}

func TestRefreshTokenLimit(t *testing.T) {
	s := startServer(t, Options{})
	generate := func(refresh string) int {
		status, _ := apiCall(t, s, "POST", "/auth/generate", "", map[string]string{"refresh_token": refresh})
		return status
	}
	var logins []string
	for range 3 {
		_, out := apiCall(t, s, "POST", "/auth/login", "", map[string]string{"email": "admin@example.com", "password": "secret"})
		logins = append(logins, out["refresh_token"].(string))
	}
	// The start token was the first of four: evicted.
	if got := generate(s.RefreshToken()); got != http.StatusUnauthorized {
		t.Errorf("the evicted start token: %d, want 401", got)
	}
	for i, tok := range logins {
		if got := generate(tok); got != http.StatusOK {
			t.Errorf("refresh token of login %d: %d", i, got)
		}
	}
	s.RevokeRefreshTokens()
	for i, tok := range logins {
		if got := generate(tok); got != http.StatusUnauthorized {
			t.Errorf("revoked refresh token of login %d: %d", i, got)
		}
	}
	if got := generate("made-up"); got != http.StatusUnauthorized {
		t.Errorf("unknown refresh token: %d", got)
	}
}

func TestAccessTokens(t *testing.T) {
	clk := newClock()
	s := startServer(t, Options{TokenTTL: 10 * time.Minute, Now: clk.Now})
	status, out := apiCall(t, s, "POST", "/auth/generate", "", map[string]string{"refresh_token": s.RefreshToken()})
	if status != http.StatusOK {
		t.Fatalf("generate: %d %v", status, out)
	}
	exp, err := time.Parse(time.RFC3339, out["expires"].(string))
	if err != nil || !exp.Equal(clk.Now().Add(10*time.Minute).Truncate(time.Second)) {
		t.Errorf("expires %v (%v), want now+10m", out["expires"], err)
	}
	token := out["token"].(string)
	org := "/organisations/vela/" + s.o.OrgID
	if status, _ := apiCall(t, s, "GET", org, token, nil); status != http.StatusOK {
		t.Fatalf("fresh token: %d", status)
	}
	clk.Add(10 * time.Minute)
	if status, out := apiCall(t, s, "GET", org, token, nil); status != http.StatusUnauthorized || out["message"] != "Unauthorized" {
		t.Errorf("expired token: %d %v", status, out)
	}

	token = accessToken(t, s)
	s.ExpireAccessTokens()
	if status, _ := apiCall(t, s, "GET", org, token, nil); status != http.StatusUnauthorized {
		t.Errorf("after ExpireAccessTokens: %d", status)
	}
	for _, bad := range []string{"", "made-up"} {
		if status, _ := apiCall(t, s, "POST", "/asr/async/upload/vela", bad, map[string]string{"org_id": s.o.OrgID, "fileName": "a.wav"}); status != http.StatusUnauthorized {
			t.Errorf("presign with token %q: %d", bad, status)
		}
	}
}

func TestPresign(t *testing.T) {
	s := startServer(t, Options{OrgID: "org-7"})
	token := accessToken(t, s)
	presign := func(body any) (int, map[string]any) {
		return apiCall(t, s, "POST", "/asr/async/upload/vela", token, body)
	}
	meta := map[string]any{"agent_name": "Ann", "tags": []string{"a"}}
	status, out := presign(map[string]any{"org_id": "org-7", "fileName": "dir/call 1.wav", "metadata": meta})
	if status != http.StatusOK {
		t.Fatalf("presign: %d %v", status, out)
	}
	if out["url"] != s.S3URL()+"/"+s.target.Bucket {
		t.Errorf("url %v", out["url"])
	}
	fields := out["fields"].(map[string]any)
	for _, name := range []string{"key", "policy", "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Signature", "X-Amz-Security-Token"} {
		if _, ok := fields[name]; !ok {
			t.Errorf("fields lack %s: %v", name, fields)
		}
	}
	key := fields["key"].(string)
	if !regexp.MustCompile(`^org-7/\d{4}-\d{2}-\d{2}/[0-9a-f]{16}/call 1\.wav$`).MatchString(key) {
		t.Errorf("key %q", key)
	}
	recs := s.Presigns()
	if len(recs) != 1 || recs[0].FileName != "dir/call 1.wav" || recs[0].Key != key || recs[0].Metadata["agent_name"] != "Ann" {
		t.Errorf("Presigns() = %+v", recs)
	}

	tests := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"missing fileName", map[string]any{"org_id": "org-7"}, 400, "Missing fileName"},
		{"fileName only a directory", map[string]any{"org_id": "org-7", "fileName": "calls/"}, 400, "Missing fileName"},
		{"other org", map[string]any{"org_id": "org-8", "fileName": "a.wav"}, 404, "Organisation not found"},
		{"unreadable", "not an object", 400, "Invalid request body"},
		{"unchecked bad date", map[string]any{"org_id": "org-7", "fileName": "a.wav", "metadata": map[string]any{"date_of_call": "2025-01-15"}}, 200, ""},
		{"ISO date", validated("date_of_call", "2025-01-15T10:00:00"), 400, "Invalid date of call. Correct format is DD/MM/YYYY, HH:mm:ss"},
		{"one-digit day", validated("date_of_call", "5/01/2025, 10:00:00"), 400, "Invalid date of call. Correct format is DD/MM/YYYY, HH:mm:ss"},
		{"no comma", validated("date_of_call", "15/01/2025 10:00:00"), 400, "Invalid date of call. Correct format is DD/MM/YYYY, HH:mm:ss"},
		{"month 13", validated("date_of_call", "01/13/2025, 10:00:00"), 400, "Invalid date of call. Correct format is DD/MM/YYYY, HH:mm:ss"},
		{"good date", validated("date_of_call", "15/01/2025, 10:00:00"), 200, ""},
		{"direction", validated("direction", "sideways"), 400, "Invalid interaction direction. Direction must be inbound or outbound"},
		{"good direction", validated("direction", "outbound"), 200, ""},
		{"tags as a string", validated("tags", "a;b"), 400, "Invalid interaction tags. Tags must be an array of strings"},
		{"tags with a number", validated("tags", []any{"a", 1}), 400, "Invalid interaction tags. Tags must be an array of strings"},
		{"good tags", validated("tags", []string{"a", "b"}), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := presign(tt.body)
			if status != tt.status || tt.msg != "" && out["message"] != tt.msg {
				t.Errorf("got %d %v, want %d %q", status, out, tt.status, tt.msg)
			}
		})
	}
}

func validated(name string, value any) map[string]any {
	return map[string]any{"org_id": "org-7", "fileName": "a.wav", "metadata": map[string]any{"validate_metadata": true, name: value}}
}

func TestPresignForm(t *testing.T) {
	s := startServer(t, Options{})
	form := url.Values{"org_id": {s.o.OrgID}, "fileName": {"a.wav"}, "metadata": {`{"direction": "inbound"}`}}
	req, _ := http.NewRequest("POST", s.URL()+"/asr/async/upload/vela", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+accessToken(t, s))
	status, out := doJSON(t, req)
	if status != http.StatusOK || out["url"] == nil {
		t.Fatalf("form presign: %d %v", status, out)
	}
	if recs := s.Presigns(); len(recs) != 1 || recs[0].Metadata["direction"] != "inbound" {
		t.Errorf("Presigns() = %+v", recs)
	}
}

func TestAllocation(t *testing.T) {
	s := startServer(t, Options{Allocation: 2, MinutesPerCall: 1})
	token := accessToken(t, s)
	presign := func() (int, map[string]any) {
		return apiCall(t, s, "POST", "/asr/async/upload/vela", token, map[string]string{"org_id": s.o.OrgID, "fileName": "a.wav"})
	}
	for i := range 2 {
		if status, out := presign(); status != http.StatusOK {
			t.Fatalf("presign %d: %d %v", i, status, out)
		}
	}
	if status, out := presign(); status != http.StatusBadRequest || out["message"] != "Allocation exceeded" {
		t.Fatalf("third presign: %d %v", status, out)
	}
	status, org := apiCall(t, s, "GET", "/organisations/vela/"+s.o.OrgID, token, nil)
	if status != http.StatusOK || org["active"] != true || org["monthlyAllocatedDuration"] != 2.0 || org["currentDurationUse"] != 2.0 || org["stopWhenAllocationExceeded"] != true {
		t.Errorf("organisation: %d %v", status, org)
	}
	s.SetAllocation(3)
	if status, out := presign(); status != http.StatusOK {
		t.Errorf("after SetAllocation(3): %d %v", status, out)
	}
	s.SetUsed(0)
	if status, _ := presign(); status != http.StatusOK {
		t.Errorf("after SetUsed(0): %d", status)
	}
	if status, _ := apiCall(t, s, "GET", "/organisations/vela/other", token, nil); status != http.StatusNotFound {
		t.Errorf("other organisation: %d", status)
	}
	if got := s.Count(OpPresign); got != 5 {
		t.Errorf("Count(OpPresign) = %d, want 5", got)
	}
}

func TestChats(t *testing.T) {
	s := startServer(t, Options{})
	token := accessToken(t, s)
	newer := map[string]any{"org_id": s.o.OrgID, "chats": []map[string]string{{"message": "hi", "time": "15/01/2025, 10:00", "sender": "user"}}}
	status, out := apiCall(t, s, "POST", "/chats/upload/vela", token, newer)
	if status != http.StatusOK || out["message"] != "Chat successfully created." || out["id"] == "" {
		t.Errorf("newer chat: %d %v", status, out)
	}
	seed := map[string]any{"org_id": s.o.OrgID, "chat_data": map[string]any{"session_id": "s1", "messages": []any{}}}
	status, out = apiCall(t, s, "POST", "/chat/upload/vela", token, seed)
	if status != http.StatusOK || out["status"] != "success" || out["processing_status"] != "queued" || out["chat_id"] == "" {
		t.Errorf("seed chat: %d %v", status, out)
	}
	req, _ := http.NewRequest("POST", s.URL()+"/chats/upload/vela", strings.NewReader("{not json"))
	req.Header.Set("Authorization", "Bearer "+token)
	if status, out := doJSON(t, req); status != http.StatusInternalServerError || out["message"] != "Something went wrong with the upload" {
		t.Errorf("unreadable chat: %d %v", status, out)
	}
	chats := s.Chats()
	if len(chats) != 2 || chats[0].Path != "/chats/upload/vela" || chats[1].Path != "/chat/upload/vela" {
		t.Fatalf("Chats() = %+v", chats)
	}
	var body map[string]any
	if err := json.Unmarshal(chats[1].Body, &body); err != nil || body["chat_data"] == nil {
		t.Errorf("recorded body %s", chats[1].Body)
	}
	if got := s.Count(OpChats); got != 3 {
		t.Errorf("Count(OpChats) = %d", got)
	}
}

func TestUnknownPath(t *testing.T) {
	s := startServer(t, Options{})
	if status, out := apiCall(t, s, "GET", "/auth/login", "", nil); status != http.StatusNotFound || out["message"] == nil {
		t.Errorf("GET /auth/login: %d %v", status, out)
	}
}

func TestHook(t *testing.T) {
	s := startServer(t, Options{})
	var mu sync.Mutex
	var seen []string
	s.SetHook(OpGenerate, func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, r.URL.Path)
	})
	accessToken(t, s)
	s.SetHook(OpGenerate, nil)
	accessToken(t, s)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != "/auth/generate" {
		t.Errorf("hook saw %v", seen)
	}
}
