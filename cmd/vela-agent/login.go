package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vela-agent/vela-agent/agent"
)

func loginCmd(g *globals) *cobra.Command {
	var email string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in once and save a refresh token to api.refresh_token_file",
		Long: `Sign in with the Vela account's e-mail and password and save the refresh
token to the file named by api.refresh_token_file (mode 0600). The password
is asked on the terminal (or read from standard input when it is not a
terminal) and never stored. An account holds at most three refresh tokens,
so run this once per installation, not on every start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// The token file not existing yet is why one signs in.
			cfg, err := g.load("api.refresh_token_file")
			if err != nil {
				return err
			}
			dest := cfg.API.RefreshTokenFile
			if dest == "" {
				return errors.New("api.refresh_token_file is not set: name the file the refresh token should be saved to")
			}
			in := bufio.NewReader(os.Stdin)
			if email == "" {
				fmt.Fprint(os.Stderr, "E-mail: ")
				if email, err = readLine(in); err != nil {
					return err
				}
			}
			fmt.Fprint(os.Stderr, "Password: ")
			password, err := readPassword(in)
			fmt.Fprintln(os.Stderr)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			s, err := agent.Login(ctx, cfg, email, password)
			if err != nil {
				return err
			}
			if s.OrgID != "" && s.OrgID != cfg.API.OrgID {
				fmt.Fprintf(os.Stderr, "warning: this account belongs to organisation %s, but api.org_id is %s\n", esc(s.OrgID), esc(cfg.API.OrgID))
			}
			if err := writeSecret(dest, s.RefreshToken); err != nil {
				return fmt.Errorf("save the refresh token: %w", err)
			}
			fmt.Fprintf(os.Stderr, "Signed in. Refresh token saved to %s\n", dest)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "account e-mail (asked if not given)")
	return cmd
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", fmt.Errorf("read from standard input: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// readPassword reads without echo from a terminal, or a line from a pipe.
func readPassword(r *bufio.Reader) (string, error) {
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		b, err := term.ReadPassword(fd)
		return string(b), err
	}
	line, err := r.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// writeSecret replaces path with data, readable by its owner only, so that
// no reader ever sees half a token. Written by root where the service user
// exists, the file is that user's, so the installed service can read it.
func writeSecret(path, data string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := giveToServiceUser(f); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(data + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
