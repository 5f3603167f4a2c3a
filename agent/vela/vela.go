// Package vela is a client for the Vela API: sign-in, token refresh, call
// presigns and the organisation's allocation.
//
// Every failed call returns an error that wraps an *Error, which says what
// the caller should do next (its Action): retry later, park the job, pause
// call uploads, or pause everything until an administrator fixes the
// configuration. No error, and no log line, ever contains an access token, a
// refresh token, a password or a request body.
package vela

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Config configures a Client. Only BaseURL, OrgID and Credential are
// required; every other zero field takes a default.
type Config struct {
	// BaseURL is the API's address, e.g. https://api.botlhale.tech. Plain
	// http is only allowed for loopback hosts (a local emulator).
	BaseURL string
	// OrgID is the organisation every call is made for.
	OrgID string
	// Paths are the API's endpoints below BaseURL; zero fields take the
	// value of DefaultPaths.
	Paths Paths
	// Encoding is how the presign request body is encoded: "json" (the
	// default) or "form" (application/x-www-form-urlencoded, as the seed
	// document shows it).
	Encoding string
	// ValidateMetadata adds "validate_metadata": true to the presign
	// metadata, so that Vela refuses bad metadata instead of dropping it.
	ValidateMetadata bool
	// Credential yields the secret the access token comes from.
	Credential Credential
	// HTTPClient makes the requests. Nil means a client that verifies TLS,
	// honours the proxy environment variables and follows no redirects.
	HTTPClient *http.Client
	// Timeout bounds each request, including reading its reply, even when
	// the caller's context has no deadline. Zero means 30s.
	Timeout time.Duration
	// UserAgent is sent with every request; zero means "vela-agent".
	UserAgent string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives debug lines and warnings; it is never given a secret.
	// Nil discards them.
	Logger *slog.Logger
}

// Paths are the API's endpoints, each starting with "/".
type Paths struct {
	Presign      string // call presign, POST
	Chats        string // chat upload, POST
	Organisation string // the organisation's entitlement, GET; "{OrgID}" is replaced by the path-escaped OrgID
	Login        string // sign-in with e-mail and password, POST
	Generate     string // an access token for a refresh token, POST
}

// DefaultPaths are the endpoints of the vendor's newer reference.
var DefaultPaths = Paths{
	Presign:      "/asr/async/upload/vela",
	Chats:        "/chats/upload/vela",
	Organisation: "/organisations/vela/{OrgID}",
	Login:        "/auth/login",
	Generate:     "/auth/generate",
}

// Credential yields the secret each time it is needed (files may be
// rotated): either a static access token or a refresh token. It is called
// for every request with an access token, and only when a new access token
// is needed with a refresh token. It may be called concurrently.
type Credential func() (kind CredentialKind, secret string, err error)

// CredentialKind says what a Credential's secret is.
type CredentialKind int

const (
	// AccessToken is a bearer token used as it is, never refreshed.
	AccessToken CredentialKind = iota + 1
	// RefreshToken is exchanged at Paths.Generate for short-lived access
	// tokens.
	RefreshToken
)

// String returns "access token" or "refresh token".
func (k CredentialKind) String() string {
	switch k {
	case AccessToken:
		return "access token"
	case RefreshToken:
		return "refresh token"
	}
	return fmt.Sprintf("CredentialKind(%d)", int(k))
}

const (
	defaultTimeout   = 30 * time.Second
	defaultUserAgent = "vela-agent"
)

// Client calls the Vela API for one organisation. It is safe for concurrent
// use; concurrent callers share the cached access token and one refresh.
type Client struct {
	transport
	cfg Config // normalised by New, never changed afterwards

	// flight makes concurrent callers that need a new access token share
	// one request to Paths.Generate. Its function runs in a goroutine of
	// its own that ends within cfg.Timeout, whatever the callers do.
	flight singleflight.Group

	mu     sync.Mutex  // guards cached and from
	cached accessToken // the access token in use; zero when there is none
	from   string      // the refresh token cached was obtained with
}

// New returns a client for cfg. It fails if cfg is incomplete or names an
// insecure base URL; it makes no request.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.normalise()
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.OrgID) == "" {
		return nil, errors.New("vela client: no organisation ID configured")
	}
	if cfg.Credential == nil {
		return nil, errors.New("vela client: no credential configured (an access token or a refresh token)")
	}
	return &Client{transport: newTransport(cfg), cfg: cfg}, nil
}

// normalise checks cfg and fills in the defaults that Login and New share.
func (cfg Config) normalise() (Config, error) {
	base, err := checkBaseURL(cfg.BaseURL)
	if err != nil {
		return cfg, fmt.Errorf("vela client: %w", err)
	}
	cfg.BaseURL = base

	switch strings.ToLower(cfg.Encoding) {
	case "", "json":
		cfg.Encoding = "json"
	case "form":
		cfg.Encoding = "form"
	default:
		return cfg, fmt.Errorf("vela client: presign encoding %q: want json or form", cfg.Encoding)
	}

	for _, p := range []struct {
		name string
		val  *string
		def  string
	}{
		{"presign", &cfg.Paths.Presign, DefaultPaths.Presign},
		{"chats", &cfg.Paths.Chats, DefaultPaths.Chats},
		{"organisation", &cfg.Paths.Organisation, DefaultPaths.Organisation},
		{"login", &cfg.Paths.Login, DefaultPaths.Login},
		{"generate", &cfg.Paths.Generate, DefaultPaths.Generate},
	} {
		if *p.val == "" {
			*p.val = p.def
		}
		if !strings.HasPrefix(*p.val, "/") {
			return cfg, fmt.Errorf("vela client: %s path %q must start with /", p.name, *p.val)
		}
	}

	switch {
	case cfg.Timeout < 0:
		return cfg, fmt.Errorf("vela client: negative timeout %v", cfg.Timeout)
	case cfg.Timeout == 0:
		cfg.Timeout = defaultTimeout
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = defaultUserAgent
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultHTTPClient()
	}
	return cfg, nil
}

// checkBaseURL returns raw without a trailing slash if it is an absolute
// https URL, or an http URL of a loopback host. Errors show the URL with any
// password redacted.
func checkBaseURL(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errors.New("no API base URL configured")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes its input; say less rather than echo a secret.
		return "", errors.New("API base URL is not a valid URL")
	}
	switch {
	case u.User != nil:
		return "", fmt.Errorf("API base URL %s: must not contain a user name or password", u.Redacted())
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("API base URL %s: want an absolute URL such as https://api.botlhale.tech", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("API base URL %s: must not have a query or fragment", u.Redacted())
	}
	if err := checkScheme(u); err != nil {
		return "", fmt.Errorf("API base URL %s: %w", u.Redacted(), err)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// checkScheme allows https, and http for loopback hosts only: anything else
// would send tokens or recordings in the clear.
func checkScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("plain http is only allowed for loopback hosts; use https")
	}
	return fmt.Errorf("unsupported scheme %q; use https", u.Scheme)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// defaultHTTPClient verifies TLS (the system's roots), honours the proxy
// environment variables and follows no redirect: a redirect would re-send
// the bearer token, possibly downgraded to http, and turn a POST into a GET.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment,
			DialContext: (&net.Dialer{
				Timeout:   30 * time.Second,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          16,
			MaxIdleConnsPerHost:   16, // one per worker; the default 2 reconnects all the time
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
