package metrics

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// selfSigned writes a PEM file holding a certificate for 127.0.0.1 and its key (the
// ssl_certificate layout) and returns it with a pool trusting it.
func selfSigned(t *testing.T) (string, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "saker"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	path := filepath.Join(t.TempDir(), "saker.pem")
	data := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return path, pool
}

// TestServerPrepare reconfigures a running endpoint in place, as a reload that keeps its
// address does: HTTPS on with another health path and /metrics off, then back to HTTP; a
// broken certificate fails Prepare and changes nothing; another address is refused. The
// registry's counters are the same throughout.
func TestServerPrepare(t *testing.T) {
	m := New("test")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := ServerConfig{ListenPort: port, Metrics: true}
	srv, err := m.Serve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	m.EventsRead.Add(42)
	certFile, pool := selfSigned(t)
	plain := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	secure := &http.Client{Transport: &http.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	status := func(c *http.Client, url string) int {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	base := "127.0.0.1:" + strconv.Itoa(port)
	if s := status(plain, "http://"+base+"/metrics"); s != 200 {
		t.Fatalf("/metrics: %d", s)
	}

	if !srv.SameAddress(ServerConfig{ListenPort: port}) || srv.SameAddress(ServerConfig{ListenPort: port + 1}) ||
		srv.SameAddress(ServerConfig{ListenAddress: "0.0.0.0", ListenPort: port}) {
		t.Error("SameAddress")
	}
	if _, err := srv.Prepare(ServerConfig{ListenPort: port + 1}); err == nil {
		t.Error("Prepare accepted another port")
	}
	if _, err := srv.Prepare(ServerConfig{ListenPort: port, CertFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Error("Prepare accepted a missing certificate")
	}
	if s := status(plain, "http://"+base+"/metrics"); s != 200 {
		t.Fatalf("after a failed Prepare, /metrics: %d", s)
	}

	commit, err := srv.Prepare(ServerConfig{ListenPort: port, CertFile: certFile, HealthzPath: "/health"})
	if err != nil {
		t.Fatal(err)
	}
	if s := status(plain, "http://"+base+"/healthz"); s != 200 {
		t.Fatalf("Prepare took effect before commit: /healthz %d", s)
	}
	commit()
	if s := status(secure, "https://"+base+"/health"); s != 200 {
		t.Errorf("HTTPS /health after commit: %d", s)
	}
	if s := status(secure, "https://"+base+"/metrics"); s != 404 {
		t.Errorf("/metrics turned off, yet answers %d", s)
	}
	if s := status(plain, "http://"+base+"/health"); s == 200 {
		t.Error("plain HTTP still answered after HTTPS was turned on")
	}

	commit, err = srv.Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	mfs := scrape(t, srv.Addr())
	if got := mfs["saker_events_read_total"].GetMetric()[0].GetCounter().GetValue(); got != 42 {
		t.Errorf("saker_events_read_total %v after two reconfigurations, want 42", got)
	}
}
