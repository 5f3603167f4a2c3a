package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vela-agent/vela-agent/agent/meta"
	"github.com/vela-agent/vela-agent/watcher"
)

const (
	defaultBaseURL  = "https://api.botlhale.tech"
	defaultTimezone = "Africa/Johannesburg"
	defaultListen   = "127.0.0.1:7844"

	// maxUploadSize is the largest object an S3 presigned POST accepts.
	maxUploadSize = 5 * ByteSize(1e9)
	maxWorkers    = 64
)

// defaults returns the configuration of an empty file; decoding overwrites
// what the file sets.
func defaults() *Config {
	return &Config{
		API: API{
			BaseURL:           defaultBaseURL,
			PresignEncoding:   "json",
			ChatSchema:        "chats",
			Timeout:           Duration(30 * time.Second),
			AllocationRecheck: Duration(15 * time.Minute),
			Paths: Paths{
				Presign:      "/asr/async/upload/vela",
				Chats:        "/chats/upload/vela",
				Organisation: "/organisations/vela/{OrgID}",
				Login:        "/auth/login",
				Generate:     "/auth/generate",
			},
		},
		StateDir:  defaultStateDir(),
		Retention: Duration(720 * time.Hour),
		Metadata:  Metadata{Timezone: defaultTimezone, TagsSeparator: ";"},
		Upload: Upload{
			Concurrency:  4,
			MaxFileSize:  ByteSize(1e9),
			ChatMaxBody:  ByteSize(6e6),
			ZipMaxTotal:  ByteSize(10e9),
			StallTimeout: Duration(2 * time.Minute),
			RetryMin:     Duration(5 * time.Second),
			RetryMax:     Duration(10 * time.Minute),
		},
		Status: Status{Listen: defaultListen},
		Log:    Log{Level: "info", Format: "text", MaxSize: ByteSize(50e6), MaxFiles: 5},
	}
}

func (s *Source) setDefaults() {
	recurse := true
	*s = Source{
		Type:           "local",
		Recursive:      &recurse,
		Include:        []string{"*.wav", "*.mp3", "*.m4a", "*.flac", "*.zip"},
		Settle:         Duration(10 * time.Second),
		RescanInterval: Duration(watcher.DefaultRescanInterval),
		AfterUpload:    "keep",
	}
}

func defaultStateDir() string {
	if runtime.GOOS == "windows" {
		dir := os.Getenv("ProgramData")
		if dir == "" {
			dir = `C:\ProgramData`
		}
		return filepath.Join(dir, "vela-agent")
	}
	return "/var/lib/vela-agent"
}

// validate checks c after decoding, normalises values (lower-case names,
// absolute paths, expanded ${NAME}s) and records every problem.
func (d *decoder) validate(c *Config, dir string) {
	c.inline = d.validateAPI(&c.API, dir)
	if c.StateDir == "" {
		d.errorf("state_dir", "must not be empty")
	} else {
		c.StateDir = absPath(dir, c.StateDir)
	}
	d.validateSources(c.Sources, dir)
	d.validateMetadata(&c.Metadata)
	c.loc = c.Metadata.loc
	d.resolveMetadata(c)
	d.validateUpload(&c.Upload)
	d.validateStatus(&c.Status)
	d.validateLog(&c.Log, dir)
}

// validateAPI checks a and returns the keys of the secrets written in the
// file itself rather than taken from the environment.
func (d *decoder) validateAPI(a *API, dir string) (inline []string) {
	u, err := url.Parse(a.BaseURL)
	switch {
	case a.BaseURL == "":
		d.errorf("api.base_url", "must not be empty")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		d.errorf("api.base_url", "is not a URL such as %s", defaultBaseURL)
	case u.User != nil:
		d.errorf("api.base_url", "must not hold a user name or password")
	case u.RawQuery != "" || u.Fragment != "":
		d.errorf("api.base_url", "must not have a query (?) or a fragment (#)")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		d.errorf("api.base_url", "must use https (http is allowed only for localhost, 127.0.0.1 and ::1)")
	default:
		a.BaseURL = strings.TrimRight(a.BaseURL, "/")
	}

	a.OrgID = strings.TrimSpace(a.OrgID)
	switch {
	case a.OrgID == "":
		d.errorf("api.org_id", "required")
	case strings.ContainsAny(a.OrgID, " \t\r\n/?#%"):
		d.errorf("api.org_id", "must not contain spaces or the characters / ? # %%")
	}

	creds := []struct {
		key    string
		value  *string
		secret bool
	}{
		{"api.token", (*string)(&a.Token), true},
		{"api.token_file", &a.TokenFile, false},
		{"api.refresh_token", (*string)(&a.RefreshToken), true},
		{"api.refresh_token_file", &a.RefreshTokenFile, false},
	}
	var set []string
	for _, cr := range creds {
		raw := *cr.value
		if raw == "" {
			continue
		}
		set = append(set, cr.key)
		v, err := expandEnv(raw)
		if err != nil {
			d.errorf(cr.key, "%s", err)
			continue
		}
		if cr.secret && !strings.Contains(raw, "${") {
			inline = append(inline, cr.key)
		}
		if !cr.secret {
			v = absPath(dir, v)
		}
		*cr.value = v
	}
	switch {
	case len(set) == 0:
		d.errorf("api", "no credential configured: set refresh_token_file (and run `vela-agent login`), refresh_token, token_file or token")
	case len(set) > 1:
		slices.SortStableFunc(set, func(a, b string) int { return d.pos[a].Line - d.pos[b].Line })
		for _, key := range set[1:] {
			d.errorf(key, "only one credential may be set, but %s is set too", set[0])
		}
	}

	switch a.PresignEncoding = strings.ToLower(a.PresignEncoding); a.PresignEncoding {
	case "json", "form":
	default:
		d.errorf("api.presign_encoding", "must be json or form")
	}
	switch a.ChatSchema = strings.ToLower(a.ChatSchema); a.ChatSchema {
	case "chats":
	case "chat_data":
		if !d.has("api.paths.chats") {
			a.Paths.Chats = "/chat/upload/vela" // the seed's endpoint
		}
	default:
		d.errorf("api.chat_schema", "%q is not chats or chat_data", a.ChatSchema)
	}
	d.positive("api.timeout", a.Timeout)
	d.positive("api.allocation_recheck", a.AllocationRecheck)
	for _, p := range []struct{ key, value string }{
		{"presign", a.Paths.Presign},
		{"chats", a.Paths.Chats},
		{"organisation", a.Paths.Organisation},
		{"login", a.Paths.Login},
		{"generate", a.Paths.Generate},
	} {
		if !strings.HasPrefix(p.value, "/") {
			d.errorf("api.paths."+p.key, `must start with "/"`)
		}
	}
	return inline
}

func (d *decoder) validateSources(srcs []Source, dir string) {
	if len(srcs) == 0 {
		d.errorf("sources", "at least one source is required")
		return
	}
	names := map[string]int{}
	for i := range srcs {
		s := &srcs[i]
		key := func(k string) string { return fmt.Sprintf("sources[%d].%s", i, k) }

		switch j, dup := names[s.Name]; {
		case s.Name == "":
			d.errorf(key("name"), "required")
		case strings.Trim(s.Name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != "":
			d.errorf(key("name"), "%q may hold only letters, digits, '.', '_' and '-'", s.Name)
		case dup:
			d.errorf(key("name"), "%q is also the name of sources[%d]", s.Name, j)
		default:
			names[s.Name] = i
		}

		switch s.Type = strings.ToLower(s.Type); s.Type {
		case "local", "":
			s.Type = "local"
		case "ftp":
		default:
			d.errorf(key("type"), "%q is not a source type (use local or ftp)", s.Type)
		}

		switch s.Kind = strings.ToLower(s.Kind); s.Kind {
		case "calls", "":
			s.Kind = "calls"
		case "chats":
			if !d.has(key("include")) {
				s.Include = []string{"*.json", "*.csv"}
			}
		default:
			d.errorf(key("kind"), "%q is not a source kind (use calls or chats)", s.Kind)
		}

		switch {
		case s.IsFTP():
			d.validateFTP(s, key, dir)
		case s.Path == "":
			d.errorf(key("path"), "required")
		default:
			s.Path = absPath(dir, s.Path)
		}

		switch {
		case s.IsFTP():
		case s.RescanInterval <= 0:
			d.errorf(key("rescan_interval"), "must be more than 0")
		case s.RescanInterval < s.Settle:
			k := key("rescan_interval")
			if !d.has(k) {
				k = key("settle")
			}
			d.errorf(k, "rescan_interval (%s) must not be shorter than settle (%s)", s.RescanInterval, s.Settle)
		}

		if s.IgnoreOlder < 0 {
			d.errorf(key("ignore_older"), "must not be negative")
		}
		d.patterns(key("include"), s.Include)
		d.patterns(key("exclude"), s.Exclude)

		after := strings.TrimSpace(s.AfterUpload)
		switch prefix, moveTo, isMove := strings.Cut(after, ":"); {
		case strings.EqualFold(after, "keep"), strings.EqualFold(after, "delete"):
			s.AfterUpload = strings.ToLower(after)
		case isMove && strings.EqualFold(prefix, "move") && strings.TrimSpace(moveTo) != "" && s.IsFTP():
			s.AfterUpload = "move:" + path.Clean(strings.TrimSpace(moveTo)) // a folder on the server
		case isMove && strings.EqualFold(prefix, "move") && strings.TrimSpace(moveTo) != "":
			s.AfterUpload = "move:" + absPath(dir, strings.TrimSpace(moveTo))
		case isMove && strings.EqualFold(prefix, "move"):
			d.errorf(key("after_upload"), "move: needs a folder, such as move:/srv/recordings-uploaded")
		default:
			d.errorf(key("after_upload"), "%q is not keep, delete or move:<folder>", s.AfterUpload)
		}
	}

	// Paths are absolute now: look for sources that share files, and for
	// moves that would put uploaded files back in front of a watcher.
	for j := range srcs {
		for i := range j {
			a, b := srcs[i], srcs[j]
			if a.Path == "" || b.Path == "" {
				continue
			}
			key := fmt.Sprintf("sources[%d].path", j)
			switch {
			case within(a.Path, b.Path) && within(b.Path, a.Path):
				d.errorf(key, "is the same folder as the path of sources[%d] (%s)", i, a.Name)
			case within(a.Path, b.Path):
				d.errorf(key, "is inside the path of sources[%d] (%s); a file must belong to one source", i, a.Name)
			case within(b.Path, a.Path):
				d.errorf(key, "contains the path of sources[%d] (%s); a file must belong to one source", i, a.Name)
			}
		}
	}
	for j, s := range srcs {
		dst := s.MoveDir()
		if dst == "" || s.IsFTP() {
			continue
		}
		for i, other := range srcs {
			if other.Path == "" || !within(other.Path, dst) {
				continue
			}
			key := fmt.Sprintf("sources[%d].after_upload", j)
			if i == j {
				d.errorf(key, "the folder is inside this source's path, so moved files would be found again; choose a folder outside %s", s.Path)
			} else {
				d.errorf(key, "the folder is inside the path of sources[%d] (%s), so moved files would be uploaded again", i, other.Name)
			}
		}
	}
}

// validateFTP checks the keys of an FTP source and fills in what the URL
// says.
func (d *decoder) validateFTP(s *Source, key func(string) string, dir string) {
	if s.Path != "" {
		d.errorf(key("path"), "is for local sources; an FTP source's folder is the end of its url")
	}
	if !d.has(key("settle")) {
		s.Settle = Duration(time.Minute)
	}
	if s.PollInterval == 0 && !d.has(key("poll_interval")) {
		s.PollInterval = Duration(time.Minute)
	}
	if s.Timeout == 0 && !d.has(key("timeout")) {
		s.Timeout = Duration(time.Minute)
	}
	if s.MaxConnections == 0 && !d.has(key("max_connections")) {
		s.MaxConnections = 2
	}
	if s.List == "" {
		s.List = "auto"
	}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		d.errorAt(d.pos[key("type")], key("url"), "required: ftp://USER@HOST[:PORT]/FOLDER, or ftps:// for implicit TLS")
	case err != nil || u.Host == "" || (u.Scheme != "ftp" && u.Scheme != "ftps"):
		d.errorf(key("url"), "is not a URL such as ftp://recorder@pbx.example/calls or ftps://recorder@pbx.example/calls")
	case u.User == nil || u.User.Username() == "":
		d.errorf(key("url"), "needs the user name: ftp://USER@%s%s", u.Host, u.Path)
	case hasPassword(u):
		d.errorf(key("url"), "must not hold the password: set password_file, or password: \"${NAME}\" from the environment")
	case u.RawQuery != "" || u.Fragment != "":
		d.errorf(key("url"), "must not have a query (?) or a fragment (#)")
	default:
		port := u.Port()
		if port == "" {
			port = "21"
			if u.Scheme == "ftps" {
				port = "990"
			}
		}
		s.host, s.user = net.JoinHostPort(u.Hostname(), port), u.User.Username()
		s.dir = path.Clean("/" + u.Path)
	}
	switch s.TLS = strings.ToLower(strings.TrimSpace(s.TLS)); {
	case s.TLS == "":
	case s.TLS != "explicit":
		d.errorf(key("tls"), "%q is not explicit (leave it out for plain FTP; ftps:// URLs are implicit TLS)", s.TLS)
	case err == nil && u.Scheme == "ftps":
		d.errorf(key("tls"), "explicit is for ftp:// URLs; an ftps:// URL is implicit TLS already")
	}
	switch {
	case s.Password != "" && s.PasswordFile != "":
		d.errorf(key("password_file"), "only one of password and password_file may be set")
	case s.Password != "":
		raw := string(s.Password)
		v, err := expandEnv(raw)
		if err != nil {
			d.errorf(key("password"), "%s", err)
		}
		if !strings.Contains(raw, "${") {
			d.errorf(key("password"), "write the password in password_file, or as \"${NAME}\" from the environment, not in this file")
		}
		s.Password = Secret(v)
	case s.PasswordFile != "":
		s.PasswordFile = absPath(dir, s.PasswordFile)
	default:
		d.errorAt(d.pos[key("type")], key("password_file"), "required: the file holding the FTP password (or password: \"${NAME}\")")
	}
	if s.CAFile != "" {
		s.CAFile = absPath(dir, s.CAFile)
	}
	if !s.UsesTLS() {
		for _, k := range []string{"ca_file", "server_name", "tls_insecure_skip_verify"} {
			if d.has(key(k)) {
				d.errorf(key(k), "is for FTPS: use an ftps:// URL or tls: explicit")
			}
		}
	}
	d.positive(key("poll_interval"), s.PollInterval)
	d.positive(key("timeout"), s.Timeout)
	d.positive(key("settle"), s.Settle)
	if s.MaxConnections < 1 {
		d.errorf(key("max_connections"), "must be at least 1")
	}
	switch s.List = strings.ToLower(s.List); s.List {
	case "auto", "mlsd", "list":
	default:
		d.errorf(key("list"), "must be auto, mlsd or list")
	}
	if tz := s.ServerTimezone; tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			d.errorf(key("server_timezone"), "%q is not a time zone such as UTC or Africa/Johannesburg", tz)
		}
		s.loc = loc
	}
}

func hasPassword(u *url.URL) bool {
	_, ok := u.User.Password()
	return ok
}

// patterns checks a list of include or exclude patterns, in the dialect
// the watcher matches them with (watcher.CheckPattern).
func (d *decoder) patterns(key string, list []string) {
	for i, p := range list {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch err := watcher.CheckPattern(p); {
		case p == "":
			d.errorf(k, "empty pattern")
		case errors.Is(err, watcher.ErrBackslash):
			d.errorf(k, `%q has a backslash: patterns write "/" between folders, on Windows too, and have no escapes ([*], [?] and [[] match *, ? and [)`, p)
		case err != nil:
			d.errorf(k, "%q is not a valid pattern (such as *.wav, or calls/*.wav for a path)", p)
		}
	}
}

// metadataKeys are the call metadata a configuration may default: every
// field but date_of_call (which is when the call happened), and agent, the
// other name of email.
var metadataKeys = append(slices.DeleteFunc(slices.Clone(meta.Fields), func(f string) bool { return f == meta.DateOfCall }), "agent")

// validateMetadata checks the top-level metadata block and loads its zone
// and pattern. Every key is checked, set or not.
func (d *decoder) validateMetadata(m *Metadata) {
	d.metadataBlock("metadata", m, func(string) bool { return true })
}

// metadataBlock checks the keys of the metadata block at prefix for which
// set is true, normalising values and loading m.loc and m.pattern.
func (d *decoder) metadataBlock(prefix string, m *Metadata, set func(key string) bool) {
	key := func(k string) string { return prefix + "." + k }
	if set("timezone") {
		if m.Timezone == "" {
			d.errorf(key("timezone"), "must not be empty")
		} else if l, err := time.LoadLocation(m.Timezone); err != nil {
			d.errorf(key("timezone"), "%q is not a known time zone (use an IANA name such as %s)", m.Timezone, defaultTimezone)
		} else {
			m.loc = l
		}
	}
	if set("defaults") {
		d.metadataDefaults(key("defaults"), m.Defaults)
	}
	if set("filename_pattern") && m.FilenamePattern != "" {
		m.pattern = d.filenamePattern(key("filename_pattern"), m.FilenamePattern)
	}
	if set("date_layouts") {
		for i, l := range m.DateLayouts {
			if err := meta.CheckLayout(l); err != nil {
				d.errorf(fmt.Sprintf("%s[%d]", key("date_layouts"), i), "%q: %v", l, err)
			}
		}
	}
	if set("date_order") {
		if _, err := meta.ParseDateOrder(m.DateOrder); err != nil {
			d.errorf(key("date_order"), "%q is not DMY or MDY (day first or month first)", m.DateOrder)
		}
		m.DateOrder = strings.ToUpper(m.DateOrder)
	}
	if set("tags_separator") && m.TagsSeparator == "" {
		d.errorf(key("tags_separator"), "must not be empty")
	}
	if set("columns") {
		for _, h := range slices.Sorted(maps.Keys(m.Columns)) {
			k := key("columns." + h)
			f := m.Columns[h]
			if strings.TrimSpace(h) == "" {
				d.errorf(k, "empty column name")
			} else if c, ok := meta.CanonicalField(f); !ok {
				d.errorf(k, "%q is not a metadata field%s", f, suggest(f, meta.Fields))
			} else {
				m.Columns[h] = c
			}
		}
	}
	if d.has(key("filename_column")) && strings.TrimSpace(m.FilenameColumn) == "" {
		d.errorf(key("filename_column"), "must not be empty")
	}
	if set("manifest_wait") && m.ManifestWait < 0 {
		d.errorf(key("manifest_wait"), "must not be negative")
	}
}

// metadataDefaults checks the defaults at path and normalises their values
// to what is sent.
func (d *decoder) metadataDefaults(path string, defs map[string]any) {
	for _, k := range slices.Sorted(maps.Keys(defs)) {
		p := path + "." + k
		v := defs[k]
		if !slices.Contains(metadataKeys, k) {
			d.errorf(p, "unknown key%s", suggest(k, metadataKeys))
			continue
		}
		field, _ := meta.CanonicalField(k)
		list, isList := v.([]string)
		switch {
		case field == meta.Tags && !isList:
			d.errorf(p, "must be a list of strings, such as [sales, priority] (Vela ignores a plain string)")
			continue
		case field == meta.Tags && slices.Contains(list, ""):
			d.errorf(fmt.Sprintf("%s[%d]", p, slices.Index(list, "")), "empty tag")
			continue
		case isList && field != meta.Tags:
			d.errorf(p, "must be a single value, not a list")
			continue
		case v == "":
			d.errorf(p, "must not be empty")
			continue
		}
		x, err := meta.Value(field, v, "")
		if err != nil {
			d.errorf(p, "%v", err)
			continue
		}
		defs[k] = x
	}
	if _, ok := defs["email"]; ok && defs["agent"] != nil {
		d.errorf(path+".agent", "agent is another name for email: set only one")
	}
}

// filenamePattern compiles a filename_pattern: RE2, with named groups
// that are metadata fields, or date and time (joined as a date_of_call).
func (d *decoder) filenamePattern(path, p string) *regexp.Regexp {
	re, err := regexp.Compile(p)
	if err != nil {
		d.errorf(path, "is not a valid regular expression (RE2 syntax): %v", err)
		return nil
	}
	groups := map[string]bool{}
	for _, name := range re.SubexpNames()[1:] {
		if name == "" {
			continue
		}
		f, ok := meta.CanonicalField(name)
		if name == "date" || name == "time" {
			f, ok = name, true
		}
		if !ok {
			d.errorf(path, "group (?P<%s>...) is not a metadata field (use one of %s, or date and time)", name, strings.Join(meta.Fields, ", "))
			return nil
		}
		if groups[f] {
			d.errorf(path, "two groups give %s", f)
			return nil
		}
		groups[f] = true
	}
	switch {
	case groups[meta.DateOfCall] && (groups["date"] || groups["time"]):
		d.errorf(path, "has date_of_call and date/time groups: use one or the other")
		return nil
	case groups["time"] && !groups["date"]:
		d.errorf(path, "has a time group without a date group")
		return nil
	case len(groups) == 0:
		d.errorf(path, "has no named groups (such as (?P<agent_name>[^_]+)), so it gives no metadata")
		return nil
	}
	return re
}

// resolveMetadata sets every source's Meta: the top-level block with the
// source's own keys over it, and the defaults merged field by field.
func (d *decoder) resolveMetadata(c *Config) {
	for i := range c.Sources {
		s := &c.Sources[i]
		m := c.Metadata // a copy; maps and slices are shared, never modified after Load
		if own := s.Metadata; own != nil {
			prefix := fmt.Sprintf("sources[%d].metadata", i)
			set := func(k string) bool { return d.has(prefix + "." + k) }
			d.metadataBlock(prefix, own, set)
			over := reflect.ValueOf(own).Elem()
			into := reflect.ValueOf(&m).Elem()
			for j := range over.NumField() {
				f := over.Type().Field(j)
				name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				if f.IsExported() && name != "defaults" && set(name) {
					into.Field(j).Set(over.Field(j))
				}
			}
			if set("timezone") {
				m.loc = own.loc
			}
			if set("filename_pattern") {
				m.pattern = own.pattern
			}
			if len(own.Defaults) > 0 {
				defs := maps.Clone(c.Metadata.Defaults)
				if defs == nil {
					defs = map[string]any{}
				}
				if _, ok := own.Defaults["agent"]; ok {
					delete(defs, "email")
				}
				if _, ok := own.Defaults["email"]; ok {
					delete(defs, "agent")
				}
				maps.Copy(defs, own.Defaults)
				m.Defaults = defs
			}
		}
		s.meta = &m
	}
}

func (d *decoder) validateUpload(u *Upload) {
	if u.Concurrency < 1 || u.Concurrency > maxWorkers {
		d.errorf("upload.concurrency", "must be between 1 and %d", maxWorkers)
	}
	switch {
	case u.MaxFileSize <= 0:
		d.errorf("upload.max_file_size", "must be more than 0")
	case u.MaxFileSize > maxUploadSize:
		d.errorf("upload.max_file_size", "must be at most %s, the limit of an S3 presigned POST", maxUploadSize)
	}
	if u.ChatMaxBody <= 0 {
		d.errorf("upload.chat_max_body", "must be more than 0")
	}
	if u.ZipMaxTotal <= 0 {
		d.errorf("upload.zip_max_total", "must be more than 0")
	}
	if u.MinDuration < 0 {
		d.errorf("upload.min_duration", "must not be negative")
	}
	d.positive("upload.stall_timeout", u.StallTimeout)
	d.positive("upload.retry_min", u.RetryMin)
	if u.RetryMax < u.RetryMin {
		key := "upload.retry_max"
		if !d.has(key) {
			key = "upload.retry_min"
		}
		d.errorf(key, "retry_max (%s) must not be shorter than retry_min (%s)", u.RetryMax, u.RetryMin)
	}

	type span struct {
		days     []time.Weekday
		from, to time.Duration
	}
	spans := make([]*span, len(u.Schedule))
	for i, w := range u.Schedule {
		key := func(k string) string { return fmt.Sprintf("upload.schedule[%d].%s", i, k) }
		ok := true
		if len(w.Days) == 0 {
			d.errorf(key("days"), "required: list the days, such as [mon-fri] or [sat, sun]")
			ok = false
		}
		for j, day := range w.Days {
			if _, err := parseDays(day); err != nil {
				d.errorf(fmt.Sprintf("%s[%d]", key("days"), j), "%s", err)
				ok = false
			}
		}
		from, err := parseClock(w.From, "00:00")
		if err != nil || from >= 24*time.Hour {
			d.errorf(key("from"), "%q is not a time of day (use HH:MM, such as 08:00)", w.From)
			ok = false
		}
		to, err := parseClock(w.To, "24:00")
		if err != nil {
			d.errorf(key("to"), "%s", err)
			ok = false
		}
		if ok && to <= from {
			d.errorf(key("to"), "%s must be after from (%s); a window cannot pass midnight, so write two", w.To, w.From)
			ok = false
		}
		if ok {
			spans[i] = &span{w.Weekdays(), from, to}
		}
	}
	for j, b := range spans {
		for i, a := range spans[:j] {
			if a == nil || b == nil || a.from >= b.to || b.from >= a.to {
				continue
			}
			for _, day := range a.days {
				if slices.Contains(b.days, day) {
					d.errorf(fmt.Sprintf("upload.schedule[%d]", j), "overlaps upload.schedule[%d] on %s", i, weekdays[day])
					break
				}
			}
		}
	}
}

func (d *decoder) validateStatus(s *Status) {
	listen := strings.TrimSpace(s.Listen)
	if listen == "" || strings.EqualFold(listen, "off") {
		s.Listen = ""
		return
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		d.errorf("status.listen", "%q is not host:port, such as %s (or off)", listen, defaultListen)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || !isDigits(port) {
		d.errorf("status.listen", "%q has no valid port number", listen)
		return
	}
	if !isLoopback(host) {
		d.errorf("status.listen", "%q is not a loopback address: the status page has no authentication, so it listens only on localhost, 127.0.0.1 or ::1", listen)
		return
	}
	s.Listen = listen
}

func (d *decoder) validateLog(l *Log, dir string) {
	switch l.Level = strings.ToLower(l.Level); l.Level {
	case "debug", "info", "warn", "error":
	default:
		d.errorf("log.level", "%q is not debug, info, warn or error", l.Level)
	}
	switch l.Format = strings.ToLower(l.Format); l.Format {
	case "text", "json":
	default:
		d.errorf("log.format", "%q is not text or json", l.Format)
	}
	if l.File != "" {
		l.File = absPath(dir, l.File)
	}
	if l.MaxSize < 1e6 {
		d.errorf("log.max_size", "must be at least 1MB")
	}
	if l.MaxFiles < 0 {
		d.errorf("log.max_files", "must not be negative")
	}
}

func (d *decoder) positive(key string, v Duration) {
	if v <= 0 {
		d.errorf(key, "must be more than 0")
	}
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// absPath makes p absolute, relative to dir. On Windows a path with a drive
// but no root, or a root but no drive, is resolved as Windows does.
func absPath(dir, p string) string {
	if p == "" {
		return ""
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	if filepath.VolumeName(p) != "" || os.IsPathSeparator(p[0]) {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	return filepath.Join(dir, p)
}

// within reports whether path is parent or inside it.
func within(parent, path string) bool {
	rel, err := filepath.Rel(parent, path)
	return err == nil && !filepath.IsAbs(rel) && rel != ".." &&
		!strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
