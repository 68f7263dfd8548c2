package k8saudit

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/saker-sec/saker/internal/webauth"
)

// WebhookConfig configures the audit webhook endpoint kube-apiserver's webhook backend posts
// to (--audit-webhook-config-file: a kubeconfig whose cluster server is the endpoint's URL).
type WebhookConfig struct {
	// Listen is the address (default 127.0.0.1:9765, loopback only). Any other address
	// needs TLS.
	Listen string
	// Path is the endpoint's path (default /k8s-audit, as Falco's k8saudit plugin). The API
	// server appends ?timeout=...: only the path is matched.
	Path string
	// CertFile and KeyFile enable HTTPS.
	CertFile, KeyFile string
	// ClientCAFile: clients presenting a certificate signed by one of its CAs are
	// authenticated (needs TLS).
	ClientCAFile string
	// Tokens are the bearer tokens accepted (Authorization: Bearer TOKEN); TokenFile adds
	// those of a file (one per line; blank lines and # comments ignored).
	Tokens    []string
	TokenFile string
	// MaxBodyBytes bounds a request's body, compressed and decompressed (default 12 MiB).
	MaxBodyBytes int64
	// QueueEvents bounds the events accepted and not yet taken by Next (default 65536).
	// A request whose events do not fit is refused with 429 and Retry-After; the API server
	// sends it again.
	QueueEvents int
	// RetryAfter is the delay suggested to refused senders (default 1s).
	RetryAfter time.Duration
	// Warn receives the items of accepted requests that were no usable events (default:
	// standard error).
	Warn func(error)
}

// WebhookStats are the endpoint's counters.
type WebhookStats struct {
	Requests      uint64 // requests to the endpoint's path
	Accepted      uint64 // requests answered 200
	Events        uint64 // events accepted into the queue
	Refused       uint64 // requests refused because the queue was full (429)
	RefusedEvents uint64 // the events those requests held
	Unauthorized  uint64 // requests without valid credentials (401)
	BadRequests   uint64 // bodies that were no audit data, bad encodings, wrong methods (4xx)
	TooLarge      uint64 // bodies over MaxBodyBytes (413)
	SkippedItems  uint64 // items of accepted requests that were no usable events
	QueueLength   int    // events waiting for Next
	QueueCapacity int
}

// Webhook is the HTTPS endpoint receiving audit events; a Source.
type Webhook struct {
	cfg     WebhookConfig
	ep      *webauth.Endpoint
	tls     bool
	tokens  webauth.Tokens
	queue   chan *Event
	queued  atomic.Int64
	closing atomic.Bool
	closeMu sync.Mutex
	closed  bool
	mu      sync.RWMutex // held for reading by handlers while they enqueue
	stats   struct{ requests, accepted, events, refused, refusedEvents, unauthorized, bad, tooLarge, skipped atomic.Uint64 }
}

// Defaults.
const (
	DefaultWebhookListen = "127.0.0.1:9765"
	DefaultWebhookPath   = "/k8s-audit"
	DefaultMaxBodyBytes  = 12 << 20
	DefaultQueueEvents   = 65536
)

// NewWebhook validates cfg, listens and serves in the background. Close stops it.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultWebhookListen
	}
	if cfg.Path == "" {
		cfg.Path = DefaultWebhookPath
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		return nil, fmt.Errorf("k8s audit webhook: path %q must start with /", cfg.Path)
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.QueueEvents <= 0 {
		cfg.QueueEvents = DefaultQueueEvents
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	if cfg.Warn == nil {
		cfg.Warn = func(err error) { fmt.Fprintln(os.Stderr, err) }
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("k8s audit webhook: listen address %q: %v", cfg.Listen, err)
	}
	useTLS := cfg.CertFile != "" || cfg.KeyFile != ""
	if useTLS && (cfg.CertFile == "" || cfg.KeyFile == "") {
		return nil, errors.New("k8s audit webhook: TLS needs both a certificate and a key file")
	}
	if !useTLS && !isLoopback(host) {
		return nil, fmt.Errorf("k8s audit webhook: listening on %s (not loopback) requires TLS (a certificate and key)", cfg.Listen)
	}
	if cfg.ClientCAFile != "" && !useTLS {
		return nil, errors.New("k8s audit webhook: client certificate authentication requires TLS")
	}
	w := &Webhook{cfg: cfg, tls: useTLS, queue: make(chan *Event, cfg.QueueEvents)}
	tokens, err := webauth.LoadTokens(cfg.Tokens, cfg.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("k8s audit webhook: %v", err)
	}
	w.tokens = tokens
	if len(w.tokens) == 0 && cfg.ClientCAFile == "" {
		return nil, errors.New("k8s audit webhook: no authentication configured (bearer tokens or a client CA)")
	}
	var tlsConf *tls.Config
	if useTLS {
		if tlsConf, err = webauth.ServerTLS(cfg.CertFile, cfg.KeyFile, cfg.ClientCAFile); err != nil {
			return nil, fmt.Errorf("k8s audit webhook: %v", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle(cfg.Path, w.Handler())
	if w.ep, err = webauth.Listen(cfg.Listen, mux, tlsConf, webauth.Timeouts{Read: 2 * time.Minute}); err != nil {
		return nil, fmt.Errorf("k8s audit webhook: %v", err)
	}
	return w, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Addr is the address the endpoint listens on.
func (w *Webhook) Addr() net.Addr { return w.ep.Addr() }

// URL is the endpoint's URL (for the API server's webhook kubeconfig).
func (w *Webhook) URL() string {
	scheme := "http"
	if w.tls {
		scheme = "https"
	}
	return scheme + "://" + w.ep.Addr().String() + w.cfg.Path
}

// Stats returns the endpoint's counters.
func (w *Webhook) Stats() WebhookStats {
	s := &w.stats
	return WebhookStats{
		Requests: s.requests.Load(), Accepted: s.accepted.Load(), Events: s.events.Load(),
		Refused: s.refused.Load(), RefusedEvents: s.refusedEvents.Load(), Unauthorized: s.unauthorized.Load(),
		BadRequests: s.bad.Load(), TooLarge: s.tooLarge.Load(), SkippedItems: s.skipped.Load(),
		QueueLength: int(w.queued.Load()), QueueCapacity: w.cfg.QueueEvents,
	}
}

// Next returns the next accepted event, in the order received; io.EOF once the webhook is
// closed and its queue drained.
func (w *Webhook) Next(ctx context.Context) (*Event, error) {
	select {
	case ev, ok := <-w.queue:
		if !ok {
			return nil, io.EOF
		}
		w.queued.Add(-1)
		return ev, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops accepting requests (those in progress finish), then ends the queue: Next
// returns what was accepted, then io.EOF.
func (w *Webhook) Close() error {
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.closing.Store(true)
	err := w.ep.Shutdown(10 * time.Second)
	w.mu.Lock() // no handler is enqueueing any more
	close(w.queue)
	w.mu.Unlock()
	return err
}

// status writes a Kubernetes Status body, which the API server's client decodes.
func status(rw http.ResponseWriter, code int, reason, msg string, retryAfter int) {
	rw.Header().Set("Content-Type", "application/json")
	details := ""
	if retryAfter > 0 {
		rw.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		details = fmt.Sprintf(`,"details":{"retryAfterSeconds":%d}`, retryAfter)
	}
	rw.WriteHeader(code)
	fmt.Fprintf(rw, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":%s,"reason":%q%s,"code":%d}`+"\n",
		strconv.Quote(msg), reason, details, code)
}

// Handler is the endpoint's HTTP handler (authentication, limits, parsing, queueing).
func (w *Webhook) Handler() http.Handler {
	return http.HandlerFunc(w.serve)
}

func (w *Webhook) serve(rw http.ResponseWriter, r *http.Request) {
	s := &w.stats
	s.requests.Add(1)
	if !w.tokens.Authorized(r) {
		s.unauthorized.Add(1)
		rw.Header().Set("WWW-Authenticate", `Bearer realm="saker"`)
		status(rw, http.StatusUnauthorized, "Unauthorized", "authentication required", 0)
		return
	}
	if r.Method != http.MethodPost {
		s.bad.Add(1)
		rw.Header().Set("Allow", "POST")
		status(rw, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" not allowed", 0)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		s.bad.Add(1)
		status(rw, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "content type "+ct+" is not JSON", 0)
		return
	}
	max := w.cfg.MaxBodyBytes
	var body io.Reader = http.MaxBytesReader(rw, r.Body, max)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		z, err := gzip.NewReader(body)
		if err != nil {
			w.readError(rw, err)
			return
		}
		defer z.Close()
		body = z
	default:
		s.bad.Add(1)
		status(rw, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "content encoding "+enc+" is not supported", 0)
		return
	}
	data, err := readBody(io.LimitReader(body, max+1), r.ContentLength, max, r.Header.Get("Content-Encoding") == "")
	if err != nil {
		w.readError(rw, err)
		return
	}
	if int64(len(data)) > max {
		s.tooLarge.Add(1)
		status(rw, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("request body larger than %d bytes (decompressed)", max), 0)
		return
	}
	res, err := Parse(data)
	if err != nil {
		s.bad.Add(1)
		status(rw, http.StatusBadRequest, "BadRequest", err.Error(), 0)
		return
	}
	for _, e := range res.Errs {
		s.skipped.Add(1)
		w.cfg.Warn(fmt.Errorf("k8s audit webhook: request from %s: %s: %w", r.RemoteAddr, e, ErrNotAudit))
	}
	n := int64(len(res.Events))
	if n > int64(w.cfg.QueueEvents) {
		s.tooLarge.Add(1)
		status(rw, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("%d events exceed the queue's capacity (%d)", n, w.cfg.QueueEvents), 0)
		return
	}
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closing.Load() {
		s.refused.Add(1)
		s.refusedEvents.Add(uint64(n))
		status(rw, http.StatusServiceUnavailable, "ServiceUnavailable", "shutting down", w.retryAfter())
		return
	}
	if w.queued.Add(n) > int64(w.cfg.QueueEvents) {
		w.queued.Add(-n)
		s.refused.Add(1)
		s.refusedEvents.Add(uint64(n))
		status(rw, http.StatusTooManyRequests, "TooManyRequests", "event queue full, retry later", w.retryAfter())
		return
	}
	for _, ev := range res.Events {
		w.queue <- ev // room was reserved above
	}
	s.events.Add(uint64(n))
	s.accepted.Add(1)
	rw.WriteHeader(http.StatusOK)
}

func (w *Webhook) retryAfter() int {
	sec := int((w.cfg.RetryAfter + time.Second - 1) / time.Second)
	if sec < 1 {
		sec = 1
	}
	return sec
}

func (w *Webhook) readError(rw http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		w.stats.tooLarge.Add(1)
		status(rw, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", fmt.Sprintf("request body larger than %d bytes", w.cfg.MaxBodyBytes), 0)
		return
	}
	w.stats.bad.Add(1)
	status(rw, http.StatusBadRequest, "BadRequest", "reading the body: "+err.Error(), 0)
}

// readBody reads a request body, in one buffer of the announced length when it is known
// (not compressed, and within the limit: a hostile Content-Length allocates nothing), so a
// large EventList is not copied while the buffer grows.
func readBody(r io.Reader, length, max int64, plain bool) ([]byte, error) {
	if !plain || length <= 0 || length > max {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, length+1)
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
		if len(buf) == cap(buf) {
			// more than announced: go on with a growing buffer (the limit still applies)
			rest, err := io.ReadAll(r)
			return append(buf, rest...), err
		}
	}
}
