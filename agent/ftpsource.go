package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"

	"github.com/vela-agent/vela-agent/agent/config"
	"github.com/vela-agent/vela-agent/store"
	"github.com/vela-agent/vela-agent/watcher"
	"github.com/vela-agent/vela-agent/watcher/ftp"
)

var _ Stager = (*ftpSource)(nil)

// ftpSource is an FTP or FTPS server polled by watcher/ftp. Its files are
// staged (downloaded to the spool) before they are described and uploaded;
// its post-actions act on the server.
type ftpSource struct {
	cfg config.Source
	p   *ftp.Source
}

// errNotStaged is what Stat and Open say of a remote file: the agent reads
// the spool copy once the file is staged.
var errNotStaged = errors.New("a remote file is read from its spool copy once staged")

func newFTPSource(sc config.Source, log *slog.Logger) (*ftpSource, error) {
	hostport, user, dir := sc.FTPAddr()
	pw, err := sc.FTPPassword()
	if err != nil {
		return nil, err
	}
	o := ftp.Options{
		Name:         sc.Name,
		Addr:         hostport,
		User:         user,
		Password:     pw,
		Dir:          dir,
		ImplicitTLS:  sc.ImplicitTLS(),
		Recursive:    sc.Recurse(),
		Include:      watchPatterns(sc),
		Exclude:      sc.Exclude,
		Settle:       sc.Settle.D(),
		PollInterval: sc.PollInterval.D(),
		Timeout:      sc.Timeout.D(),
		List:         sc.List,
		ServerTZ:     sc.ServerLocation(),
		MaxConns:     sc.MaxConnections,
		Logger:       log,
	}
	if sc.UsesTLS() {
		if o.TLS, err = ftpTLS(sc, hostport); err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.Name, err)
		}
		if sc.TLSInsecureSkipVerify {
			log.Warn("the FTP server's certificate is not checked (tls_insecure_skip_verify): anyone on the network path can read the recordings and the password", "source", sc.Name)
		}
	}
	p, err := ftp.New(o)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", sc.Name, err)
	}
	return &ftpSource{cfg: sc, p: p}, nil
}

// ftpTLS is the TLS configuration of an FTPS source. Data connections
// resume the control connection's TLS session (vsftpd's default
// require_ssl_reuse), hence the session cache.
func ftpTLS(sc config.Source, hostport string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(hostport)
	c := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: sc.TLSInsecureSkipVerify,
		ClientSessionCache: tls.NewLRUClientSessionCache(16),
		MinVersion:         tls.VersionTLS12,
	}
	if sc.ServerName != "" {
		c.ServerName = sc.ServerName
	}
	if sc.CAFile != "" {
		pem, err := os.ReadFile(sc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", sc.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

func (s *ftpSource) Run(ctx context.Context, found chan<- []watcher.File) error {
	return s.p.Run(ctx, found)
}

func (s *ftpSource) Forget(p string) { s.p.Forget(p) }

func (s *ftpSource) Status() SourceStatus {
	ss := SourceStatus{Name: s.cfg.Name, Path: s.cfg.URL}
	ss.Mode, ss.Reason = s.p.Mode()
	ss.Problem = s.p.Problem()
	return ss
}

func (s *ftpSource) Stats() watcher.Stats { return s.p.Stats() }

func (s *ftpSource) Stat(*store.Job) (fs.FileInfo, error) { return nil, errNotStaged }

func (s *ftpSource) Open(*store.Job) (*os.File, error) { return nil, errNotStaged }

// Stage downloads the job's file to spool, resuming spool's .part.
func (s *ftpSource) Stage(ctx context.Context, j *store.Job, spool string) error {
	sum, err := s.p.Download(ctx, j.Path, j.Size, j.ModTime, spool)
	if err != nil {
		return fmt.Errorf("download %s: %w", j.Path, err)
	}
	j.SHA256 = sum
	return nil
}

// Finish deletes or moves the file on the server.
func (s *ftpSource) Finish(ctx context.Context, j *store.Job) error {
	switch {
	case s.cfg.AfterUpload == "delete":
		return s.p.Delete(ctx, j.Path)
	case s.cfg.MoveDir() != "":
		// Into the same relative folder below the move folder, as local
		// moves do.
		_, err := s.p.Move(ctx, j.Path, path.Join(s.cfg.MoveDir(), path.Dir(j.Path)))
		return err
	}
	return nil
}
