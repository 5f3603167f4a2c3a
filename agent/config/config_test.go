package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vela-agent/vela-agent/watcher"
)

// valid is the smallest valid configuration; tests build on it.
const valid = `api:
  org_id: org-1
  token: s3cr3t-t0k3n
sources:
  - name: calls
    path: /srv/calls
`

// apiLast is valid with api last, so that tests can add api keys.
const apiLast = `sources:
  - name: calls
    path: /srv/calls
api:
  org_id: org-1
  token: s3cr3t-t0k3n
`

// errorCases each hold a configuration with one problem and the line of
// the error it must produce, after "FILE:" (or "FILE: " when the key is
// absent from the file).
var errorCases = []struct {
	name, yaml, want string
}{
	// Broken YAML: the parser's position and a short message.
	{"tab indentation", "api:\n  org_id: x\n\ttoken: y\n",
		"3:1: a tab where an indentation space is expected (indent YAML with spaces)"},
	{"unclosed quote", "api:\n  org_id: \"x\n  token: y\n",
		"2:11: could not find end character of double-quoted text"},
	{"bad indentation", "api:\n  org_id: x\n token: y\n",
		"3:2: value is not allowed in this context"},
	{"two documents", valid + "---\nlog: {level: debug}\n",
		"8:1: the file holds more than one YAML document; keep one (remove the \"---\" line)"},
	{"duplicate key", valid + "api: {}\n",
		"7:1: mapping key \"api\" already defined at [1:1]"},
	{"empty file", "", " empty configuration"},
	{"UTF-16 file", "\xff\xfea\x00:\x00", " the file is UTF-16; save it as UTF-8"},
	{"huge file", strings.Repeat("# comment\n", 30000), " the file is larger than 256 KiB; is it the right file?"},
	{"only comments", "# nothing yet\n\n", " empty configuration"},
	{"not a mapping", "- api\n", "1:1: the configuration must be a mapping of keys to values, such as \"api:\" and \"sources:\", not a list"},

	// Unknown keys.
	{"unknown top-level key", valid + "logging: {level: debug}\n",
		"7:1: logging: unknown key (did you mean \"log\"?)"},
	{"unknown key, no suggestion", valid + "colour: red\n",
		"7:1: colour: unknown key (valid keys: api, log, metadata, retention, sources, state_dir, status, upload)"},
	{"unknown nested key", valid + "    setle: 10s\n",
		"7:5: sources[0].setle: unknown key (did you mean \"settle\"?)"},
	{"unknown key in api.paths", "api:\n  org_id: o\n  token: t\n  paths:\n    presgn: /x\nsources: [{name: a, path: /a}]\n",
		"5:5: api.paths.presgn: unknown key (did you mean \"presign\"?)"},
	{"unknown metadata default", valid + "metadata:\n  defaults:\n    date_of_call: 01/01/2025\n",
		"9:5: metadata.defaults.date_of_call: unknown key (valid keys: agent, agent_name, contact, department, direction, email, interaction_id, notifyEmail, tags, team)"},

	// Wrong types.
	{"word for a number", valid + "upload:\n  concurrency: four\n",
		"8:3: upload.concurrency: must be a whole number, not \"four\""},
	{"mapping for a list", "api: {org_id: x, token: y}\nsources:\n  name: calls\n",
		"2:1: sources: must be a list (one item a line, each starting with \"- \", or [a, b]), not a mapping"},
	{"yes for a bool", valid + "    recursive: yes\n",
		"7:5: sources[0].recursive: must be true or false, not \"yes\""},
	{"list for a string", "api:\n  org_id: [a, b]\n  token: y\nsources: [{name: a, path: /a}]\n",
		"2:3: api.org_id: must be a single value, not a list"},
	{"list for a secret", "api:\n  org_id: o\n  token: [s3cr3t-t0k3n]\nsources: [{name: a, path: /a}]\n",
		"3:3: api.token: must be a single value, not a list"},

	// Values.
	{"missing org_id", "api:\n  token: y\nsources: [{name: a, path: /a}]\n", " api.org_id: required"},
	{"bad duration", valid + "    settle: 10\n",
		"7:5: sources[0].settle: \"10\" is not a duration (use a Go duration such as 10s or 10m)"},
	{"bad duration text", valid + "upload:\n  stall_timeout: two minutes\n",
		"8:3: upload.stall_timeout: \"two minutes\" is not a duration (use a Go duration such as 10s or 5m)"},
	{"days for a duration", valid + "retention: 30d\n",
		"7:1: retention: \"30d\" is not a duration (Go durations have no days: write 720h)"},
	{"negative duration", valid + "retention: -1h\n",
		"7:1: retention: \"-1h\" is negative"},
	{"zero timeout", apiLast + "  timeout: 0s\n",
		"7:3: api.timeout: must be more than 0"},
	{"bad byte size", valid + "upload:\n  bandwidth_limit: 2 GX\n",
		"8:3: upload.bandwidth_limit: \"2 GX\" is not a size (use bytes or a unit: 500KB, 2MB, 1GiB)"},
	{"bits for bytes", valid + "upload:\n  bandwidth_limit: 10Mb\n",
		"8:3: upload.bandwidth_limit: \"10Mb\" looks like bits; write bytes with a capital B, such as 10MB"},
	{"negative byte size", valid + "upload:\n  bandwidth_limit: -1\n",
		"8:3: upload.bandwidth_limit: -1 is negative"},
	{"file size over S3 limit", valid + "upload:\n  max_file_size: 6GB\n",
		"8:3: upload.max_file_size: must be at most 5GB, the limit of an S3 presigned POST"},
	{"concurrency out of range", valid + "upload:\n  concurrency: 0\n",
		"8:3: upload.concurrency: must be between 1 and 64"},
	{"retry_max below retry_min", valid + "upload:\n  retry_min: 1m\n  retry_max: 30s\n",
		"9:3: upload.retry_max: retry_max (30s) must not be shorter than retry_min (1m)"},
	{"rescan shorter than settle", valid + "    settle: 10m\n",
		"7:5: sources[0].settle: rescan_interval (5m) must not be shorter than settle (10m)"},
	{"bad after_upload", valid + "    after_upload: archive\n",
		"7:5: sources[0].after_upload: \"archive\" is not keep, delete or move:<folder>"},
	{"move without folder", valid + "    after_upload: 'move:'\n",
		"7:5: sources[0].after_upload: move: needs a folder, such as move:/srv/recordings-uploaded"},
	{"move into the source", valid + "    after_upload: move:/srv/calls/done\n",
		"7:5: sources[0].after_upload: the folder is inside this source's path, so moved files would be found again; choose a folder outside " + filepath.FromSlash("/srv/calls")},
	{"ftp source with a path", valid + "  - name: pbx\n    type: ftp\n    path: /srv/pbx\n    url: ftp://rec@pbx.example/calls\n    password_file: /etc/pbx.pass\n",
		"9:5: sources[1].path: is for local sources; an FTP source's folder is the end of its url"},
	{"ftp source without url", valid + "  - name: pbx\n    type: ftp\n    password_file: /etc/pbx.pass\n",
		"8:5: sources[1].url: required: ftp://USER@HOST[:PORT]/FOLDER, or ftps:// for implicit TLS"},
	{"ftp password in the url", valid + "  - name: pbx\n    type: ftp\n    url: ftp://rec:secret@pbx.example/calls\n    password_file: /etc/pbx.pass\n",
		"9:5: sources[1].url: must not hold the password: set password_file, or password: \"${NAME}\" from the environment"},
	{"ftp password written out", valid + "  - name: pbx\n    type: ftp\n    url: ftp://rec@pbx.example/calls\n    password: hunter2\n",
		"10:5: sources[1].password: write the password in password_file, or as \"${NAME}\" from the environment, not in this file"},
	{"ftp tls on ftps", valid + "  - name: pbx\n    type: ftp\n    url: ftps://rec@pbx.example/calls\n    tls: explicit\n    password_file: /p\n",
		"10:5: sources[1].tls: explicit is for ftp:// URLs; an ftps:// URL is implicit TLS already"},
	{"ftp ca_file without tls", valid + "  - name: pbx\n    type: ftp\n    url: ftp://rec@pbx.example/calls\n    ca_file: /ca.pem\n    password_file: /p\n",
		"10:5: sources[1].ca_file: is for FTPS: use an ftps:// URL or tls: explicit"},
	{"bad source name", "api: {org_id: o, token: t}\nsources:\n  - name: my calls\n    path: /a\n",
		"3:5: sources[0].name: \"my calls\" may hold only letters, digits, '.', '_' and '-'"},
	{"duplicate source name", valid + "  - name: calls\n    path: /srv/other\n",
		"7:5: sources[1].name: \"calls\" is also the name of sources[0]"},
	{"nested source paths", valid + "  - name: sub\n    path: /srv/calls/sub\n",
		"8:5: sources[1].path: is inside the path of sources[0] (calls); a file must belong to one source"},
	{"same source path", valid + "  - name: again\n    path: /srv/calls/\n",
		"8:5: sources[1].path: is the same folder as the path of sources[0] (calls)"},
	{"missing source path", "api: {org_id: o, token: t}\nsources:\n  - name: a\n", " sources[0].path: required"},
	{"no sources", "api: {org_id: o, token: t}\nsources: []\n", "2:1: sources: at least one source is required"},
	{"bad pattern", valid + "    include: ['[a-']\n",
		"7:15: sources[0].include[0]: \"[a-\" is not a valid pattern (such as *.wav, or calls/*.wav for a path)"},
	{"backslash in a pattern", valid + "    exclude: ['*.tmp', 'old\\*.wav']\n",
		`7:24: sources[0].exclude[1]: "old\\*.wav" has a backslash: patterns write "/" between folders, on Windows too, and have no escapes ([*], [?] and [[] match *, ? and [)`},
	{"http to a remote host", apiLast + "  base_url: http://api.botlhale.tech\n",
		"7:3: api.base_url: must use https (http is allowed only for localhost, 127.0.0.1 and ::1)"},
	{"base_url with password", apiLast + "  base_url: https://u:pw@api.botlhale.tech\n",
		"7:3: api.base_url: must not hold a user name or password"},
	{"status on all interfaces", valid + "status:\n  listen: 0.0.0.0:7844\n",
		"8:3: status.listen: \"0.0.0.0:7844\" is not a loopback address: the status page has no authentication, so it listens only on localhost, 127.0.0.1 or ::1"},
	{"status without host", valid + "status:\n  listen: :7844\n",
		"8:3: status.listen: \":7844\" is not a loopback address: the status page has no authentication, so it listens only on localhost, 127.0.0.1 or ::1"},
	{"bad timezone", valid + "metadata:\n  timezone: Africa/Joburg\n",
		"8:3: metadata.timezone: \"Africa/Joburg\" is not a known time zone (use an IANA name such as Africa/Johannesburg)"},
	{"bad direction", valid + "metadata:\n  defaults:\n    direction: in\n",
		"9:5: metadata.defaults.direction: \"in\" is not inbound or outbound"},
	{"tags as a string", valid + "metadata:\n  defaults:\n    tags: sales\n",
		"9:5: metadata.defaults.tags: must be a list of strings, such as [sales, priority] (Vela ignores a plain string)"},
	{"bad e-mail", valid + "metadata:\n  defaults:\n    notifyEmail: ops.example.com\n",
		"9:5: metadata.defaults.notifyEmail: \"ops.example.com\" is not an e-mail address"},
	{"window ends before it starts", valid + "upload:\n  schedule:\n    - days: [mon-fri]\n      from: \"18:00\"\n      to: \"08:00\"\n",
		"11:7: upload.schedule[0].to: 08:00 must be after from (18:00); a window cannot pass midnight, so write two"},
	{"window with a bad day", valid + "upload:\n  schedule:\n    - days: [mon, funday]\n",
		"9:19: upload.schedule[0].days[1]: \"funday\" is not a day (use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri)"},
	{"window without days", valid + "upload:\n  schedule:\n    - from: \"08:00\"\n", " upload.schedule[0].days: required: list the days, such as [mon-fri] or [sat, sun]"},
	{"window with a bad time", valid + "upload:\n  schedule:\n    - days: [sat]\n      from: 8am\n",
		"10:7: upload.schedule[0].from: \"8am\" is not a time of day (use HH:MM, such as 08:00)"},
	{"overlapping windows", valid + "upload:\n  schedule:\n    - {days: [mon-fri], from: \"08:00\", to: \"17:00\"}\n    - {days: [fri-sun], from: \"16:00\", to: \"20:00\"}\n",
		"10:7: upload.schedule[1]: overlaps upload.schedule[0] on fri"},
	{"bad log level", valid + "log:\n  level: verbose\n",
		"8:3: log.level: \"verbose\" is not debug, info, warn or error"},
	{"bad log format", valid + "log:\n  format: xml\n",
		"8:3: log.format: \"xml\" is not text or json"},
	{"status without port", valid + "status:\n  listen: localhost\n",
		"8:3: status.listen: \"localhost\" is not host:port, such as 127.0.0.1:7844 (or off)"},
	{"bad presign encoding", apiLast + "  presign_encoding: xml\n",
		"7:3: api.presign_encoding: must be json or form"},
	{"relative api path", apiLast + "  paths:\n    chats: chat/upload/vela\n",
		"8:5: api.paths.chats: must start with \"/\""},
	{"e-mail and its alias", valid + "metadata:\n  defaults:\n    email: a@example.com\n    agent: b@example.com\n",
		"10:5: metadata.defaults.agent: agent is another name for email: set only one"},
	{"alias to nothing", valid + "log: *nothing\n",
		"7:1: log: alias *nothing refers to no anchor"},

	// Credentials.
	{"no credential", "api:\n  org_id: o\nsources: [{name: a, path: /a}]\n",
		"1:1: api: no credential configured: set refresh_token_file (and run `vela-agent login`), refresh_token, token_file or token"},
	{"two credentials", apiLast + "  refresh_token_file: /etc/vela-agent/refresh_token\n",
		"7:3: api.refresh_token_file: only one credential may be set, but api.token is set too"},
	{"two credentials, reported at the second", "api:\n  refresh_token: ${HOME}\n  org_id: o\n  token_file: /t\nsources: [{name: a, path: /a}]\n",
		"4:3: api.token_file: only one credential may be set, but api.refresh_token is set too"},
	{"unset environment variable", "api:\n  org_id: o\n  refresh_token: ${VELA_TEST_UNSET}\nsources: [{name: a, path: /a}]\n",
		"3:3: api.refresh_token: environment variable VELA_TEST_UNSET is not set"},
	{"unset variable in a path", "api:\n  org_id: o\n  token_file: ${VELA_TEST_UNSET}/token\nsources: [{name: a, path: /a}]\n",
		"3:3: api.token_file: environment variable VELA_TEST_UNSET is not set"},
	{"malformed variable", "api:\n  org_id: o\n  token: ${VELA TOKEN}\nsources: [{name: a, path: /a}]\n",
		"3:3: api.token: malformed ${...}: write ${NAME}, where NAME is letters, digits and _"},
}

func TestParseErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vela-agent.yaml")
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(file, []byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q; config: %+v", tc.want, c)
			}
			want := file + ":" + tc.want
			lines := strings.Split(err.Error(), "\n")
			for _, line := range lines {
				if line == want {
					return
				}
			}
			t.Errorf("errors:\n%s\nwant a line:\n%s", err, want)
		})
	}
}

func TestParseReportsAllErrorsSorted(t *testing.T) {
	file := filepath.Join(t.TempDir(), "vela-agent.yaml")
	yaml := `api:
  org_id: org-1
  token: t
  tokn: x
sources:
  - name: calls
    path: /srv/calls
    settle: 10
upload:
  concurrency: four
log:
  level: loud
`
	_, err := Parse(file, []byte(yaml))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Key)
	}
	want := []string{"api.tokn", "sources[0].settle", "upload.concurrency", "log.level"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keys of errors = %q, want %q\n%v", got, want, err)
	}
	var one *Error
	if !errors.As(err, &one) || one.Line != 4 || one.Column != 3 || one.File != file {
		t.Errorf("errors.As(*Error) = %+v, want the first error at 4:3", one)
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "/c.yaml", Line: 12, Column: 14, Key: "sources[0].settle", Msg: "bad"}, "/c.yaml:12:14: sources[0].settle: bad"},
		{Error{File: "/c.yaml", Key: "api.org_id", Msg: "required"}, "/c.yaml: api.org_id: required"},
		{Error{File: "/c.yaml", Msg: "empty configuration"}, "/c.yaml: empty configuration"},
		{Error{Line: 2, Column: 1, Msg: "x"}, "2:1: x"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	errs := Errors{&tests[0].err, &tests[1].err}
	if got, want := errs.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse(filepath.Join(t.TempDir(), "vela-agent.yaml"), []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.API.OrgID = "org-1"
	want.API.Token = "s3cr3t-t0k3n"
	if !reflect.DeepEqual(c.API, want.API) {
		t.Errorf("API = %+v\nwant %+v", c.API, want.API)
	}
	if c.StateDir != defaultStateDir() || c.Retention.D() != 720*time.Hour {
		t.Errorf("StateDir, Retention = %q, %v", c.StateDir, c.Retention)
	}
	if !reflect.DeepEqual(c.Upload, want.Upload) || !reflect.DeepEqual(c.Status, want.Status) || !reflect.DeepEqual(c.Log, want.Log) {
		t.Errorf("Upload, Status, Log = %+v, %+v, %+v", c.Upload, c.Status, c.Log)
	}
	s := c.Sources[0]
	if s.Type != "local" || !s.Recurse() || s.Settle.D() != 10*time.Second || s.RescanInterval.D() != 5*time.Minute ||
		s.AfterUpload != "keep" || s.MoveDir() != "" || s.Poll ||
		s.Kind != "calls" || !reflect.DeepEqual(s.Include, []string{"*.wav", "*.mp3", "*.m4a", "*.flac", "*.zip"}) || len(s.Exclude) != 0 {
		t.Errorf("source defaults = %+v", s)
	}
	if c.Metadata.Timezone != "Africa/Johannesburg" || c.Location().String() != "Africa/Johannesburg" {
		t.Errorf("time zone = %q, %v", c.Metadata.Timezone, c.Location())
	}
	if c.Upload.MaxFileSize != 1_000_000_000 || c.Upload.Concurrency != 4 || c.Status.Listen != "127.0.0.1:7844" {
		t.Errorf("upload, status = %+v, %+v", c.Upload, c.Status)
	}
	if kind, secret, err := c.API.Credentials(); kind != AccessToken || secret != "s3cr3t-t0k3n" || err != nil {
		t.Errorf("Credentials() = %v, %q, %v", kind, secret, err)
	}
}

func TestNullKeepsDefaults(t *testing.T) {
	c, err := Parse("", []byte(valid+"    settle:\nupload:\nstatus:\n  listen: off\nlog: {level: DEBUG, format: JSON}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources[0].Settle.D() != 10*time.Second || c.Upload.Concurrency != 4 {
		t.Errorf("null values replaced defaults: %+v %+v", c.Sources[0], c.Upload)
	}
	if c.Status.Listen != "" || c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Errorf("status, log = %+v, %+v", c.Status, c.Log)
	}
}

func TestSettings(t *testing.T) {
	yaml := `api:
  base_url: http://127.0.0.1:8080/
  org_id: 00123
  token: t
  presign_encoding: FORM
defaults: &d
sources:
  - name: calls
    path: /srv/calls
    recursive: false
    include: ["*.WAV"]
    settle: 1m
    rescan_interval: 1h
    poll: true
    after_upload: Delete
upload:
  bandwidth_limit: 2 MiB/s
  schedule:
    - days: [SAT-sun]
      limit: 500KB
metadata:
  timezone: UTC
  defaults:
    direction: Outbound
    tags: [a, b]
    contact: 0821234567
    email: agent@example.com
status:
  listen: "[::1]:9000"
`
	c, err := Parse("", []byte(strings.Replace(yaml, "defaults: &d\n", "", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.BaseURL != "http://127.0.0.1:8080" || c.API.OrgID != "00123" || c.API.PresignEncoding != "form" {
		t.Errorf("api = %+v", c.API)
	}
	s := c.Sources[0]
	if s.Recurse() || !s.Poll || s.AfterUpload != "delete" || s.Settle.D() != time.Minute || s.RescanInterval.D() != time.Hour ||
		!reflect.DeepEqual(s.Include, []string{"*.WAV"}) {
		t.Errorf("source = %+v", s)
	}
	if c.Upload.BandwidthLimit != 2<<20 {
		t.Errorf("bandwidth_limit = %d", c.Upload.BandwidthLimit)
	}
	w := c.Upload.Schedule[0]
	if from, to := w.Span(); from != 0 || to != 24*time.Hour || w.Limit != 500_000 ||
		!reflect.DeepEqual(w.Weekdays(), []time.Weekday{time.Sunday, time.Saturday}) {
		t.Errorf("window = %+v, span %v-%v, days %v", w, from, to, w.Weekdays())
	}
	wantMeta := map[string]any{"direction": "outbound", "tags": []string{"a", "b"}, "contact": "0821234567", "email": "agent@example.com"}
	if !reflect.DeepEqual(c.Metadata.Defaults, wantMeta) {
		t.Errorf("metadata defaults = %#v", c.Metadata.Defaults)
	}
	if c.Location() != time.UTC || c.Status.Listen != "[::1]:9000" {
		t.Errorf("location, listen = %v, %q", c.Location(), c.Status.Listen)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(c *Config) bool
	}{
		{"http to localhost", apiLast + "  base_url: http://localhost:8080/vela/\n",
			func(c *Config) bool { return c.API.BaseURL == "http://localhost:8080/vela" }},
		{"http to ::1", apiLast + "  base_url: http://[::1]:8080\n",
			func(c *Config) bool { return c.API.BaseURL == "http://[::1]:8080" }},
		{"status on localhost", valid + "status: {listen: \"localhost:0\"}\n",
			func(c *Config) bool { return c.Status.Listen == "localhost:0" }},
		{"status off as an empty string", valid + "status: {listen: \"\"}\n",
			func(c *Config) bool { return c.Status.Listen == "" }},
		{"byte-order mark and CRLF", "\uFEFF" + strings.ReplaceAll(valid, "\n", "\r\n"),
			func(c *Config) bool { return c.Sources[0].Name == "calls" }},
		{"bytes as a number", valid + "upload: {bandwidth_limit: 2000000, max_file_size: 5GB}\n",
			func(c *Config) bool {
				return c.Upload.BandwidthLimit == 2_000_000 && c.Upload.MaxFileSize == 5_000_000_000
			}},
		{"agent alone", valid + "metadata: {defaults: {agent: a@example.com, contact: 27821234567}}\n",
			func(c *Config) bool {
				return c.Metadata.Defaults["agent"] == "a@example.com" && c.Metadata.Defaults["contact"] == "27821234567"
			}},
		{"move outside the source", valid + "    after_upload: MOVE:/srv/done\n",
			func(c *Config) bool {
				return c.Sources[0].MoveDir() == filepath.FromSlash("/srv/done") || runtime.GOOS == "windows"
			}},
		{"adjacent windows", valid + "upload:\n  schedule:\n    - {days: [mon], to: \"12:00\"}\n    - {days: [mon], from: \"12:00\", limit: 0}\n",
			func(c *Config) bool { return len(c.Upload.Schedule) == 2 }},
		{"secret from a block scalar", "api:\n  org_id: o\n  token: |\n    abc\nsources: [{name: a, path: /a}]\n",
			func(c *Config) bool { return c.API.Token.Reveal() == "abc" }},
		{"tagged value", valid + "upload: {concurrency: !!int 8}\n",
			func(c *Config) bool { return c.Upload.Concurrency == 8 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config: %+v", c)
			}
		})
	}
}

func TestHandBuiltConfig(t *testing.T) {
	var c Config
	if got := c.Location().String(); got != "Africa/Johannesburg" {
		t.Errorf("Location() of an empty config = %s", got)
	}
	c.Metadata.Timezone = "Nowhere/Special"
	if got := c.Location(); got != time.UTC {
		t.Errorf("Location() of a bad zone = %s, want UTC", got)
	}
	for level, want := range map[string]slog.Level{"debug": slog.LevelDebug, "warn": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo, "loud": slog.LevelInfo} {
		if got := (Log{Level: level}).SlogLevel(); got != want {
			t.Errorf("SlogLevel(%q) = %v, want %v", level, got, want)
		}
	}
	if !(Source{}).Recurse() {
		t.Error("Recurse() of a source without recursive = false, want true")
	}
}

func TestAnchorsAndMergeKeys(t *testing.T) {
	yaml := `api: {org_id: o, token: t}
sources:
  - &base
    name: a
    path: /srv/a
    settle: 1m
    exclude: ["*.tmp"]
  - <<: *base
    name: b
    path: /srv/b
`
	c, err := Parse("", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Sources[1]
	if b.Name != "b" || b.Settle.D() != time.Minute || !reflect.DeepEqual(b.Exclude, []string{"*.tmp"}) {
		t.Errorf("merged source = %+v", b)
	}
	for _, yaml := range []string{"a: &a {<<: *a}\n", "x: *nowhere\n", "a: &a [*a]\nb: {<<: *a}\n"} {
		if _, err := Parse("", []byte(yaml)); err == nil {
			t.Errorf("Parse(%q) succeeded", yaml)
		}
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	yaml := `api:
  org_id: o
  refresh_token_file: secrets/refresh
state_dir: state
sources:
  - name: calls
    path: calls
    after_upload: move:done
  - name: up
    path: ../elsewhere
`
	c, err := Parse(filepath.Join(dir, "vela-agent.yaml"), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ got, want string }{
		{c.File, filepath.Join(dir, "vela-agent.yaml")},
		{c.API.RefreshTokenFile, filepath.Join(dir, "secrets", "refresh")},
		{c.StateDir, filepath.Join(dir, "state")},
		{c.Sources[0].Path, filepath.Join(dir, "calls")},
		{c.Sources[0].MoveDir(), filepath.Join(dir, "done")},
		{c.Sources[1].Path, filepath.Join(filepath.Dir(dir), "elsewhere")},
	} {
		if tc.got != tc.want {
			t.Errorf("path = %q, want %q", tc.got, tc.want)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VELA_TEST_TOKEN", "from-env")
	t.Setenv("VELA_TEST_DIR", dir)
	t.Setenv("VELA_TEST_EMPTY", "")
	c, err := Parse("", []byte("api:\n  org_id: o\n  token: \"${VELA_TEST_TOKEN}\"\nsources: [{name: a, path: /a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.API.Token.Reveal() != "from-env" {
		t.Errorf("token = %q", c.API.Token.Reveal())
	}
	c, err = Parse("", []byte("api:\n  org_id: o\n  token_file: ${VELA_TEST_DIR}/tok\nsources: [{name: a, path: /a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "tok"); c.API.TokenFile != want {
		t.Errorf("token_file = %q, want %q", c.API.TokenFile, want)
	}
	_, err = Parse("", []byte("api:\n  org_id: o\n  token: ${VELA_TEST_EMPTY}\nsources: [{name: a, path: /a}]\n"))
	if err == nil || !strings.Contains(err.Error(), "api.token: environment variable VELA_TEST_EMPTY is empty") {
		t.Errorf("empty variable: error %v", err)
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		api     API
		kind    CredentialKind
		secret  string
		wantErr string
	}{
		{"token", API{Token: "abc"}, AccessToken, "abc", ""},
		{"token file with newline", API{TokenFile: write("token", "abc\n")}, AccessToken, "abc", ""},
		{"refresh token", API{RefreshToken: "r"}, RefreshToken, "r", ""},
		{"refresh token file with BOM and CRLF", API{RefreshTokenFile: write("refresh", "\uFEFFr-123\r\n")}, RefreshToken, "r-123", ""},
		{"missing refresh token file", API{RefreshTokenFile: filepath.Join(dir, "nope")}, 0, "", "run `vela-agent login`"},
		{"missing token file", API{TokenFile: filepath.Join(dir, "nope")}, 0, "", "read api.token_file: open "},
		{"empty token file", API{TokenFile: write("empty", " \n")}, 0, "", "is empty"},
		{"nothing", API{}, 0, "", "no API credential configured"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, secret, err := tc.api.Credentials()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || kind != tc.kind || secret != tc.secret {
				t.Errorf("Credentials() = %v, %q, %v; want %v, %q", kind, secret, err, tc.kind, tc.secret)
			}
		})
	}
}

func TestExampleLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "configs", "vela-agent.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) != 3 || !c.Sources[2].IsFTP() || c.API.RefreshTokenFile == "" || len(c.Upload.Schedule) != 1 {
		t.Errorf("example config = %+v", c)
	}
	placeholder := false
	for _, w := range c.Warnings {
		placeholder = placeholder || w.Key == "api.org_id"
	}
	if !placeholder {
		t.Errorf("no warning that api.org_id is the example's placeholder: %v", c.Warnings)
	}
}

// TestExampleHasEveryKey checks that the example mentions every key, set
// or commented out.
func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "configs", "vela-agent.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(string(data), name+":") {
				t.Errorf("the example has no key %q", name)
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				walk(ft)
			}
		}
	}
	walk(reflect.TypeOf(Config{}))
	for _, key := range metadataKeys {
		if !strings.Contains(string(data), key) {
			t.Errorf("the example does not mention metadata.defaults key %q", key)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadWarnings(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits are not checked on Windows")
	}
	dir := t.TempDir()
	// The source folder exists: only the credentials are in question.
	withDir := strings.ReplaceAll(valid, "/srv/calls", dir)
	tests := []struct {
		name string
		yaml string
		mode os.FileMode
		want string
	}{
		{"inline token readable by others", withDir, 0o644, ":3:3: api.token: " + dir + "/x.yaml holds api.token but other users can read it (mode 0644): run chmod 600"},
		{"inline token private", withDir, 0o600, ""},
		{"token from the environment", strings.Replace(withDir, "s3cr3t-t0k3n", "${HOME}", 1), 0o644, ""},
		{"refresh token file not yet written", "api:\n  org_id: o\n  refresh_token_file: refresh\nsources: [{name: a, path: " + dir + "}]\n", 0o644,
			":3:3: api.refresh_token_file: " + dir + "/refresh does not exist yet: run `vela-agent login`"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.Repeat("x", i+1)+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil { // umask may have cleared bits
				t.Fatal(err)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			got := Errors(c.Warnings).Error()
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("warnings = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"2000000", 2_000_000, true},
		{"2MB", 2_000_000, true},
		{"2 MiB", 2 << 20, true},
		{"500KB", 500_000, true},
		{"500kb/s", 500_000, true},
		{"2MB/s", 2_000_000, true},
		{"1.5GB", 1_500_000_000, true},
		{"1GiB", 1 << 30, true},
		{"0", 0, true},
		{"12B", 12, true},
		{"", 0, false},
		{"MB", 0, false},
		{"-1MB", 0, false},
		{"2TB", 0, false},
		{"1.5B", 0, false},
		{"2Mb", 0, false},
		{"99999999999999999999", 0, false},
		{"9999999999GB", 0, false},
		{"1..2MB", 0, false},
		{"/s", 0, false},
	}
	for _, tc := range tests {
		got, err := parseByteSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for _, tc := range []struct {
		in   ByteSize
		want string
	}{{0, "0B"}, {2_000_000, "2MB"}, {1 << 30, "1GiB"}, {1500, "1500B"}, {1_500_000, "1500KB"}} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"10s", "10s", true}, {"5m", "5m", true}, {"1h30m", "1h30m", true}, {"720h", "720h", true},
		{"0s", "0s", true}, {"10", "", false}, {"1.5", "", false}, {"-5s", "", false}, {"soon", "", false},
	} {
		var d Duration
		err := d.UnmarshalText([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && d.String() != tc.want) {
			t.Errorf("Duration %q: %v, %v; want %q, ok %v", tc.in, d, err, tc.want, tc.ok)
		}
	}
}

func TestWindow(t *testing.T) {
	tests := []struct {
		w        Window
		days     []time.Weekday
		from, to time.Duration
	}{
		{Window{Days: []string{"mon-fri"}, From: "08:00", To: "17:30"},
			[]time.Weekday{1, 2, 3, 4, 5}, 8 * time.Hour, 17*time.Hour + 30*time.Minute},
		{Window{Days: []string{"Fri-Mon", "wed"}}, []time.Weekday{0, 1, 3, 5, 6}, 0, 24 * time.Hour},
		{Window{Days: []string{"sun", "sun"}, From: "8:05", To: "24:00"}, []time.Weekday{0}, 8*time.Hour + 5*time.Minute, 24 * time.Hour},
		{Window{Days: []string{"nope"}, From: "25:00"}, nil, 0, 0},
	}
	for _, tc := range tests {
		if got := tc.w.Weekdays(); !reflect.DeepEqual(got, tc.days) {
			t.Errorf("%+v: Weekdays() = %v, want %v", tc.w, got, tc.days)
		}
		if from, to := tc.w.Span(); from != tc.from || to != tc.to {
			t.Errorf("%+v: Span() = %v, %v; want %v, %v", tc.w, from, to, tc.from, tc.to)
		}
	}
}

// The watcher and the configuration agree on the default rescan period.
func TestDefaultRescanInterval(t *testing.T) {
	c, err := Parse("", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].RescanInterval.D(); got != watcher.DefaultRescanInterval {
		t.Errorf("rescan_interval defaults to %v, the watcher to %v", got, watcher.DefaultRescanInterval)
	}
}
