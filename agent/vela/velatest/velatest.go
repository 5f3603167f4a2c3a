// Package velatest runs a local Vela API and an S3-compatible store that
// verifies presigned POST policies, with fault injection, for tests,
// benchmarks and demos.
//
// The API side speaks the endpoints the agent uses (sign in, access tokens,
// call presign, organisation, chats) with real SigV4 presigned POST policies
// made by aws-sdk-go-v2. The S3 side is gofakes3 behind a layer that checks
// every browser-based POST upload the way S3 does (signature, expiry,
// conditions, extra fields, content-length-range, the file as the last part)
// and streams the file to the store without holding it in memory.
//
// A test starts a server, points the code under test at URL with
// RefreshToken, injects faults and checks what arrived:
//
//	srv, err := velatest.Start(velatest.Options{})
//	if err != nil { ... }
//	defer srv.Close()
//	srv.Inject(velatest.Fault{Op: velatest.OpUpload, Status: 503, Times: 2})
//	... run the agent against srv.URL() ...
//	for _, o := range srv.Objects() { ... o.Key, o.SHA256, o.Uploads ... }
package velatest

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// The built-in store's fixed test credentials. They look like the temporary
// STS credentials the real service hands out, session token included.
const (
	builtinBucket       = "vela-recordings"
	builtinRegion       = "af-south-1"
	builtinAccessKey    = "ASIAVELATEST00000000"
	builtinSecretKey    = "velatest/secret/key/not/for/production/use"
	builtinSessionToken = "velatest-session-token"
)

// maxRefreshTokens is how many refresh tokens one account may hold; a new
// sign-in evicts the oldest beyond it.
const maxRefreshTokens = 3

// Options configures a Server. The zero value is a usable in-memory server.
type Options struct {
	OrgID           string        // default "org-test"
	Email, Password string        // the one account; default "admin@example.com" / "secret"
	TokenTTL        time.Duration // access token lifetime; default 15m
	PresignTTL      time.Duration // presigned POST policy lifetime; default 1h
	MaxFileSize     int64         // content-length-range upper bound in every policy; default 1 GiB
	Allocation      float64       // monthly minutes; default 1e6. Each presign uses MinutesPerCall
	MinutesPerCall  float64       // default 1
	// ChatAllocation is how many chats the organisation may upload this
	// month; 0 is no limit. Past it, chat uploads get 400 "Monthly chats
	// allocation exceeded".
	ChatAllocation int
	Dir            string       // "" keeps objects in memory; else objects persist on disk under Dir (demo)
	Listen         string       // API listen address; default "127.0.0.1:0"
	S3Listen       string       // S3 listen address; default "127.0.0.1:0"
	External       *ExternalS3  // presign for an external S3 server (e.g. versitygw) instead of the built-in one
	Logger         *slog.Logger // nil = discard

	// Now is the server's clock for token lifetimes and policy expiry
	// checks; nil means time.Now. Policies themselves are signed by the
	// SDK with the real time.
	Now func() time.Time
}

// ExternalS3 names an S3 server, bucket and plain key pair (no session
// token) to presign for. Requests are path-style; Region defaults to
// us-east-1.
//
// With Options.External, uploads go straight to that server and never pass
// through this package: OpUpload faults, hooks and counts see nothing, and
// Objects is empty.
type ExternalS3 struct{ Endpoint, Region, AccessKey, SecretKey, Bucket string }

// Object is an object stored through a verified presigned POST.
type Object struct {
	Key     string
	Size    int64
	SHA256  string // hex
	Uploads int    // successful POSTs that stored this key
}

// PresignRecord is one successful call presign.
type PresignRecord struct {
	FileName string // as the client sent it
	Key      string
	Metadata map[string]any
	Time     time.Time
}

// ChatRecord is one accepted chat upload.
type ChatRecord struct {
	Path string          // the endpoint, /chats/upload/vela or /chat/upload/vela
	ID   string          // the id the reply named
	Body json.RawMessage // the request body as sent
	Time time.Time
}

// Server is a running Vela API and, unless Options.External is set, an S3
// store. Its methods are safe for concurrent use.
type Server struct {
	// Set by Start, then only read.
	o         Options // with defaults applied
	log       *slog.Logger
	now       func() time.Time
	target    ExternalS3 // where presigned POSTs go
	presigner *s3.PresignClient

	// The built-in store; all nil or empty with Options.External.
	backend  gofakes3.Backend
	verifier *postVerifier
	spoolDir string // temporary files of POST uploads in flight

	apiURL, s3URL string
	servers       []*http.Server
	serving       sync.WaitGroup // Serve goroutines
	handlers      sync.WaitGroup // requests in flight; Add only under mu while !closed
	cancel        context.CancelFunc

	mu           sync.Mutex // guards every field below
	closed       bool
	startRefresh string
	refresh      []string             // the account's refresh tokens, oldest first, at most maxRefreshTokens
	access       map[string]time.Time // access token -> expiry
	allocation   float64
	chatsLeft    int // -1: no limit
	used         float64
	faults       map[Op][]*pendingFault
	counts       map[Op]int
	hooks        map[Op]func(*http.Request)
	objects      map[string]*Object
	presigns     []PresignRecord
	chats        []ChatRecord
}

// Start starts the servers described by o. Close stops them.
func Start(o Options) (*Server, error) {
	o = withDefaults(o)
	s := &Server{
		o:          o,
		log:        o.Logger,
		now:        o.Now,
		access:     make(map[string]time.Time),
		allocation: o.Allocation,
		chatsLeft:  cmp.Or(o.ChatAllocation, -1),
		faults:     make(map[Op][]*pendingFault),
		counts:     make(map[Op]int),
		hooks:      make(map[Op]func(*http.Request)),
		objects:    make(map[string]*Object),
	}
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	s.mu.Lock()
	s.startRefresh = s.issueRefreshLocked()
	s.mu.Unlock()
	s.log.Info("velatest started", "api", s.apiURL, "s3", s.s3URL, "bucket", s.target.Bucket, "org_id", o.OrgID)
	return s, nil
}

func withDefaults(o Options) Options {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&o.OrgID, "org-test")
	def(&o.Email, "admin@example.com")
	def(&o.Password, "secret")
	def(&o.Listen, "127.0.0.1:0")
	def(&o.S3Listen, "127.0.0.1:0")
	if o.TokenTTL <= 0 {
		o.TokenTTL = 15 * time.Minute
	}
	if o.PresignTTL <= 0 {
		o.PresignTTL = time.Hour
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 1 << 30
	}
	if o.Allocation <= 0 {
		o.Allocation = 1e6
	}
	if o.MinutesPerCall <= 0 {
		o.MinutesPerCall = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (s *Server) start() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel

	if ext := s.o.External; ext != nil {
		s.target = *ext
		if s.target.Region == "" {
			s.target.Region = "us-east-1"
		}
		if s.target.Endpoint == "" || s.target.Bucket == "" || s.target.AccessKey == "" || s.target.SecretKey == "" {
			return errors.New("velatest: External needs Endpoint, Bucket, AccessKey and SecretKey")
		}
		s.s3URL = strings.TrimSuffix(s.target.Endpoint, "/")
		s.presigner = newPresigner(s.target, "")
	} else {
		if err := s.openStore(); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", s.o.S3Listen)
		if err != nil {
			return fmt.Errorf("velatest: listen for S3 on %s: %w", s.o.S3Listen, err)
		}
		s.s3URL = "http://" + ln.Addr().String()
		s.target = ExternalS3{
			Endpoint:  s.s3URL,
			Region:    builtinRegion,
			AccessKey: builtinAccessKey,
			SecretKey: builtinSecretKey,
			Bucket:    builtinBucket,
		}
		s.presigner = newPresigner(s.target, builtinSessionToken)
		s.verifier = &postVerifier{
			cred: credential{
				accessKey:    builtinAccessKey,
				secretKey:    builtinSecretKey,
				sessionToken: builtinSessionToken,
				region:       builtinRegion,
			},
			bucket: builtinBucket,
			now:    s.now,
		}
		s.serve(ctx, ln, s.logRequests("s3", s.s3Handler()))
	}

	ln, err := net.Listen("tcp", s.o.Listen)
	if err != nil {
		return fmt.Errorf("velatest: listen for the API on %s: %w", s.o.Listen, err)
	}
	s.apiURL = "http://" + ln.Addr().String()
	s.serve(ctx, ln, s.logRequests("api", s.apiHandler()))
	return nil
}

// openStore opens the gofakes3 backend and creates the bucket. On disk it
// is s3afero, which streams objects to files; s3bolt would hold each whole
// object in memory on every read and write. In memory it is s3mem.
func (s *Server) openStore() error {
	spool, err := os.MkdirTemp("", "velatest-spool-")
	if err != nil {
		return fmt.Errorf("velatest: create spool directory: %w", err)
	}
	s.spoolDir = spool
	if s.o.Dir == "" {
		s.backend = s3mem.New()
	} else {
		fs, err := s3afero.FsPath(s.o.Dir, s3afero.FsPathCreateAll)
		if err != nil {
			return fmt.Errorf("velatest: object directory %s: %w", s.o.Dir, err)
		}
		if s.backend, err = s3afero.MultiBucket(fs); err != nil {
			return fmt.Errorf("velatest: object store in %s: %w", s.o.Dir, err)
		}
	}
	exists, err := s.backend.BucketExists(builtinBucket)
	if err == nil && !exists {
		err = s.backend.CreateBucket(builtinBucket)
	}
	if err != nil {
		return fmt.Errorf("velatest: create bucket %s: %w", builtinBucket, err)
	}
	return nil
}

// serve runs an HTTP/1.1 server on ln until Close. Request contexts derive
// from ctx, so Close also cancels injected delays.
func (s *Server) serve(ctx context.Context, ln net.Listener, h http.Handler) {
	srv := &http.Server{
		Handler:           s.track(h),
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.servers = append(s.servers, srv)
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("velatest: serve", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// track counts requests in flight so that Close can wait for them, and
// refuses requests that arrive while closing.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			w.Header().Set("Connection", "close")
			http.Error(w, "server closed", http.StatusServiceUnavailable)
			return
		}
		s.handlers.Add(1)
		s.mu.Unlock()
		defer s.handlers.Done()
		h.ServeHTTP(w, r)
	})
}

// Close stops both servers at once: connections are closed, injected delays
// cancelled, and Close returns after every request handler has returned.
func (s *Server) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	if s.cancel != nil {
		s.cancel()
	}
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.serving.Wait()
	s.handlers.Wait()
	if s.spoolDir != "" {
		errs = append(errs, os.RemoveAll(s.spoolDir))
	}
	return errors.Join(errs...)
}

// URL returns the API base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.apiURL }

// S3URL returns the base URL of the S3 server presigned POSTs go to: the
// built-in store, or Options.External's endpoint.
func (s *Server) S3URL() string { return s.s3URL }

// S3Config returns the S3 server, region, bucket and key pair the server
// presigns for, so that tests can read objects with an S3 client. The
// built-in store does not check request signatures except on POST uploads.
func (s *Server) S3Config() ExternalS3 { return s.target }

// RefreshToken returns a refresh token issued at Start, so tests need not
// sign in. It counts as one of the account's refresh tokens.
func (s *Server) RefreshToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startRefresh
}

// SetChatAllocation sets how many more chats may be uploaded; 0 refuses
// every chat, a negative number lifts the limit.
func (s *Server) SetChatAllocation(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.chatsLeft = n
}

// SetAllocation sets the monthly allocation in minutes; raising it restores
// presigns after the allocation was used up.
func (s *Server) SetAllocation(minutes float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allocation = minutes
}

// SetUsed sets the minutes used this month.
func (s *Server) SetUsed(minutes float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = minutes
}

// RevokeRefreshTokens makes /auth/generate refuse every refresh token issued
// so far with 401. Access tokens already issued stay valid until they expire.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh = nil
}

// ExpireAccessTokens makes every access token issued so far answer 401.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// Objects returns the objects stored through verified POST uploads since
// Start, sorted by key. It is empty with Options.External.
func (s *Server) Objects() []Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Object, 0, len(s.objects))
	for _, o := range s.objects {
		out = append(out, *o)
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Presigns returns every successful call presign, oldest first.
func (s *Server) Presigns() []PresignRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.presigns)
}

// Chats returns every accepted chat upload, oldest first.
func (s *Server) Chats() []ChatRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.chats)
}

// Count returns how many requests of op arrived, faulted ones included.
func (s *Server) Count(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[op]
}

// SetHook makes fn observe every request of op as it arrives, before faults
// and authentication; nil removes it. fn runs on the request's goroutine and
// must not keep r. API requests carry their body, already read into memory;
// for OpUpload the body has not been read and fn must not read it.
func (s *Server) SetHook(op Op, fn func(r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn == nil {
		delete(s.hooks, op)
		return
	}
	s.hooks[op] = fn
}

// observe counts a request of op and runs its hook.
func (s *Server) observe(op Op, r *http.Request) {
	s.mu.Lock()
	s.counts[op]++
	hook := s.hooks[op]
	s.mu.Unlock()
	if hook != nil {
		hook(r)
	}
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
