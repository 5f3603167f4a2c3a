package agent

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/agent/upload"
	"github.com/vela-agent/vela-agent/agent/vela"
	"github.com/vela-agent/vela-agent/store"
)

// StateFile is the queue's file in the configured state directory.
func StateFile(cfg *config.Config) string {
	return filepath.Join(cfg.StateDir, "queue.db")
}

// VelaConfig is the API client configuration the agent uses.
func VelaConfig(cfg *config.Config, log *slog.Logger) vela.Config {
	api := cfg.API
	return vela.Config{
		BaseURL:          api.BaseURL,
		OrgID:            api.OrgID,
		Encoding:         api.PresignEncoding,
		ValidateMetadata: api.ValidateMetadata,
		Timeout:          api.Timeout.D(),
		UserAgent:        "vela-agent/" + Version,
		Logger:           log,
		Paths: vela.Paths{
			Presign:      api.Paths.Presign,
			Chats:        api.Paths.Chats,
			Organisation: api.Paths.Organisation,
			Login:        api.Paths.Login,
			Generate:     api.Paths.Generate,
		},
		Credential: func() (vela.CredentialKind, string, error) {
			kind, secret, err := api.Credentials()
			if err != nil {
				return 0, "", err
			}
			if kind == config.RefreshToken {
				return vela.RefreshToken, secret, nil
			}
			return vela.AccessToken, secret, nil
		},
	}
}

// Limiter is the upload bandwidth limiter the configuration asks for. It
// is never nil, so that a reload can set a limit where there was none.
func Limiter(cfg *config.Config) *upload.Limiter {
	return upload.NewLimiter(int64(cfg.Upload.BandwidthLimit), windows(cfg), cfg.Location())
}

// windows is the configuration's bandwidth schedule.
func windows(cfg *config.Config) []upload.Window {
	var ws []upload.Window
	for _, w := range cfg.Upload.Schedule {
		from, to := w.Span()
		ws = append(ws, upload.Window{Days: w.Weekdays(), From: from, To: to, Limit: int64(w.Limit)})
	}
	return ws
}

// Open builds an agent from a configuration: it opens the state file, and
// makes the API client and the uploader. Close the agent when done.
func Open(cfg *config.Config, log *slog.Logger, noWatch bool) (*Agent, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client, err := vela.New(VelaConfig(cfg, log))
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	st, err := store.Open(StateFile(cfg), store.Options{})
	if err != nil {
		return nil, err
	}
	lim := Limiter(cfg)
	a, err := New(Options{
		Config: cfg,
		Store:  st,
		API:    client,
		Uploader: &upload.Uploader{
			Limiter:      lim,
			StallTimeout: cfg.Upload.StallTimeout.D(),
		},
		Limiter: lim,
		Logger:  log,
		NoWatch: noWatch,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	a.closer = st.Close
	return a, nil
}

// Store is the agent's queue, for commands that inspect it.
func (a *Agent) Store() *store.Store { return a.store }
