// Package tlsfiles reads the certificate files Saker's HTTPS endpoints are configured with
// (the web server, the k8s audit webhook, the admission webhook), so each of them reports a
// bad file the same way.
package tlsfiles

import (
	"crypto/x509"
	"fmt"
	"os"
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
