package velatest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// maxAPIBody bounds an API request body.
const maxAPIBody = 16 << 20

// userID is the id of the one account.
const userID = "user-1"

// message is the API's error body, {"message": "..."}.
type message struct {
	Message string `json:"message"`
}

// apiRequest is an API request with its body read.
type apiRequest struct {
	*http.Request
	body  []byte
	fault Fault // the fault this request consumed, if any
}

// apiFunc handles an API request and returns the status and the value to
// send as JSON.
type apiFunc func(req *apiRequest) (int, any)

func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", s.api(OpLogin, false, s.login))
	mux.Handle("POST /auth/generate", s.api(OpGenerate, false, s.generate))
	mux.Handle("POST /asr/async/upload/vela", s.api(OpPresign, true, s.presign))
	mux.Handle("GET /organisations/vela/{id}", s.api(OpOrganisation, true, s.organisation))
	mux.Handle("POST /chats/upload/vela", s.api(OpChats, true, s.chatsNewer))
	mux.Handle("POST /chat/upload/vela", s.api(OpChats, true, s.chatsSeed))
	// What the emulator holds, for demos and scripts: not part of Vela.
	mux.HandleFunc("GET /_emulator/objects", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Objects())
	})
	mux.HandleFunc("GET /_emulator/presigns", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Presigns())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, message{"Not Found"})
	})
	return mux
}

// api wraps h: it reads the body (so that a client giving up is noticed
// at once), counts the request, runs the hook, applies a fault and checks
// the bearer token if auth is set.
func (s *Server) api(op Op, auth bool, h apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		noteOf(r).op = op
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.observe(op, r)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeJSON(w, http.StatusRequestEntityTooLarge, message{"Request body too large"})
			} else {
				writeJSON(w, http.StatusBadRequest, message{"Could not read the request body"})
			}
			return
		}
		f, faulted := s.takeFault(op, fileNameOf(r, body))
		if faulted && !s.applyFault(w, r, op, f) {
			return
		}
		if auth && !s.authorized(r) {
			writeJSON(w, http.StatusUnauthorized, message{"Unauthorized"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		status, reply := h(&apiRequest{Request: r, body: body, fault: f})
		writeJSON(w, status, reply)
	})
}

// fileNameOf returns the fileName a presign request names, "" if none.
func fileNameOf(r *http.Request, body []byte) string {
	var in struct {
		FileName string `json:"fileName"`
	}
	if json.Unmarshal(body, &in) == nil {
		return in.FileName
	}
	if v, err := url.ParseQuery(string(body)); err == nil {
		return v.Get("fileName")
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only maps and structs of JSON values: cannot happen
		status, body = http.StatusInternalServerError, []byte(`{"message":"Internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// authorized reports whether r carries a live access token.
func (s *Server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	token = strings.TrimSpace(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.access[token]
	return ok && s.now().Before(exp)
}

// issueRefreshLocked issues a refresh token, evicting the oldest beyond
// maxRefreshTokens. s.mu must be held.
func (s *Server) issueRefreshLocked() string {
	t := "rt_" + randomHex(24)
	s.refresh = append(s.refresh, t)
	if n := len(s.refresh) - maxRefreshTokens; n > 0 {
		s.refresh = s.refresh[n:]
	}
	return t
}

// issueAccessLocked issues an access token and drops expired ones. s.mu must
// be held.
func (s *Server) issueAccessLocked() (string, time.Time) {
	now := s.now()
	for t, exp := range s.access {
		if !now.Before(exp) {
			delete(s.access, t)
		}
	}
	t := "at_" + randomHex(24)
	exp := now.Add(s.o.TokenTTL)
	s.access[t] = exp
	return t, exp
}

// decodeJSON decodes a JSON body into v.
func decodeJSON(body []byte, v any) bool {
	return json.Unmarshal(body, v) == nil
}

func (s *Server) login(req *apiRequest) (int, any) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !decodeJSON(req.body, &in) {
		return http.StatusBadRequest, message{"Invalid request body"}
	}
	passOK := subtle.ConstantTimeCompare([]byte(in.Password), []byte(s.o.Password)) == 1
	if !strings.EqualFold(in.Email, s.o.Email) || !passOK {
		return http.StatusUnauthorized, message{"Invalid email or password"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	refresh := s.issueRefreshLocked()
	access, _ := s.issueAccessLocked()
	return http.StatusOK, map[string]string{
		"token":         access,
		"refresh_token": refresh,
		"org_id":        s.o.OrgID,
		"id":            userID,
	}
}

func (s *Server) generate(req *apiRequest) (int, any) {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !decodeJSON(req.body, &in) {
		return http.StatusBadRequest, message{"Invalid request body"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	known := false
	for _, t := range s.refresh {
		known = known || subtle.ConstantTimeCompare([]byte(t), []byte(in.RefreshToken)) == 1
	}
	if !known {
		return http.StatusUnauthorized, message{"Invalid refresh token"}
	}
	token, exp := s.issueAccessLocked()
	return http.StatusOK, map[string]string{
		"token":   token,
		"expires": exp.UTC().Format(time.RFC3339),
	}
}

// presignRequest is the body of a call presign.
type presignRequest struct {
	OrgID    string
	FileName string
	Metadata map[string]any
}

// decodePresign decodes a presign body sent as JSON, as a URL-encoded form
// or as a multipart form; in forms, metadata is a JSON string.
func decodePresign(req *apiRequest) (presignRequest, bool) {
	var in presignRequest
	var meta json.RawMessage
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		var form url.Values
		if mt == "multipart/form-data" {
			if err := req.ParseMultipartForm(maxAPIBody); err != nil {
				return in, false
			}
			req.MultipartForm.RemoveAll()
			form = req.MultipartForm.Value
		} else {
			var err error
			if form, err = url.ParseQuery(string(req.body)); err != nil {
				return in, false
			}
		}
		in.OrgID, in.FileName = form.Get("org_id"), form.Get("fileName")
		if m := form.Get("metadata"); m != "" {
			meta = json.RawMessage(m)
		}
	default:
		var body struct {
			OrgID    string          `json:"org_id"`
			FileName string          `json:"fileName"`
			Metadata json.RawMessage `json:"metadata"`
		}
		if !decodeJSON(req.body, &body) {
			return in, false
		}
		in.OrgID, in.FileName, meta = body.OrgID, body.FileName, body.Metadata
	}
	// metadata is an object, or the JSON text of one.
	var text string
	if json.Unmarshal(meta, &text) == nil {
		meta = json.RawMessage(text)
	}
	if len(bytes.TrimSpace(meta)) > 0 && !decodeJSON(meta, &in.Metadata) {
		return in, false
	}
	return in, true
}

func (s *Server) presign(req *apiRequest) (int, any) {
	in, ok := decodePresign(req)
	if !ok {
		return http.StatusBadRequest, message{"Invalid request body"}
	}
	noteOf(req.Request).file = in.FileName
	name := baseName(in.FileName)
	switch {
	case name == "":
		return http.StatusBadRequest, message{"Missing fileName"}
	case in.OrgID != s.o.OrgID:
		return http.StatusNotFound, message{"Organisation not found"}
	}
	if msg := checkMetadata(in.Metadata); msg != "" {
		return http.StatusBadRequest, message{msg}
	}

	now := s.now()
	s.mu.Lock()
	if s.used >= s.allocation {
		s.mu.Unlock()
		return http.StatusBadRequest, message{"Allocation exceeded"}
	}
	s.used += s.o.MinutesPerCall
	s.mu.Unlock()

	key := path.Join(s.o.OrgID, now.UTC().Format(time.DateOnly), randomHex(8), name)
	ttl := s.o.PresignTTL
	if req.fault.ExpiredPolicy {
		ttl = -time.Second
	}
	postURL, fields, err := presignPost(req.Context(), s.presigner, s.target.Bucket, key, ttl, s.o.MaxFileSize)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.used -= s.o.MinutesPerCall
		s.log.Error("velatest: presign", "fileName", in.FileName, "err", err)
		return http.StatusInternalServerError, message{"Could not create the upload URL"}
	}
	s.presigns = append(s.presigns, PresignRecord{FileName: in.FileName, Key: key, Metadata: in.Metadata, Time: now})
	return http.StatusOK, map[string]any{"url": postURL, "fields": fields}
}

// baseName returns the last element of a file name with / or \ separators,
// or "" if there is none.
func baseName(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name == "." || name == ".." {
		return ""
	}
	return name
}

// dateOfCall is the one format Vela reads: DD/MM/YYYY, HH:mm:ss.
var dateOfCall = regexp.MustCompile(`^\d{2}/\d{2}/\d{4}, \d{2}:\d{2}:\d{2}$`)

// checkMetadata checks call metadata as Vela does when validate_metadata is
// true, and returns the message of the 400 reply, or "".
func checkMetadata(m map[string]any) string {
	if v, _ := m["validate_metadata"].(bool); !v {
		return ""
	}
	if v, ok := m["date_of_call"]; ok {
		d, _ := v.(string)
		if _, err := time.Parse("02/01/2006, 15:04:05", d); err != nil || !dateOfCall.MatchString(d) {
			return "Invalid date of call. Correct format is DD/MM/YYYY, HH:mm:ss"
		}
	}
	if v, ok := m["direction"]; ok && v != "inbound" && v != "outbound" {
		return "Invalid interaction direction. Direction must be inbound or outbound"
	}
	if v, ok := m["tags"]; ok {
		tags, isList := v.([]any)
		for _, t := range tags {
			if _, isString := t.(string); !isString {
				isList = false
			}
		}
		if !isList {
			return "Invalid interaction tags. Tags must be an array of strings"
		}
	}
	if v, ok := m["contact"]; ok {
		switch v.(type) {
		case string, float64:
		default:
			return "Invalid contact. Contact must be a string or a number"
		}
	}
	if v, ok := m["notifyEmail"]; ok {
		addr, _ := v.(string)
		if _, err := mail.ParseAddress(addr); err != nil {
			return "Invalid notify email"
		}
	}
	return ""
}

func (s *Server) organisation(req *apiRequest) (int, any) {
	if req.PathValue("id") != s.o.OrgID {
		return http.StatusNotFound, message{"Organisation not found"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return http.StatusOK, map[string]any{
		"id":                         s.o.OrgID,
		"name":                       "Test Organisation",
		"active":                     true,
		"monthlyAllocatedDuration":   s.allocation,
		"currentDurationUse":         s.used,
		"stopWhenAllocationExceeded": true,
	}
}

// chatsNewer handles the newer reference's POST /chats/upload/vela.
func (s *Server) chatsNewer(req *apiRequest) (int, any) {
	var in struct {
		OrgID string            `json:"org_id"`
		Chats []json.RawMessage `json:"chats"`
	}
	if !decodeJSON(req.body, &in) {
		return http.StatusInternalServerError, message{"Something went wrong with the upload"}
	}
	switch {
	case in.OrgID != s.o.OrgID:
		return http.StatusNotFound, message{"Organisation not found"}
	case len(in.Chats) == 0:
		return http.StatusBadRequest, message{"Missing chats"}
	}
	id, ok := s.recordChat(req)
	if !ok {
		return http.StatusBadRequest, message{"Monthly chats allocation exceeded"}
	}
	return http.StatusOK, map[string]string{"message": "Chat successfully created.", "id": id}
}

// chatsSeed handles the seed document's POST /chat/upload/vela.
func (s *Server) chatsSeed(req *apiRequest) (int, any) {
	var in struct {
		OrgID    string          `json:"org_id"`
		ChatData json.RawMessage `json:"chat_data"`
	}
	if !decodeJSON(req.body, &in) {
		return http.StatusInternalServerError, message{"Something went wrong with the upload"}
	}
	switch {
	case in.OrgID != s.o.OrgID:
		return http.StatusNotFound, message{"Organisation not found"}
	case len(in.ChatData) == 0 || string(in.ChatData) == "null":
		return http.StatusBadRequest, message{"Missing chat_data"}
	}
	id, ok := s.recordChat(req)
	if !ok {
		return http.StatusBadRequest, message{"Monthly chats allocation exceeded"}
	}
	return http.StatusOK, map[string]string{
		"status":            "success",
		"message":           "Chat data uploaded successfully",
		"chat_id":           id,
		"processing_status": "queued",
	}
}

func (s *Server) recordChat(req *apiRequest) (string, bool) {
	id := "chat_" + randomHex(8)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.chatsLeft == 0 {
		return "", false
	}
	if s.chatsLeft > 0 {
		s.chatsLeft--
	}
	s.chats = append(s.chats, ChatRecord{Path: req.URL.Path, ID: id, Body: json.RawMessage(req.body), Time: s.now()})
	return id, true
}
