package output

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// testAlert returns the i-th test alert: rule "R<i%3>", a priority cycling over all eight,
// output fields with a string, a number and a null.
func testAlert(i int) *alert.Alert {
	return &alert.Alert{
		Time:     time.Date(2024, 5, 6, 7, 8, 9, 123456789+i, time.UTC),
		Rule:     fmt.Sprintf("R%d", i%3),
		Priority: loader.Priority(i % 8),
		Source:   "syscall",
		Tags:     []string{"t1", "t2"},
		Output:   fmt.Sprintf("event %d (proc.name=cat fd.name=<NA>)", i),
		OutputFields: map[string]any{
			"proc.name": "cat", "evt.num": uint64(i), "fd.name": nil,
		},
		Hostname: "host1",
	}
}

var priorityNames = map[string]bool{"Emergency": true, "Alert": true, "Critical": true, "Error": true,
	"Warning": true, "Notice": true, "Informational": true, "Debug": true}

var timeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`)

// checkFalcoJSON checks one JSON alert against Falco's schema (the keys Falco writes with
// json_include_output_property and json_include_tags_property on, their types, full priority
// names, RFC 3339 UTC time with nanoseconds) and falcosidekick's acceptance rule (priority,
// rule, time and non-empty output_fields present). It returns the decoded object.
func checkFalcoJSON(body []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not JSON: %v: %q", err, body)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, ","); got != "hostname,output,output_fields,priority,rule,source,tags,time" {
		return nil, fmt.Errorf("keys %s", got)
	}
	for _, k := range []string{"hostname", "output", "priority", "rule", "source", "time"} {
		if _, ok := m[k].(string); !ok {
			return nil, fmt.Errorf("%s is %T, want string", k, m[k])
		}
	}
	if !priorityNames[m["priority"].(string)] {
		return nil, fmt.Errorf("priority %q is not one of Falco's names", m["priority"])
	}
	if m["rule"] == "" {
		return nil, fmt.Errorf("empty rule")
	}
	ts := m["time"].(string)
	if !timeRE.MatchString(ts) {
		return nil, fmt.Errorf("time %q is not RFC 3339 UTC with nanoseconds", ts)
	}
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		return nil, err
	}
	of, ok := m["output_fields"].(map[string]any)
	if !ok || len(of) == 0 {
		return nil, fmt.Errorf("output_fields %v: want a non-empty object", m["output_fields"])
	}
	if _, ok := m["tags"].([]any); !ok {
		return nil, fmt.Errorf("tags is %T, want array", m["tags"])
	}
	// Falco's output is the text line: time, priority, rendered output
	if !strings.Contains(m["output"].(string), ": "+m["priority"].(string)+" ") {
		return nil, fmt.Errorf("output %q lacks ': <priority> '", m["output"])
	}
	return m, nil
}

type certs struct {
	dir                           string
	caFile, serverCert, serverKey string
	clientCert, clientKey         string
	caPool                        *x509.CertPool
}

// makeCerts writes a CA, a server certificate for 127.0.0.1 and a client certificate, all
// signed by the CA, as PEM files in a temporary directory.
func makeCerts(t *testing.T) *certs {
	t.Helper()
	dir := t.TempDir()
	c := &certs{dir: dir}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "saker test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	c.caPool = x509.NewCertPool()
	c.caPool.AddCert(ca)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c.caFile = write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	c.serverCert, c.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	c.clientCert, c.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth, nil)
	return c
}

// waitFor polls cond until it holds (a counter reached a value), failing after 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func statsOf(m *Manager, name string) ChannelStats {
	for _, s := range m.Stats() {
		if s.Name == name {
			return s
		}
	}
	return ChannelStats{}
}
