package webauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCertPool(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ca.pem")
	os.WriteFile(good, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate\n"), 0o600)

	pool, err := CertPool(good)
	if err != nil || pool == nil {
		t.Fatalf("good CA: %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("the pool does not hold the CA: %v", err)
	}
	if _, err := CertPool(bad); err == nil || !strings.Contains(err.Error(), bad+": no PEM certificate") {
		t.Errorf("bad file: %v", err)
	}
	if _, err := CertPool(filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing file: %v", err)
	}
}

func TestTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(file, []byte("# comment\n\n  from-file  \n"), 0o600)
	ts, err := LoadTokens([]string{"listed"}, file)
	if err != nil || len(ts) != 2 {
		t.Fatalf("LoadTokens: %d tokens, %v", len(ts), err)
	}
	for tok, want := range map[string]bool{"Bearer listed": true, "Bearer from-file": true,
		"Bearer other": false, "listed": false, "": false, "Bearer ": false} {
		r, _ := http.NewRequest("POST", "https://127.0.0.1/", nil)
		if tok != "" {
			r.Header.Set("Authorization", tok)
		}
		if got := ts.Authorized(r); got != want {
			t.Errorf("Authorization %q: %v, want %v", tok, got, want)
		}
	}
	if _, err := LoadTokens([]string{""}, ""); err == nil {
		t.Error("an empty token was accepted")
	}
	if _, err := LoadTokens(nil, file+".missing"); err == nil {
		t.Error("a missing token file was accepted")
	}
	var none Tokens
	r, _ := http.NewRequest("POST", "https://127.0.0.1/", nil)
	r.Header.Set("Authorization", "Bearer ")
	if none.Authorized(r) {
		t.Error("no tokens configured, yet authorized")
	}
}
