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
	"strings"
	"testing"
	"time"
)

func serve(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	s, err := New("test").Serve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func status(t *testing.T, c *http.Client, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// With a token file, every path needs the bearer token: none or a wrong one gets 401, the
// right one 200; open_health opens the health and readiness paths only. A reload (Prepare)
// reads the file again.
func TestServerBearerToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := ServerConfig{Metrics: true, TokenFile: tokenFile, ListenPort: port}
	s := serve(t, cfg)
	base := "http://" + s.Addr()
	c := http.DefaultClient
	for _, p := range []string{"/metrics", "/healthz", "/readyz", "/version"} {
		if got := status(t, c, base+p, ""); got != 401 {
			t.Errorf("%s without the token: %d, want 401", p, got)
		}
		if got := status(t, c, base+p, "wrong"); got != 401 {
			t.Errorf("%s with a wrong token: %d, want 401", p, got)
		}
		if got := status(t, c, base+p, "s3cret-token"); got != 200 {
			t.Errorf("%s with the token: %d, want 200", p, got)
		}
	}
	cfg.OpenHealth = true
	commit, err := s.Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	if status(t, c, base+"/healthz", "") != 200 || status(t, c, base+"/readyz", "") != 200 || status(t, c, base+"/metrics", "") != 401 {
		t.Errorf("open_health: /healthz %d /readyz %d /metrics %d", status(t, c, base+"/healthz", ""),
			status(t, c, base+"/readyz", ""), status(t, c, base+"/metrics", ""))
	}
	os.WriteFile(tokenFile, []byte("rotated"), 0o600)
	commit, err = s.Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	commit()
	if status(t, c, base+"/metrics", "s3cret-token") != 401 || status(t, c, base+"/metrics", "rotated") != 200 {
		t.Error("the token file was not read again")
	}
	os.WriteFile(tokenFile, nil, 0o600)
	if _, err := s.Prepare(cfg); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("an empty token file: %v", err)
	}
}

// certs makes a CA and a certificate it signs for 127.0.0.1 (server) or a client.
type pki struct {
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	serial int64
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &pki{ca: ca, caKey: key, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), serial: 1}
}

func (p *pki) issue(t *testing.T, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	p.serial++
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tmpl.Subject.CommonName = "saker"
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// With a client CA, the TLS handshake refuses a client without a certificate, and one whose
// certificate another CA signed; a client with a certificate of the CA gets 200.
func TestServerMutualTLS(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t)
	srvCert, srvKey := p.issue(t, true)
	combined := filepath.Join(dir, "saker.pem")
	os.WriteFile(combined, append(srvCert, srvKey...), 0o600)
	caFile := filepath.Join(dir, "clients-ca.pem")
	os.WriteFile(caFile, p.caPEM, 0o600)
	s := serve(t, ServerConfig{Metrics: true, CertFile: combined, ClientCAFile: caFile})
	url := "https://" + s.Addr() + "/healthz"
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	if resp, err := client().Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("no client certificate: %d, want the handshake refused", resp.StatusCode)
	}
	other := newPKI(t)
	oc, ok := other.issue(t, false)
	bad, _ := tls.X509KeyPair(oc, ok)
	if resp, err := client(bad).Get(url); err == nil {
		resp.Body.Close()
		t.Fatalf("a certificate of another CA: %d, want the handshake refused", resp.StatusCode)
	}
	cc, ck := p.issue(t, false)
	good, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	if got := status(t, client(good), url, ""); got != 200 {
		t.Errorf("with a client certificate of the CA: %d, want 200", got)
	}
	// client certificates without HTTPS are a configuration error, not an open endpoint
	if _, err := New("test").Serve(ServerConfig{ClientCAFile: caFile}); err == nil {
		t.Error("client_ca without a server certificate was accepted")
	}
}
