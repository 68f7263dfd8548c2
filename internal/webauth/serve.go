package webauth

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// ServerTLS is a webhook endpoint's TLS configuration: the serving pair of certFile and
// keyFile (TLS 1.2 at least) and, when caFile is set, client certificates verified against
// it when a client gives one (clients without one may still present a bearer token).
func ServerTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := CertPool(caFile)
		if err != nil {
			return nil, err
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return conf, nil
}

// Timeouts bound a connection's request reading and response writing (0: no bound).
type Timeouts struct{ Read, Write time.Duration }

// Endpoint is an HTTP(S) server the webhook endpoints run: 10 s to read a request's headers,
// 64 KiB of them at most, idle connections closed after 2 minutes, TLS handshake errors (from
// scanners) not logged.
type Endpoint struct {
	ln     net.Listener
	srv    *http.Server
	served chan struct{}
	err    error
}

// Listen listens on addr and serves h there in the background, over TLS when conf is set.
func Listen(addr string, h http.Handler, conf *tls.Config, t Timeouts) (*Endpoint, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	e := &Endpoint{ln: ln, served: make(chan struct{}), srv: &http.Server{
		Handler:           h,
		TLSConfig:         conf,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
	}}
	go func() {
		defer close(e.served)
		var err error
		if conf != nil {
			err = e.srv.ServeTLS(ln, "", "")
		} else {
			err = e.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.err = err
		}
	}()
	return e, nil
}

// Addr is the listening address.
func (e *Endpoint) Addr() net.Addr { return e.ln.Addr() }

// Close stops the server at once (connections closed) and waits for it.
func (e *Endpoint) Close() error {
	err := e.srv.Close()
	<-e.served
	return err
}

// Shutdown stops accepting, lets requests in progress finish within grace (then closes the
// rest), waits for the server and returns the first error, a serving failure included.
func (e *Endpoint) Shutdown(grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	if err != nil {
		e.srv.Close()
	}
	<-e.served
	if err == nil {
		err = e.err
	}
	return err
}
