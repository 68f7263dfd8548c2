package output

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
)

// HTTPConfig configures an HTTP channel (Falco's http_output, plus headers, timeout and
// retries).
type HTTPConfig struct {
	Name      string // channel name ("http" when empty)
	URL       string
	UserAgent string            // "saker/<version>" style; Go's default when empty
	Headers   map[string]string // extra request headers (e.g. Authorization)
	// TLS: Insecure skips server verification; CACert (a PEM file), CABundle (a PEM file) and
	// CAPath (a directory of PEM files) add trusted CAs (the system roots are used when none is
	// set); with MTLS, ClientCert and ClientKey authenticate the client.
	Insecure              bool
	CACert, CABundle      string
	CAPath                string
	MTLS                  bool
	ClientCert, ClientKey string
	CompressUploads       bool          // gzip the body (Content-Encoding: gzip)
	KeepAlive             bool          // reuse connections
	Timeout               time.Duration // per attempt (5s when 0)
	MaxRetries            int           // retries after the first attempt (negative: none)
	Backoff, MaxBackoff   time.Duration // first retry delay (doubling) and its cap (250ms, 5s when 0)
	Echo                  io.Writer     // when set, the server's answers are copied there
	Format                Format
}

// HTTPChannel POSTs each alert (Falco's http_output; with Format.JSON, falcosidekick's input).
// Transport errors, 429 and 5xx answers are retried with exponential backoff; other non-2xx
// answers fail at once.
type HTTPChannel struct {
	cfg    HTTPConfig
	client *http.Client
	ctype  string
}

// TLSConfig builds the client TLS configuration of an HTTP channel.
func (cfg *HTTPConfig) TLSConfig() (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: cfg.Insecure, MinVersion: tls.VersionTLS12}
	var pems [][]byte
	for _, f := range []string{cfg.CACert, cfg.CABundle} {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("http_output CA: %w", err)
		}
		pems = append(pems, b)
	}
	if cfg.CAPath != "" {
		ents, err := os.ReadDir(cfg.CAPath)
		if err != nil {
			return nil, fmt.Errorf("http_output ca_path: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join(cfg.CAPath, e.Name()))
			if err == nil {
				pems = append(pems, b)
			}
		}
	}
	if len(pems) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		added := false
		for _, p := range pems {
			if pool.AppendCertsFromPEM(p) {
				added = true
			}
		}
		if !added && (cfg.CACert != "" || cfg.CABundle != "") {
			return nil, errors.New("http_output: no PEM certificate found in ca_cert/ca_bundle")
		}
		tc.RootCAs = pool
	}
	if cfg.MTLS {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("http_output mtls: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// NewHTTP returns an HTTP channel; certificates are read now.
func NewHTTP(cfg HTTPConfig) (*HTTPChannel, error) {
	if cfg.URL == "" {
		return nil, errors.New("http_output: url is empty")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	tc, err := cfg.TLSConfig()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		DisableKeepAlives:   !cfg.KeepAlive,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		Proxy:               http.ProxyFromEnvironment,
	}
	c := &HTTPChannel{cfg: cfg, client: &http.Client{Transport: tr, Timeout: cfg.Timeout}}
	c.ctype = "text/plain"
	if cfg.Format.JSON {
		c.ctype = "application/json"
	}
	return c, nil
}

// Name implements Channel.
func (c *HTTPChannel) Name() string {
	if c.cfg.Name == "" {
		return "http"
	}
	return c.cfg.Name
}

// StatusError is a non-2xx answer.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return "http status " + strconv.Itoa(e.Code) }

func retryable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code == http.StatusTooManyRequests || se.Code >= 500
	}
	return true
}

// Write implements Channel.
func (c *HTTPChannel) Write(ctx context.Context, a *alert.Alert) error {
	body := append(c.cfg.Format.Line(a), '\n')
	if c.cfg.CompressUploads {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(body)
		zw.Close()
		body = zb.Bytes()
	}
	delay := c.cfg.Backoff
	var err error
	for attempt := 0; ; attempt++ {
		if err = c.post(ctx, body); err == nil || !retryable(err) || attempt >= c.cfg.MaxRetries || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		if delay *= 2; delay > c.cfg.MaxBackoff {
			delay = c.cfg.MaxBackoff
		}
	}
}

func (c *HTTPChannel) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", c.ctype)
	if c.cfg.CompressUploads {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", c.cfg.UserAgent)
	}
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if c.cfg.Echo != nil {
		io.Copy(c.cfg.Echo, io.LimitReader(resp.Body, 64<<10))
	} else {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{Code: resp.StatusCode}
	}
	return nil
}

// Close implements Channel.
func (c *HTTPChannel) Close(context.Context) error {
	c.client.CloseIdleConnections()
	return nil
}
