package admission

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testpki"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// benchRules are the built-in admission rules (4 enabled) plus 46 more of the usual shapes (image
// repositories, capabilities, host paths, namespaces and users, run-as users), 50 in all.
func benchRules(b *testing.B) *engine.Ruleset {
	var y strings.Builder
	for i := range 46 {
		fmt.Fprintf(&y, "- list: bench_list_%d\n  items: [", i)
		for j := range 20 {
			if j > 0 {
				y.WriteString(", ")
			}
			switch i % 5 {
			case 0:
				fmt.Fprintf(&y, "registry%d.example/team/app%d", i, j)
			case 1:
				fmt.Fprintf(&y, "CAP_%d_%d", i, j)
			case 2:
				fmt.Fprintf(&y, "/host/%d/%d", i, j)
			default:
				fmt.Fprintf(&y, "user-%d-%d", i, j)
			}
		}
		y.WriteString("]\n")
		var cond string
		switch i % 5 {
		case 0:
			cond = fmt.Sprintf("ka.req.pod.containers.image.repository intersects (bench_list_%d)", i)
		case 1:
			cond = fmt.Sprintf("ka.req.pod.containers.add_capabilities intersects (bench_list_%d)", i)
		case 2:
			cond = fmt.Sprintf("ka.req.pod.volumes.hostpath intersects (bench_list_%d)", i)
		case 3:
			cond = fmt.Sprintf("ka.target.namespace=ns-%d and ka.user.name in (bench_list_%d)", i, i)
		case 4:
			cond = fmt.Sprintf("ka.req.pod.containers.eff_run_as_user intersects (%d) and ka.req.pod.containers.name intersects (bench_list_%d)", 10000+i, i)
		}
		fmt.Fprintf(&y, "- rule: Bench Rule %d\n  desc: d\n  condition: adm_pod_create and %s\n  output: bench %d (user=%%ka.user.name pod=%%ka.target.name ns=%%ka.target.namespace images=%%ka.req.pod.containers.image)\n  priority: WARNING\n  source: k8s_admission\n  action: deny\n", i, cond, i)
	}
	rs, errs, warns := engine.Load([]loader.File{DefaultRules(), {Name: "bench.yaml", Data: []byte(y.String())}}, engine.Options{Sources: Sources()})
	if len(errs)+len(warns) > 0 {
		b.Fatal(errs, warns)
	}
	n := 0
	for _, r := range rs.Enabled() {
		if r.Source == SourceName {
			n++
		}
	}
	if n != 50 {
		b.Fatalf("%d enabled admission rules", n)
	}
	return rs
}

// benchPod is a pod as the API server sends it after defaulting (two containers, env,
// volumes, the defaults every pod gets), about 2.7 KB.
const benchPod = `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-7d4b9c","generateName":"web-","namespace":"shop",` +
	`"uid":"2b1c3e52-3a9f-4f07-9d2c-0e1a6a0b8f11","creationTimestamp":null,"labels":{"app":"web","pod-template-hash":"7d4b9c","tier":"frontend"},` +
	`"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-12-01T10:00:00Z"},"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d4b9c","uid":"9f0e","controller":true,"blockOwnerDeletion":true}]},` +
	`"spec":{"volumes":[{"name":"cfg","configMap":{"name":"web-cfg","defaultMode":420}},{"name":"cache","emptyDir":{}},` +
	`{"name":"kube-api-access-x1","projected":{"sources":[{"serviceAccountToken":{"expirationSeconds":3607,"path":"token"}},{"configMap":{"name":"kube-root-ca.crt","items":[{"key":"ca.crt","path":"ca.crt"}]}}],"defaultMode":420}}],` +
	`"containers":[{"name":"web","image":"registry.example/shop/web:2.14.1","ports":[{"name":"http","containerPort":8080,"protocol":"TCP"}],` +
	`"env":[{"name":"MODE","value":"production"},{"name":"CACHE_DIR","value":"/cache"},{"name":"POD_NAME","valueFrom":{"fieldRef":{"apiVersion":"v1","fieldPath":"metadata.name"}}}],` +
	`"resources":{"limits":{"cpu":"500m","memory":"256Mi"},"requests":{"cpu":"100m","memory":"128Mi"}},` +
	`"volumeMounts":[{"name":"cfg","readOnly":true,"mountPath":"/etc/web"},{"name":"cache","mountPath":"/cache"},{"name":"kube-api-access-x1","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],` +
	`"livenessProbe":{"httpGet":{"path":"/healthz","port":8080,"scheme":"HTTP"},"timeoutSeconds":1,"periodSeconds":10,"successThreshold":1,"failureThreshold":3},` +
	`"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent",` +
	`"securityContext":{"runAsUser":1000,"runAsNonRoot":true,"readOnlyRootFilesystem":true,"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}},` +
	`{"name":"sidecar","image":"registry.example/infra/log-shipper:1.3.0","resources":{"limits":{"memory":"64Mi"},"requests":{"cpu":"10m","memory":"32Mi"}},` +
	`"volumeMounts":[{"name":"cache","mountPath":"/cache","readOnly":true},{"name":"kube-api-access-x1","readOnly":true,"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount"}],` +
	`"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File","imagePullPolicy":"IfNotPresent","securityContext":{"runAsUser":1001,"allowPrivilegeEscalation":false}}],` +
	`"restartPolicy":"Always","terminationGracePeriodSeconds":30,"dnsPolicy":"ClusterFirst","serviceAccountName":"web","serviceAccount":"web",` +
	`"securityContext":{"fsGroup":2000},"schedulerName":"default-scheduler","tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300},` +
	`{"key":"node.kubernetes.io/unreachable","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":true,"preemptionPolicy":"PreemptLowerPriority"},"status":{}}`

func benchReview() []byte {
	return review("3f2a9b1e-5c7d-4e8f-a1b2-c3d4e5f60718", "CREATE", "shop", "web-7d4b9c", "", "system:serviceaccount:kube-system:replicaset-controller",
		[]string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}, benchPod)
}

// reportPercentiles adds p50 and p99 of the per-iteration times.
func reportPercentiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	if len(d) == 0 {
		return
	}
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkReview is one review without the network: decoding the AdmissionReview, the
// audit-shaped document, 50 rules, the response's encoding. The pod is admitted (every rule
// evaluated to the end).
func BenchmarkReview(b *testing.B) {
	c := NewController(benchRules(b))
	body := benchReview()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	times := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		rv, err := DecodeReview(body)
		if err != nil {
			b.Fatal(err)
		}
		d, err := c.Review(rv.Request)
		if err != nil || !d.Response.Allowed {
			b.Fatal(err, d)
		}
		times = append(times, time.Since(t0))
	}
	reportPercentiles(b, times)
}

// BenchmarkReviewHTTPS is one review through the HTTPS endpoint on loopback (keep-alive
// connection, bearer token), as the API server sends it.
func BenchmarkReviewHTTPS(b *testing.B) {
	p := testpki.New(b, "admission test")
	s, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", CertFile: p.CertFile, KeyFile: p.KeyFile, Tokens: []string{"t"}}, NewController(benchRules(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}}}
	body := benchReview()
	times := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		req, _ := http.NewRequest("POST", s.URL(), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(out, []byte(`"allowed":true`)) {
			b.Fatalf("%d %s", resp.StatusCode, out)
		}
		times = append(times, time.Since(t0))
	}
	reportPercentiles(b, times)
}
