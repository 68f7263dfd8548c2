package metrics

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ServerConfig configures the HTTP endpoint (Falco's webserver keys).
type ServerConfig struct {
	ListenAddress string // 127.0.0.1 when empty
	ListenPort    int    // 0 picks a free port (tests)
	HealthzPath   string // /healthz when empty
	Metrics       bool   // serve /metrics
	// CertFile, when set, serves HTTPS with the certificate and key read from this one PEM
	// file (Falco's ssl_certificate).
	CertFile string
	// Healthy, when set, is asked on each /healthz; an error answers 503.
	Healthy func() error
}

// Server is the running endpoint.
type Server struct {
	srv *http.Server
	ln  net.Listener
	err chan error
}

// Handler returns the endpoint's handler: /healthz, /version (and Falco's /versions), and
// /metrics when metricsOn.
func (m *Metrics) Handler(cfg ServerConfig) http.Handler {
	mux := http.NewServeMux()
	hp := cfg.HealthzPath
	if hp == "" {
		hp = "/healthz"
	}
	writeJSON := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc(hp, func(w http.ResponseWriter, r *http.Request) {
		if cfg.Healthy != nil {
			if err := cfg.Healthy(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	version := func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"saker_version": m.Version, "go_version": runtime.Version()})
	}
	mux.HandleFunc("/version", version)
	mux.HandleFunc("/versions", version)
	if cfg.Metrics {
		mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	}
	return mux
}

// Serve starts the endpoint; it listens before returning, so a bad address is an error here.
func (m *Metrics) Serve(cfg ServerConfig) (*Server, error) {
	host := cfg.ListenAddress
	if host == "" {
		host = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(cfg.ListenPort)))
	if err != nil {
		return nil, fmt.Errorf("webserver: %w", err)
	}
	s := &Server{ln: ln, err: make(chan error, 1),
		srv: &http.Server{Handler: m.Handler(cfg), ReadHeaderTimeout: 10 * time.Second}}
	if cfg.CertFile != "" {
		pem, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("webserver ssl_certificate: %w", err)
		}
		cert, err := tls.X509KeyPair(pem, pem)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("webserver ssl_certificate %s: %w", cfg.CertFile, err)
		}
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		go func() { s.err <- s.srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { s.err <- s.srv.Serve(ln) }()
	}
	return s, nil
}

// Addr is the address the endpoint listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close shuts the endpoint down, waiting for requests in progress until ctx is done.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.err; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}
