package upload

import (
	"net"
	"net/http"
	"time"
)

// NewClient returns an HTTP client for uploads: TLS verified against the
// system's roots, HTTP/1.1 or HTTP/2, the proxy from the environment
// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), connections kept for reuse, and
// timeouts on dialling, the TLS handshake and the wait for response headers
// after the body was sent, but none on the whole request: large files take
// long, and Post's stall timeout catches a connection that stopped moving.
func NewClient() *http.Client {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   16,
		},
	}
}
