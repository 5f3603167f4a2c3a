package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// Secret is a credential. It never prints: String, GoString, every fmt verb,
// slog and text or JSON encoding all give "[redacted]", or "" when the
// secret is empty. Reveal returns the value.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret itself. Call it only where the value is sent.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns the same as String, so %#v does not print the value.
func (s Secret) GoString() string { return s.String() }

// Format implements fmt.Formatter so that no verb (%x included) prints the
// value.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		io.WriteString(f, strconv.Quote(s.String()))
		return
	}
	io.WriteString(f, s.String())
}

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler, so that JSON and YAML
// encodings of a Config are redacted too.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Secret) decodeNode(n ast.Node) error {
	text, ok := scalarText(n)
	if !ok {
		return fmt.Errorf("must be a single value, not %s", describe(n))
	}
	*s = Secret(strings.TrimSpace(text))
	return nil
}

// CredentialKind says which kind of credential API.Credentials returned.
type CredentialKind int

// The kinds of API credential.
const (
	// AccessToken is a bearer token sent as is; it cannot be refreshed.
	AccessToken CredentialKind = iota + 1
	// RefreshToken is exchanged for access tokens at the generate path.
	RefreshToken
)

// Credentials returns the configured API credential and its kind. Files are
// read at every call, so a rotated token is picked up without a restart;
// surrounding white space and a byte-order mark are removed.
//
// Load makes sure exactly one of token, token_file, refresh_token and
// refresh_token_file is set; should several be set in a hand-built API, the
// first in that order wins.
func (a API) Credentials() (kind CredentialKind, secret string, err error) {
	switch {
	case a.Token != "":
		return AccessToken, a.Token.Reveal(), nil
	case a.TokenFile != "":
		if secret, err = readSecretFile(a.TokenFile); err != nil {
			return 0, "", fmt.Errorf("read api.token_file: %w", err)
		}
		return AccessToken, secret, nil
	case a.RefreshToken != "":
		return RefreshToken, a.RefreshToken.Reveal(), nil
	case a.RefreshTokenFile != "":
		secret, err = readSecretFile(a.RefreshTokenFile)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, "", fmt.Errorf("read api.refresh_token_file: %s does not exist: run `vela-agent login` to create it", a.RefreshTokenFile)
		}
		if err != nil {
			return 0, "", fmt.Errorf("read api.refresh_token_file: %w", err)
		}
		return RefreshToken, secret, nil
	}
	return 0, "", errors.New("no API credential configured: set api.refresh_token_file (run `vela-agent login`), api.refresh_token, api.token_file or api.token")
}

// maxSecretFile bounds what readSecretFile reads: tokens are a few KiB, and
// a bigger file is the wrong file.
const maxSecretFile = 64 << 10

func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("%s is larger than %d KiB; is it the right file?", path, maxSecretFile>>10)
	}
	s := strings.TrimSpace(strings.TrimPrefix(string(b), "\uFEFF"))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// expandEnv replaces every ${NAME} in s with the value of the environment
// variable NAME. Its errors name the variable but never quote s, which may
// hold a secret.
func expandEnv(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i+2:]
		end := strings.IndexByte(s, '}')
		if end < 0 || !isEnvName(s[:end]) {
			return "", errors.New("malformed ${...}: write ${NAME}, where NAME is letters, digits and _")
		}
		name := s[:end]
		v, ok := os.LookupEnv(name)
		switch {
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set", name)
		case v == "":
			return "", fmt.Errorf("environment variable %s is empty", name)
		}
		b.WriteString(v)
		s = s[end+1:]
	}
}

func isEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
