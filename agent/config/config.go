// Package config loads and validates vela-agent's YAML configuration.
//
// Load reads the file, decodes it strictly (an unknown key is an error),
// fills in defaults, resolves relative paths against the file's folder and
// validates everything, returning all problems at once as Errors, each with
// the file, line and column of the offending key. Load then looks at the
// folders and files the configuration names: a source path that is a file
// is an error, while a source folder or credential file that is missing or
// unreadable is only a warning (Config.Warnings, positioned the same way),
// since the agent copes with those at run time and they can be fixed
// without a restart.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones must load on Windows, which has no zoneinfo files

	"github.com/goccy/go-yaml/token"
)

// Config is vela-agent's configuration. The yaml tags are the keys of the
// file; comments give each key's default.
type Config struct {
	API API `yaml:"api"`
	// StateDir holds the queue database. Default /var/lib/vela-agent, or
	// %ProgramData%\vela-agent on Windows; absolute after Load.
	StateDir string `yaml:"state_dir"`
	// Retention is how long done and skipped jobs stay listed. Default 720h.
	Retention Duration `yaml:"retention"`
	// Sources are the folders to upload from; there is at least one.
	Sources  []Source `yaml:"sources"`
	Metadata Metadata `yaml:"metadata"`
	Upload   Upload   `yaml:"upload"`
	Status   Status   `yaml:"status"`
	Log      Log      `yaml:"log"`

	// File is the absolute path the configuration was loaded from.
	File string `yaml:"-"`
	// Warnings are problems that do not stop the agent, such as a file
	// holding a secret that other users can read or a source folder that
	// does not exist yet, each with its key and position like an Error.
	Warnings []*Error `yaml:"-"`

	loc    *time.Location            // Metadata.Timezone, loaded
	inline []string                  // the keys of secrets written in the file itself
	pos    map[string]token.Position // setting path -> position of its key in File
}

// API configures the Vela API client.
type API struct {
	// BaseURL is the API's root. Default https://api.botlhale.tech; http
	// is allowed only for a loopback host. Load removes a trailing slash.
	BaseURL string `yaml:"base_url"`
	// OrgID is the organisation's ID. Required.
	OrgID string `yaml:"org_id"`

	// Exactly one credential is set: Token, TokenFile, RefreshToken or
	// RefreshTokenFile. Use Credentials to read it. ${NAME} in any of them
	// is replaced by the environment variable NAME at load time, and the
	// file paths are absolute after Load.
	Token            Secret `yaml:"token"`
	TokenFile        string `yaml:"token_file"`
	RefreshToken     Secret `yaml:"refresh_token"`
	RefreshTokenFile string `yaml:"refresh_token_file"` // written by `vela-agent login`; need not exist at load time

	// ValidateMetadata asks Vela to refuse bad metadata instead of
	// silently dropping it.
	ValidateMetadata bool `yaml:"validate_metadata"`
	// ChatSchema is the body chats are posted in: "chats" (default, the
	// newer {org_id, chats, metadata}) or "chat_data" (the seed's, whose
	// Paths.Chats default is /chat/upload/vela).
	ChatSchema string `yaml:"chat_schema"`
	// PresignEncoding is how the presign request is sent: "json"
	// (default) or "form".
	PresignEncoding string `yaml:"presign_encoding"`
	// Timeout bounds each API request. Default 30s.
	Timeout Duration `yaml:"timeout"`
	// AllocationRecheck is how often to ask about the organisation while
	// calls are paused because its allocation is used up. Default 15m.
	AllocationRecheck Duration `yaml:"allocation_recheck"`
	Paths             Paths    `yaml:"paths"`
}

// Paths are the API's endpoints, relative to BaseURL. The defaults follow
// the vendor's newer reference.
type Paths struct {
	Presign      string `yaml:"presign"`      // default /asr/async/upload/vela
	Chats        string `yaml:"chats"`        // default /chats/upload/vela
	Organisation string `yaml:"organisation"` // default /organisations/vela/{OrgID}
	Login        string `yaml:"login"`        // default /auth/login
	Generate     string `yaml:"generate"`     // default /auth/generate
}

// Source is a folder watched for recordings.
type Source struct {
	// Name identifies the source in the queue and in logs: unique,
	// letters, digits, '.', '_' and '-'. Required.
	Name string `yaml:"name"`
	// Type is "local" (default) or "ftp".
	Type string `yaml:"type"`
	// Kind is what the source holds: "calls" (default: recordings, bulk
	// ZIPs, manifests) or "chats" (chat transcripts, every included file).
	Kind string `yaml:"kind"`
	// Path is the folder of a local source; absolute after Load. Required
	// for local sources, not allowed for FTP ones (their folder is in URL).
	// It need not exist at load time.
	Path string `yaml:"path"`
	// Recursive says whether to watch subfolders too. Use Recurse.
	Recursive *bool `yaml:"recursive"`
	// Include lists patterns of files to upload: path.Match syntax on
	// every OS, without backslashes (see watcher.CheckPattern), matched
	// case-insensitively against the file name, or against the path
	// relative to Path when the pattern holds "/". Default *.wav, *.mp3,
	// *.m4a, *.flac and *.zip for calls, *.json and *.csv for chats.
	Include []string `yaml:"include"`
	// Exclude lists patterns, as Include, of files and folders to leave
	// alone.
	Exclude []string `yaml:"exclude"`
	// Settle is how long a file must stay unchanged before it is queued.
	// Default 10s.
	Settle Duration `yaml:"settle"`
	// RescanInterval is how often the whole folder is scanned, events or
	// not. Default watcher.DefaultRescanInterval (5m); never shorter than
	// Settle.
	RescanInterval Duration `yaml:"rescan_interval"`
	// Poll turns file system events off and relies on rescans alone, for
	// network shares that deliver no events.
	Poll bool `yaml:"poll"`
	// IgnoreOlder, if set, records files modified longer ago than this
	// when they are found as known, without uploading them: installing on
	// an archive of years of calls does not upload (and pay for) them all.
	IgnoreOlder Duration `yaml:"ignore_older"`
	// AfterUpload is "keep" (default), "delete" or "move:DIR". After Load
	// DIR is absolute and outside every source's path; see MoveDir. For an
	// FTP source DIR is a folder on the server, absolute or relative to the
	// URL's folder, and the action is taken there.
	AfterUpload string `yaml:"after_upload"`
	// Metadata, if set, overrides the top-level metadata block for this
	// source's files, key by key; Load merges the two into Meta.
	Metadata *Metadata `yaml:"metadata"`

	FTP `yaml:",inline"`

	meta *Metadata // the block in force, set by Load
}

// FTP holds the keys of an FTP or FTPS source (type: ftp).
type FTP struct {
	// URL is ftp://USER@HOST[:PORT]/DIR, or ftps://... for implicit TLS
	// (port 990 by default). It holds no password. Required.
	URL string `yaml:"url"`
	// TLS "explicit" on an ftp:// URL asks for AUTH TLS; "" is plain FTP.
	TLS string `yaml:"tls"`
	// Password, or PasswordFile: the account's password. One is required.
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// CAFile is a PEM file of certificates to trust for the server,
	// instead of the system's; ServerName the name to verify it as.
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	// TLSInsecureSkipVerify turns certificate checks off. Only when
	// written out; a warning is logged on every start.
	TLSInsecureSkipVerify bool `yaml:"tls_insecure_skip_verify"`
	// PollInterval is how often the server is listed. Default 1m.
	PollInterval Duration `yaml:"poll_interval"`
	// Timeout is the deadline of every FTP operation. Default 60s.
	Timeout Duration `yaml:"timeout"`
	// List is "auto" (MLSD when the server offers it), "mlsd" or "list".
	List string `yaml:"list"`
	// ServerTimezone is the zone of the times a server reports in LIST and
	// MDTM when it uses local time. Default UTC.
	ServerTimezone string `yaml:"server_timezone"`
	// MaxConnections is how many connections the source opens at most:
	// one lists, the others download. Default 2.
	MaxConnections int `yaml:"max_connections"`

	host, user, dir string
	loc             *time.Location
}

// Chats reports whether s is a source of chat transcripts.
func (s Source) Chats() bool { return s.Kind == "chats" }

// IsFTP reports whether s is an FTP source.
func (s Source) IsFTP() bool { return s.Type == "ftp" }

// FTPAddr returns the FTP source's host:port, user and folder, from URL.
func (s Source) FTPAddr() (hostport, user, dir string) { return s.host, s.user, s.dir }

// ImplicitTLS reports whether the URL is ftps://.
func (s Source) ImplicitTLS() bool { return strings.HasPrefix(strings.ToLower(s.URL), "ftps://") }

// UsesTLS reports whether the FTP source talks TLS, explicit or implicit.
func (s Source) UsesTLS() bool { return s.ImplicitTLS() || s.TLS == "explicit" }

// ServerLocation is the zone of ServerTimezone (UTC when empty).
func (s Source) ServerLocation() *time.Location {
	if s.loc == nil {
		return time.UTC
	}
	return s.loc
}

// FTPPassword returns the FTP source's password, reading PasswordFile at
// every call, so that a changed password is picked up without a restart.
func (s Source) FTPPassword() (string, error) {
	if s.Password != "" {
		return s.Password.Reveal(), nil
	}
	p, err := readSecretFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("read the password of source %s: %w", s.Name, err)
	}
	return p, nil
}

// Recurse reports whether subfolders are watched (the default).
func (s Source) Recurse() bool { return s.Recursive == nil || *s.Recursive }

// MoveDir returns the folder uploaded files are moved to, or "" when
// AfterUpload is not "move:DIR".
func (s Source) MoveDir() string {
	dir, _ := strings.CutPrefix(s.AfterUpload, "move:")
	if dir == s.AfterUpload {
		return ""
	}
	return dir
}

// Metadata configures the call metadata sent to Vela: where it is read
// from and how. The top-level block applies to every source; a source's
// own metadata block overrides it key by key (see Source.Metadata), except
// Defaults, which merge field by field. Use Source.Meta for the block in
// force for a source.
type Metadata struct {
	// Timezone is the IANA name of the zone of the sources' clocks: dates
	// without an offset are read in it. Default Africa/Johannesburg. See
	// Config.Location and Meta.Location.
	Timezone string `yaml:"timezone"`
	// Defaults is metadata sent for calls whose source gives none. Keys:
	// email, agent (an alias of email), agent_name, team, department,
	// direction (inbound or outbound), tags, contact, notifyEmail and
	// interaction_id. Values are strings as written (contact "0821234567"
	// keeps its 0), except tags, which is a []string.
	Defaults map[string]any `yaml:"defaults"`
	// FilenamePattern is an RE2 regular expression with named groups for
	// fields (and date and time, joined), matched against the file name,
	// or against the path relative to the source when it holds "/".
	FilenamePattern string `yaml:"filename_pattern"`
	// DateLayouts are Go time layouts tried, in order, before the common
	// date forms.
	DateLayouts []string `yaml:"date_layouts"`
	// DateOrder says how 03/04/2025 is read: DMY or MDY. Unset, such
	// dates are not read at all.
	DateOrder string `yaml:"date_order"`
	// TagsSeparator splits a tags value of a CSV or TSV cell or a file
	// name. Default ";".
	TagsSeparator string `yaml:"tags_separator"`
	// Columns maps manifest headers that are not field names to fields,
	// such as {Agent: agent_name, "Call Start": date_of_call}.
	Columns map[string]string `yaml:"columns"`
	// FilenameColumn is the manifest column naming each recording.
	// Default: filename (or File Name, file_name, file).
	FilenameColumn string `yaml:"filename_column"`
	// ManifestWait is how long a recording waits for a manifest row naming
	// it before it goes with what is known. Default 0: it never waits.
	ManifestWait Duration `yaml:"manifest_wait"`
	// Strict parks a call with an invalid field instead of sending it
	// without that field.
	Strict bool `yaml:"strict"`
	// StrictDates parks a call whose date cannot be read instead of dating
	// it by the file's modification time.
	StrictDates bool `yaml:"strict_dates"`

	loc     *time.Location // Timezone, loaded
	pattern *regexp.Regexp // FilenamePattern, compiled
}

// Location returns the zone of Timezone; Africa/Johannesburg before Load.
func (m *Metadata) Location() *time.Location {
	if m.loc == nil {
		return mustZone(defaultTimezone)
	}
	return m.loc
}

// mustZone loads a zone that time/tzdata holds.
func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic("config: load zone " + name + ": " + err.Error()) // time/tzdata is linked in
	}
	return loc
}

// Pattern returns FilenamePattern compiled, or nil when it is not set.
func (m *Metadata) Pattern() *regexp.Regexp { return m.pattern }

// Meta returns the metadata block in force for the source: the top-level
// block with the source's own keys over it. Load sets it for every source.
func (s Source) Meta() *Metadata {
	if s.meta == nil {
		return &Metadata{Timezone: defaultTimezone, TagsSeparator: ";"}
	}
	return s.meta
}

// Upload configures uploading to S3.
type Upload struct {
	// Concurrency is how many files upload at once: 1 to 64, default 4.
	Concurrency int `yaml:"concurrency"`
	// BandwidthLimit caps bytes per second across all uploads; 0 (the
	// default) is no limit. Schedule overrides it.
	BandwidthLimit ByteSize `yaml:"bandwidth_limit"`
	// Schedule lists weekly windows, in Metadata.Timezone, with their own
	// limits. Windows do not overlap.
	Schedule []Window `yaml:"schedule"`
	// MaxFileSize is the largest file uploaded; bigger ones are skipped.
	// Default 1GB, at most 5GB (the limit of an S3 presigned POST).
	MaxFileSize ByteSize `yaml:"max_file_size"`
	// ChatMaxBody is the largest chat body posted; a chat that makes a
	// bigger one is parked, never cut. Default 6MB (the request limit of
	// the API's functions).
	ChatMaxBody ByteSize `yaml:"chat_max_body"`
	// ZipMaxTotal is the largest uncompressed total of a bulk ZIP; a ZIP
	// declaring more is refused as a bomb. Default 10GB.
	ZipMaxTotal ByteSize `yaml:"zip_max_total"`
	// MinDuration skips calls shorter than this, read from the audio
	// itself: hold music and dropped calls cost allocation and give
	// nothing. Default 0: none is skipped.
	MinDuration Duration `yaml:"min_duration"`
	// StallTimeout aborts an upload that sends nothing for this long.
	// Default 2m.
	StallTimeout Duration `yaml:"stall_timeout"`
	// RetryMin is the first wait after a failure. Default 5s.
	RetryMin Duration `yaml:"retry_min"`
	// RetryMax caps the wait between retries. Default 10m.
	RetryMax Duration `yaml:"retry_max"`
}

// Status configures the local status page.
type Status struct {
	// Listen is the loopback address of the status page. Default
	// 127.0.0.1:7844; "" or "off" turns it off, and Load stores "off" as "".
	Listen string `yaml:"listen"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info (default), warn or error
	Format string `yaml:"format"` // text (default) or json
	// File, if set, is where the log goes instead of stderr, rotated when
	// it reaches MaxSize, keeping MaxFiles old files (compressed). Under
	// systemd leave it unset: the journal keeps stderr.
	File     string   `yaml:"file"`
	MaxSize  ByteSize `yaml:"max_size"`  // default 50MB
	MaxFiles int      `yaml:"max_files"` // default 5
}

// SlogLevel returns Level as a slog.Level; info when it is not valid.
func (l Log) SlogLevel() slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return lv
}

// ExampleOrgID is the placeholder org_id of the example configuration.
const ExampleOrgID = "REPLACE-WITH-YOUR-ORG-ID"

// Source returns the source of that name.
func (c *Config) Source(name string) (Source, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return Source{}, false
}

// Location returns the time zone of Metadata.Timezone, Africa/Johannesburg
// when it is empty, or UTC when it does not load (which Load prevents).
func (c *Config) Location() *time.Location {
	if c.loc != nil {
		return c.loc
	}
	name := c.Metadata.Timezone
	if name == "" {
		name = defaultTimezone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Load reads the configuration file at path; see Parse. Its error is Errors
// when the file has problems, including a source path that is a file, and
// a wrapped *fs.PathError when it cannot be read. Warnings include secrets
// that other users can read, credential files that do not exist yet or
// cannot be read, and source folders that do not exist or cannot be read.
func Load(path string) (*Config, error) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	c, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if errs := c.checkFiles(); len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// Parse is Load from bytes: it decodes data strictly, fills in defaults,
// makes paths absolute relative to path's folder and validates. path is also
// used in messages; "" resolves paths against the working directory. The
// error is Errors, all problems sorted by line.
func Parse(path string, data []byte) (*Config, error) {
	file, dir := "", "."
	if path != "" {
		file = path
		if abs, err := filepath.Abs(path); err == nil {
			file = abs
		}
		dir = filepath.Dir(file)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	d := newDecoder(file)
	root := d.document(data)
	if root == nil {
		return nil, d.errs
	}
	c := defaults()
	c.File = file
	d.decode("", root, reflect.ValueOf(c).Elem())
	d.validate(c, dir)
	c.pos = d.pos
	if len(d.errs) > 0 {
		slices.SortStableFunc(d.errs, func(a, b *Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Column - b.Column
		})
		return nil, d.errs
	}
	return c, nil
}

// checkFiles looks at the files and folders c names, which Parse does not
// touch. It appends the warnings to c.Warnings and returns the errors.
func (c *Config) checkFiles() Errors {
	var errs Errors
	problem := func(key, format string, args ...any) *Error {
		pos := c.pos[key]
		return &Error{File: c.File, Line: pos.Line, Column: pos.Column, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	warn := func(key, format string, args ...any) {
		c.Warnings = append(c.Warnings, problem(key, format, args...))
	}

	// A credential file: missing is what the missing text says, if any.
	secretFile := func(key, path, holds, missing string) {
		info, err := os.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist) && missing != "":
			warn(key, "%s", missing)
			return
		case err != nil:
			warn(key, "cannot read %s: %s", path, cause(err))
			return
		case info.IsDir():
			warn(key, "%s is a folder, not a file holding %s", path, holds)
			return
		case runtime.GOOS != "windows" && info.Mode().Perm()&0o044 != 0:
			warn(key, "%s holds %s but other users can read it (mode %04o): run chmod 600 %s",
				path, holds, info.Mode().Perm(), path)
		}
		f, err := os.Open(path)
		if err != nil {
			warn(key, "cannot read %s: %s", path, cause(err))
			return
		}
		f.Close()
	}
	if c.API.OrgID == ExampleOrgID {
		warn("api.org_id", "is still the example's placeholder: set it to your organisation's ID, or Vela answers \"Organisation not found\" and nothing is uploaded")
	}
	for _, key := range c.inline {
		secretFile(key, c.File, key, "")
	}
	if p := c.API.TokenFile; p != "" {
		secretFile("api.token_file", p, "the API token", p+" does not exist")
	}
	if p := c.API.RefreshTokenFile; p != "" {
		secretFile("api.refresh_token_file", p, "the API refresh token", p+" does not exist yet: run `vela-agent login`")
	}

	for i, s := range c.Sources {
		if s.IsFTP() && s.PasswordFile != "" {
			secretFile(fmt.Sprintf("sources[%d].password_file", i), s.PasswordFile, "the FTP password", s.PasswordFile+" does not exist")
		}
		if s.IsFTP() && s.CAFile != "" {
			if _, err := os.ReadFile(s.CAFile); err != nil {
				errs = append(errs, problem(fmt.Sprintf("sources[%d].ca_file", i), "cannot read %s: %s", s.CAFile, cause(err)))
			}
		}
	}
	for i, s := range c.Sources {
		if s.Type != "local" || s.Path == "" {
			continue
		}
		key := fmt.Sprintf("sources[%d].path", i)
		info, err := os.Stat(s.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			warn(key, "%s does not exist (yet): the agent waits for it and watches it once it appears", s.Path)
			continue
		case err != nil:
			warn(key, "cannot read %s: %s; the agent retries until it can", s.Path, cause(err))
			continue
		case !info.IsDir():
			errs = append(errs, problem(key, "%s is a file, not a folder", s.Path))
			continue
		}
		f, err := os.Open(s.Path)
		if err == nil {
			_, err = f.Readdirnames(1)
			f.Close()
		}
		if err != nil && !errors.Is(err, io.EOF) {
			warn(key, "cannot read %s: %s; the agent retries until it can", s.Path, cause(err))
		}
	}
	return errs
}

// cause is the reason in err without the path it names, as in "permission
// denied".
func cause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
