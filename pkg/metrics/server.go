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
	"sync/atomic"
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

// Server is the running endpoint. Its handler and TLS settings can be replaced while it runs
// (Prepare); its address cannot (start another Server).
type Server struct {
	m       *Metrics
	srv     *http.Server
	ln      *switchListener
	addr    string // the address asked for (listen_address:listen_port)
	handler atomic.Pointer[http.Handler]
	err     chan error
}

// switchListener hands out the connections of a TCP listener, wrapped in TLS when a TLS
// configuration is set, so that a running server can turn HTTPS on or off or change its
// certificate (net/http does the handshake of a *tls.Conn itself).
type switchListener struct {
	net.Listener
	tls atomic.Pointer[tls.Config]
}

func (l *switchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc := l.tls.Load(); tc != nil {
		return tls.Server(c, tc), nil
	}
	return c, nil
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
	tc, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listenAddr(cfg))
	if err != nil {
		return nil, fmt.Errorf("webserver: %w", err)
	}
	s := &Server{m: m, ln: &switchListener{Listener: ln}, addr: listenAddr(cfg), err: make(chan error, 1)}
	s.ln.tls.Store(tc)
	h := m.Handler(cfg)
	s.handler.Store(&h)
	s.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*s.handler.Load()).ServeHTTP(w, r) })}
	go func() { s.err <- s.srv.Serve(s.ln) }()
	return s, nil
}

func listenAddr(cfg ServerConfig) string {
	host := cfg.ListenAddress
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(cfg.ListenPort))
}

// serverTLS reads the certificate of an HTTPS endpoint (nil for HTTP).
func serverTLS(cfg ServerConfig) (*tls.Config, error) {
	if cfg.CertFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(cfg.CertFile)
	if err != nil {
		return nil, fmt.Errorf("webserver ssl_certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(pem, pem)
	if err != nil {
		return nil, fmt.Errorf("webserver ssl_certificate %s: %w", cfg.CertFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// SameAddress reports whether cfg asks for the address s was started with (the same listen
// address and port, not port 0), so that s can take cfg with Prepare instead of a new
// listener.
func (s *Server) SameAddress(cfg ServerConfig) bool {
	return cfg.ListenPort != 0 && listenAddr(cfg) == s.addr
}

// Prepare readies cfg for the running server (a configuration reload): the certificate is
// read and the handler built now, so that an error leaves the server as it is; commit puts
// them in effect for the requests that follow (connections already open keep their TLS
// state). cfg must listen where s does (SameAddress).
func (s *Server) Prepare(cfg ServerConfig) (commit func(), err error) {
	if !s.SameAddress(cfg) {
		return nil, fmt.Errorf("webserver: %s is not where the server listens (%s)", listenAddr(cfg), s.Addr())
	}
	tc, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}
	h := s.m.Handler(cfg)
	return func() {
		s.ln.tls.Store(tc)
		s.handler.Store(&h)
	}, nil
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
