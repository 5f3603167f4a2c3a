//go:build !linux

package ftptest

import "testing"

// StartVsftpd skips the test: the fixture runs Debian's vsftpd as root,
// which needs Linux.
func StartVsftpd(t testing.TB, o Options) *Server {
	t.Helper()
	t.Skip("ftptest: vsftpd tests need Linux")
	return nil
}

// Restart is never reached: StartVsftpd skips on this system.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	t.Skip("ftptest: vsftpd tests need Linux")
}

// DropSessions is never reached: StartVsftpd skips on this system.
func (s *Server) DropSessions(t testing.TB) {
	t.Helper()
	t.Skip("ftptest: vsftpd tests need Linux")
}

type process struct{}
