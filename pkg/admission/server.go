package admission

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/saker-sec/saker/internal/webauth"
)

// Defaults of ServerConfig.
const (
	DefaultListen       = "127.0.0.1:9766"
	DefaultPath         = "/validate"
	DefaultMaxBodyBytes = 4 << 20 // the API server's objects are at most 3 MiB
)

// ServerConfig configures the webhook's HTTPS endpoint.
type ServerConfig struct {
	// Listen is the address (default 127.0.0.1:9766, loopback).
	Listen string
	// Path is the endpoint's path (default /validate).
	Path string
	// CertFile and KeyFile are the serving pair (required: the API server only calls HTTPS).
	CertFile, KeyFile string
	// ClientCAFile: an API server presenting a client certificate signed by one of its CAs
	// is authenticated (its --admission-control-config-file kubeconfig names the pair).
	ClientCAFile string
	// Tokens are the accepted bearer tokens; TokenFile adds those of a file (one a line;
	// blank lines and # comments ignored). A client CA or a token is required.
	Tokens    []string
	TokenFile string
	// MaxBodyBytes bounds a review's body (default 4 MiB); larger ones get 413.
	MaxBodyBytes int64
}

// ServerStats are the endpoint's counters (the decisions are the Controller's).
type ServerStats struct {
	Requests, Unauthorized, BadRequests, TooLarge uint64
}

// Server is the HTTPS endpoint answering AdmissionReviews with a Controller's decisions.
type Server struct {
	cfg    ServerConfig
	ctl    *Controller
	ep     *webauth.Endpoint
	tokens webauth.Tokens
	stats  struct{ requests, unauthorized, bad, tooLarge atomic.Uint64 }
}

// NewServer validates cfg, listens and serves ctl's decisions in the background. Close stops it.
func NewServer(cfg ServerConfig, ctl *Controller) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return nil, fmt.Errorf("admission webhook: path %q must start with /", cfg.Path)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("admission webhook: TLS is required (a certificate and a key file)")
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("admission webhook: listen address %q: %v", cfg.Listen, err)
	}
	s := &Server{cfg: cfg, ctl: ctl}
	tokens, err := webauth.LoadTokens(cfg.Tokens, cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("admission webhook: %v", err)
	}
	s.tokens = tokens
	if len(s.tokens) == 0 && cfg.ClientCAFile == "" {
		return nil, errors.New("admission webhook: no authentication configured (bearer tokens or a client CA)")
	}
	tlsConf, err := webauth.ServerTLS(cfg.CertFile, cfg.KeyFile, cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("admission webhook: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle(cfg.Path, s.Handler())
	s.ep, err = webauth.Listen(cfg.Listen, mux, tlsConf, webauth.Timeouts{Read: 30 * time.Second, Write: 30 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("admission webhook: %v", err)
	}
	return s, nil
}

// Addr is the listening address.
func (s *Server) Addr() net.Addr { return s.ep.Addr() }

// URL is the endpoint's https URL.
func (s *Server) URL() string { return "https://" + s.ep.Addr().String() + s.cfg.Path }

// Stats returns the endpoint's counters.
func (s *Server) Stats() ServerStats {
	return ServerStats{Requests: s.stats.requests.Load(), Unauthorized: s.stats.unauthorized.Load(),
		BadRequests: s.stats.bad.Load(), TooLarge: s.stats.tooLarge.Load()}
}

// Close stops serving and waits for the server goroutine.
func (s *Server) Close() error { return s.ep.Close() }

// failure writes a Kubernetes Status body with the reason.
func failure(rw http.ResponseWriter, code int, reason, msg string) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	body, _ := json.Marshal(map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason, "code": code})
	rw.Write(append(body, '\n'))
}

// Handler is the endpoint's handler: authentication, limits, decoding, decision.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

func (s *Server) serve(rw http.ResponseWriter, r *http.Request) {
	s.stats.requests.Add(1)
	if !s.tokens.Authorized(r) {
		s.stats.unauthorized.Add(1)
		failure(rw, http.StatusUnauthorized, "Unauthorized", "admission webhook: a client certificate or bearer token is required")
		return
	}
	if r.Method != http.MethodPost {
		s.stats.bad.Add(1)
		rw.Header().Set("Allow", "POST")
		failure(rw, http.StatusMethodNotAllowed, "MethodNotAllowed", "admission webhook: only POST is served")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		s.stats.bad.Add(1)
		failure(rw, http.StatusUnsupportedMediaType, "UnsupportedMediaType", fmt.Sprintf("admission webhook: content type %q (application/json expected)", ct))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.stats.tooLarge.Add(1)
			failure(rw, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("admission webhook: request body over %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		s.stats.bad.Add(1)
		failure(rw, http.StatusBadRequest, "BadRequest", "admission webhook: reading the request: "+err.Error())
		return
	}
	rv, err := DecodeReview(body)
	if err != nil {
		s.stats.bad.Add(1)
		failure(rw, http.StatusBadRequest, "BadRequest", "admission webhook: "+err.Error())
		return
	}
	d, err := s.ctl.Review(rv.Request)
	if err != nil {
		s.stats.bad.Add(1)
		failure(rw, http.StatusBadRequest, "BadRequest", "admission webhook: "+err.Error())
		return
	}
	out, _ := json.Marshal(&Review{APIVersion: APIVersion, Kind: ReviewKind, Response: &d.Response})
	rw.Header().Set("Content-Type", "application/json")
	rw.Write(append(out, '\n'))
}
