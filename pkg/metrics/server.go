package metrics

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/saker-sec/saker/internal/webauth"
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
	// Healthy, when set, is asked on each /healthz; an error answers 503 with the reason.
	Healthy func() error
	// Ready, when set, is asked on each /readyz; an error answers 503 with the reason
	// (without it, /readyz answers like /healthz).
	Ready func() error
	// TokenFile, when set, holds the bearer token every request must carry
	// ("Authorization: Bearer <token>"); others get 401. Read by Serve and Prepare.
	TokenFile string
	// ClientCAFile, when set (with CertFile), is the PEM CA bundle client certificates must
	// chain to: the TLS handshake refuses clients without one (mutual TLS).
	ClientCAFile string
	// OpenHealth serves the health and readiness paths without the token.
	OpenHealth bool
	// ReadTimeout, WriteTimeout and IdleTimeout bound each connection (10s, 30s and 60s
	// when 0).
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
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

// Handler returns the endpoint's handler: /healthz, /readyz, /version (and Falco's
// /versions), and /metrics when cfg.Metrics; without authentication (see Serve).
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
	mux.HandleFunc(readyPath, func(w http.ResponseWriter, r *http.Request) {
		check := cfg.Ready
		if check == nil {
			check = cfg.Healthy
		}
		if check != nil {
			if err := check(); err != nil {
				writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
				return
			}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
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

// readyPath is the readiness endpoint.
const readyPath = "/readyz"

// authed wraps h with the bearer token check of cfg (none without TokenFile).
func (m *Metrics) authed(cfg ServerConfig) (http.Handler, error) {
	h := m.Handler(cfg)
	if cfg.TokenFile == "" {
		return h, nil
	}
	b, err := os.ReadFile(cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("webserver.auth.token_file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return nil, fmt.Errorf("webserver.auth.token_file %s: empty", cfg.TokenFile)
	}
	want := []byte("Bearer " + token)
	hp := cfg.HealthzPath
	if hp == "" {
		hp = "/healthz"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		open := cfg.OpenHealth && (r.URL.Path == hp || r.URL.Path == readyPath)
		if !open && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="saker"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"status":"unauthorized","error":"a bearer token is required"}` + "\n"))
			return
		}
		h.ServeHTTP(w, r)
	}), nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Serve starts the endpoint; it listens before returning, so a bad address is an error here.
// With cfg.TokenFile every request needs the bearer token (cfg.OpenHealth: but the health
// and readiness paths); with cfg.ClientCAFile every connection a client certificate.
func (m *Metrics) Serve(cfg ServerConfig) (*Server, error) {
	tc, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}
	h, err := m.authed(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listenAddr(cfg))
	if err != nil {
		return nil, fmt.Errorf("webserver: %w", err)
	}
	s := &Server{m: m, ln: &switchListener{Listener: ln}, addr: listenAddr(cfg), err: make(chan error, 1)}
	s.ln.tls.Store(tc)
	s.handler.Store(&h)
	// The timeouts are the first configuration's: net/http reads them per connection, but
	// they cannot be changed safely while it serves, so a reload that changes them needs a
	// new address (or a restart).
	s.srv = &http.Server{ReadHeaderTimeout: orDefault(cfg.ReadTimeout, 10*time.Second),
		ReadTimeout: orDefault(cfg.ReadTimeout, 10*time.Second), WriteTimeout: orDefault(cfg.WriteTimeout, 30*time.Second),
		IdleTimeout: orDefault(cfg.IdleTimeout, 60*time.Second),
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*s.handler.Load()).ServeHTTP(w, r) })}
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

// serverTLS reads the certificate of an HTTPS endpoint (nil for HTTP), and the client CA.
func serverTLS(cfg ServerConfig) (*tls.Config, error) {
	if cfg.CertFile == "" {
		if cfg.ClientCAFile != "" {
			return nil, errors.New("webserver.auth.client_ca: client certificates need HTTPS (ssl_enabled)")
		}
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
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.ClientCAFile != "" {
		pool, err := webauth.CertPool(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("webserver.auth.client_ca: %w", err)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
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
	h, err := s.m.authed(cfg)
	if err != nil {
		return nil, err
	}
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
