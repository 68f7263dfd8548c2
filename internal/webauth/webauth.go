// Package webauth is the authentication the webhook endpoints share (the k8s audit webhook and
// the admission webhook): bearer tokens from the configuration and a token file, kept as
// hashes and compared in constant time, client certificates verified against a CA file, and
// the CA file's reading, so each endpoint reports a bad file the same way.
package webauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// CertPool reads a PEM file of CA certificates (a client CA). The error names the file; a file
// without any PEM certificate is an error, not an empty pool that would refuse every client.
func CertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate", file)
	}
	return pool, nil
}

// Tokens are accepted bearer tokens, as SHA-256 hashes.
type Tokens [][32]byte

// LoadTokens takes the tokens listed and those of file (one per line; blank lines and lines
// starting with # ignored; none when file is empty). An empty token is an error.
func LoadTokens(list []string, file string) (Tokens, error) {
	all := append([]string(nil), list...)
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				all = append(all, l)
			}
		}
	}
	var ts Tokens
	for _, t := range all {
		if t == "" {
			return nil, errors.New("empty bearer token")
		}
		ts = append(ts, sha256.Sum256([]byte(t)))
	}
	return ts, nil
}

// Authorized reports whether r presented a verified client certificate or one of the tokens
// as `Authorization: Bearer TOKEN`.
func (ts Tokens) Authorized(r *http.Request) bool {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || len(ts) == 0 {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for i := range ts {
		match |= subtle.ConstantTimeCompare(sum[:], ts[i][:])
	}
	return match == 1
}
