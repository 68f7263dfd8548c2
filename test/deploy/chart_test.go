package deploy

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/config"
)

var update = flag.Bool("update", false, "rewrite deploy/manifests/saker.yaml from the chart's defaults")

// manifestsPath is the plain manifests rendered from the chart's default values.
func manifestsPath(t *testing.T) string {
	root, err := testshared.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "deploy", "manifests", "saker.yaml")
}

func render(t *testing.T, values string) *Rendered {
	t.Helper()
	r, err := Render(values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func must(t *testing.T, r *Rendered, kind, name string) *unstructured.Unstructured {
	t.Helper()
	o := r.Find(kind, name)
	if o == nil {
		t.Fatalf("no %s %s rendered", kind, name)
	}
	return o
}

func field(t *testing.T, o *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s %s: no %s (%v)", o.GetKind(), o.GetName(), strings.Join(path, "."), err)
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// container returns the pod template's container (or init container) named name.
func container(t *testing.T, o *unstructured.Unstructured, list, name string) map[string]any {
	t.Helper()
	for _, c := range field(t, o, "spec", "template", "spec", list).([]any) {
		if c.(map[string]any)["name"] == name {
			return c.(map[string]any)
		}
	}
	t.Fatalf("%s %s: no %s %s", o.GetKind(), o.GetName(), list, name)
	return nil
}

// hostPaths maps the pod template's hostPath volumes to their paths.
func hostPaths(t *testing.T, o *unstructured.Unstructured) map[string]string {
	out := map[string]string{}
	for _, v := range field(t, o, "spec", "template", "spec", "volumes").([]any) {
		v := v.(map[string]any)
		if hp, ok := v["hostPath"].(map[string]any); ok {
			out[v["name"].(string)] = hp["path"].(string)
		}
	}
	return out
}

// TestChartDefaults renders the chart with its default values: the objects and kinds, the
// agent DaemonSet's host access (hostPID, the probe's capabilities and nothing more, the host
// paths, tolerations for every node, NODE_NAME), RBAC read-only on exactly the workload
// resources, the webhook's failure policy, exemptions and a caBundle that verifies the
// serving certificate for the Service's name; and the committed plain manifests are this
// rendering (with the generated certificates and token as placeholders).
func TestChartDefaults(t *testing.T) {
	r := render(t, "")
	var kinds []string
	for _, o := range r.Objects {
		kinds = append(kinds, o.GetKind()+"/"+o.GetName())
	}
	sort.Strings(kinds)
	want := []string{"ClusterRole/saker-agent", "ClusterRoleBinding/saker-agent", "ConfigMap/saker-admission-config", "ConfigMap/saker-config", "DaemonSet/saker-agent",
		"Deployment/saker-admission", "Secret/saker-admission-auth", "Secret/saker-admission-tls", "Service/saker-admission",
		"ServiceAccount/saker-admission", "ServiceAccount/saker-agent", "ValidatingWebhookConfiguration/saker"}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("objects %v\nwant %v", kinds, want)
	}
	for _, o := range r.Objects {
		if o.GetKind() != "ClusterRole" && o.GetKind() != "ClusterRoleBinding" && o.GetKind() != "ValidatingWebhookConfiguration" && o.GetNamespace() != ReleaseNamespace {
			t.Errorf("%s %s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}

	ds := must(t, r, "DaemonSet", "saker-agent")
	if field(t, ds, "spec", "template", "spec", "hostPID") != true {
		t.Error("the agent is not in the host PID namespace")
	}
	if tol := field(t, ds, "spec", "template", "spec", "tolerations").([]any); len(tol) != 1 || !reflect.DeepEqual(tol[0], map[string]any{"operator": "Exists"}) {
		t.Errorf("tolerations %v (want every taint tolerated)", tol)
	}
	c := container(t, ds, "containers", "saker")
	if !reflect.DeepEqual(strs(c["command"]), []string{"/usr/bin/saker"}) || !reflect.DeepEqual(strs(c["args"]), []string{"run", "-c", "/etc/saker/saker.yaml"}) {
		t.Errorf("command %v args %v", c["command"], c["args"])
	}
	sc := c["securityContext"].(map[string]any)
	caps := sc["capabilities"].(map[string]any)
	if !reflect.DeepEqual(strs(caps["add"]), []string{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"}) || !reflect.DeepEqual(strs(caps["drop"]), []string{"ALL"}) {
		t.Errorf("capabilities %v (want the systemd unit's set, the rest dropped)", caps)
	}
	if sc["privileged"] != nil || sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true || sc["runAsUser"] != float64(0) {
		t.Errorf("securityContext %v", sc)
	}
	env := c["env"].([]any)[0].(map[string]any)
	if env["name"] != "NODE_NAME" || !reflect.DeepEqual(env["valueFrom"], map[string]any{"fieldRef": map[string]any{"fieldPath": "spec.nodeName"}}) {
		t.Errorf("env %v", c["env"])
	}
	hp := hostPaths(t, ds)
	wantHP := map[string]string{"btf": "/sys/kernel/btf", "passwd": "/etc/passwd", "group": "/etc/group",
		"socket-0": "/var/run/docker.sock", "socket-1": "/run/containerd/containerd.sock", "socket-2": "/var/run/crio/crio.sock"}
	if !reflect.DeepEqual(hp, wantHP) {
		t.Errorf("host paths %v\nwant %v", hp, wantHP)
	}
	for _, m := range c["volumeMounts"].([]any) {
		if m.(map[string]any)["readOnly"] != true {
			t.Errorf("mount %v is writable", m)
		}
	}
	ic := container(t, ds, "initContainers", "rules")
	if !reflect.DeepEqual(strs(ic["args"]), []string{"rules", "install", "--force", "/var/lib/saker/rules"}) {
		t.Errorf("init container args %v", ic["args"])
	}
	conf := sakerYAML(t, r, "saker-config")
	if files := conf.RulesFiles; len(files) != 6 || files[0] != "/var/lib/saker/rules/saker_base.yaml" || !conf.JSONOutput || conf.Admission.Enabled {
		t.Errorf("the agent's saker.yaml: %+v", conf)
	}

	role := must(t, r, "ClusterRole", "saker-agent")
	got := map[string][]string{}
	for _, rule := range field(t, role, "rules").([]any) {
		rule := rule.(map[string]any)
		if v := strs(rule["verbs"]); !reflect.DeepEqual(v, []string{"get", "list", "watch"}) {
			t.Errorf("verbs %v (read-only expected)", v)
		}
		for _, g := range strs(rule["apiGroups"]) {
			got[g] = append(got[g], strs(rule["resources"])...)
		}
	}
	for g := range got {
		sort.Strings(got[g])
	}
	wantRes := map[string][]string{"": {"namespaces", "nodes", "pods", "replicationcontrollers", "services"},
		"apps": {"daemonsets", "deployments", "replicasets", "statefulsets"}, "batch": {"cronjobs", "jobs"}}
	if !reflect.DeepEqual(got, wantRes) {
		t.Errorf("ClusterRole resources %v\nwant %v", got, wantRes)
	}
	if sa := must(t, r, "ServiceAccount", "saker-admission"); sa.Object["automountServiceAccountToken"] != false {
		t.Error("the admission service account mounts a token it does not need")
	}

	whc := must(t, r, "ValidatingWebhookConfiguration", "saker")
	wh := field(t, whc, "webhooks").([]any)[0].(map[string]any)
	if wh["failurePolicy"] != "Fail" || wh["sideEffects"] != "None" || wh["timeoutSeconds"] != float64(5) {
		t.Errorf("webhook %v", wh)
	}
	sel := wh["namespaceSelector"].(map[string]any)["matchExpressions"].([]any)[0].(map[string]any)
	if sel["key"] != "kubernetes.io/metadata.name" || sel["operator"] != "NotIn" || !reflect.DeepEqual(strs(sel["values"]), []string{"kube-system", "saker"}) {
		t.Errorf("namespaceSelector %v", sel)
	}
	svc := wh["clientConfig"].(map[string]any)["service"].(map[string]any)
	if svc["name"] != "saker-admission" || svc["namespace"] != "saker" || svc["path"] != "/validate" {
		t.Errorf("service %v", svc)
	}
	dep := must(t, r, "Deployment", "saker-admission")
	if args := strs(container(t, dep, "containers", "admission")["args"]); !reflect.DeepEqual(args, []string{"run", "--no-probe", "-c", "/etc/saker/config/saker.yaml"}) {
		t.Errorf("admission args %v", args)
	}
	ac := sakerYAML(t, r, "saker-admission-config")
	if a := ac.Admission; !a.Enabled || a.Listen != "0.0.0.0:9766" || a.TokenFile != "/etc/saker/auth/token" || a.Cert != "/etc/saker/tls/tls.crt" ||
		!reflect.DeepEqual(a.ExemptNamespaces, []string{"kube-system", "saker"}) || !reflect.DeepEqual(a.ExemptGroups, []string{"system:nodes"}) ||
		len(ac.RulesFiles) != 0 || ac.K8sAudit.Enabled || !ac.JSONOutput {
		t.Errorf("the admission service's saker.yaml: %+v", ac)
	}

	// the caBundle verifies the serving certificate for the Service's DNS name
	caPEM := decode64(t, wh["clientConfig"].(map[string]any)["caBundle"].(string))
	tlsSecret := must(t, r, "Secret", "saker-admission-tls")
	certPEM := decode64(t, field(t, tlsSecret, "data", "tls.crt").(string))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("caBundle holds no certificate")
	}
	blk, _ := pem.Decode(certPEM)
	if blk == nil {
		t.Fatal("tls.crt holds no certificate")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "saker-admission.saker.svc"}); err != nil {
		t.Errorf("the serving certificate does not verify for the Service: %v", err)
	}

	// the plain manifests
	if *update {
		if err := os.WriteFile(manifestsPath(t), []byte(manifestsHeader+Normalize(r.Text)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(manifestsPath(t))
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != manifestsHeader+Normalize(r.Text) {
		t.Errorf("deploy/manifests/saker.yaml is not what the chart renders with its defaults: run go test ./test/deploy -run TestChartDefaults -update")
	}
	if strings.Contains(string(committed), "PRIVATE KEY") || strings.Count(string(committed), Placeholder) != 5 {
		t.Errorf("the plain manifests hold %d placeholders (want 5: tls.crt, tls.key, ca.crt, caBundle, token)", strings.Count(string(committed), Placeholder))
	}
}

const manifestsHeader = `# Saker's plain Kubernetes manifests, rendered from deploy/helm/saker with its default values
# (release saker, namespace saker; regenerate: go test ./test/deploy -run TestChartDefaults -update).
# The values the chart generates at install are GENERATED-AT-INSTALL here: make them first
# (see README.md, "Kubernetes").
`

func decode64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestChartValues renders non-default values: cert-manager instead of the generated CA, an
// open failure policy and more exempt namespaces, extra rules ConfigMaps, a privileged agent,
// the console address; then each component off.
func TestChartValues(t *testing.T) {
	r := render(t, `
console: {address: "console.example:7443"}
audit: {enabled: true, clusterName: prod}
rules:
  builtinLayers: [saker_base.yaml]
  extraConfigMaps: [team-rules]
agent:
  privileged: true
  extraArgs: ["-o", "log_level=debug"]
admission:
  failurePolicy: Ignore
  timeoutSeconds: 10
  excludeNamespaces: [monitoring]
  rulesConfigMaps: [admission-rules]
  auth: {tokenSecret: my-token, clientCAConfigMap: apiserver-ca}
  tls: {certManager: true}
`)
	if r.Find("Secret", "saker-admission-tls") != nil || r.Find("Secret", "saker-admission-auth") != nil {
		t.Error("secrets generated although cert-manager issues the certificate and the token secret is given")
	}
	crt := must(t, r, "Certificate", "saker-admission")
	if field(t, crt, "spec", "secretName") != "saker-admission-tls" || !slices.Contains(strs(field(t, crt, "spec", "dnsNames")), "saker-admission.saker.svc") {
		t.Errorf("certificate %v", crt.Object["spec"])
	}
	must(t, r, "Issuer", "saker-admission")
	whc := must(t, r, "ValidatingWebhookConfiguration", "saker")
	if whc.GetAnnotations()["cert-manager.io/inject-ca-from"] != "saker/saker-admission" {
		t.Errorf("annotations %v", whc.GetAnnotations())
	}
	wh := field(t, whc, "webhooks").([]any)[0].(map[string]any)
	if _, ok := wh["clientConfig"].(map[string]any)["caBundle"]; ok || wh["failurePolicy"] != "Ignore" || wh["timeoutSeconds"] != float64(10) {
		t.Errorf("webhook %v", wh)
	}
	sel := wh["namespaceSelector"].(map[string]any)["matchExpressions"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(strs(sel["values"]), []string{"kube-system", "saker", "monitoring"}) {
		t.Errorf("exempt namespaces %v", sel["values"])
	}
	ds := must(t, r, "DaemonSet", "saker-agent")
	c := container(t, ds, "containers", "saker")
	sc := c["securityContext"].(map[string]any)
	if sc["privileged"] != true || sc["capabilities"] != nil {
		t.Errorf("privileged agent: %v", sc)
	}
	if !reflect.DeepEqual(strs(c["args"]), []string{"run", "-c", "/etc/saker/saker.yaml", "-o", "log_level=debug"}) {
		t.Errorf("args %v", c["args"])
	}
	if !strings.Contains(toYAML(t, c["env"]), "console.example:7443") || ds.Object["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)["annotations"].(map[string]any)["saker.dev/console"] != "console.example:7443" {
		t.Errorf("console address not passed: %v", c["env"])
	}
	if !strings.Contains(toYAML(t, field(t, ds, "spec", "template", "spec", "volumes")), "name: team-rules") {
		t.Error("the extra rules ConfigMap is not mounted")
	}
	if files := sakerYAML(t, r, "saker-config").RulesFiles; !reflect.DeepEqual(files, []string{"/var/lib/saker/rules/saker_base.yaml", "/etc/saker/rules.d/team-rules"}) {
		t.Errorf("rules_files %v", files)
	}
	ac := sakerYAML(t, r, "saker-admission-config")
	if a := ac.Admission; a.ClientCA != "/etc/saker/client-ca/ca.crt" || !reflect.DeepEqual(a.ExemptNamespaces, []string{"kube-system", "saker", "monitoring"}) ||
		!reflect.DeepEqual(ac.RulesFiles, []string{"/etc/saker/rules.d/admission-rules"}) || !ac.K8sAudit.Enabled ||
		ac.K8sAudit.Webhook.Listen != "0.0.0.0:9765" || ac.K8sAudit.ClusterName != "prod" || ac.K8sAudit.Webhook.TLS.ClientCA != "/etc/saker/client-ca/ca.crt" {
		t.Errorf("the admission service's saker.yaml: %+v", ac)
	}
	if !strings.Contains(toYAML(t, must(t, r, "Service", "saker-admission").Object), "port: 9765") {
		t.Error("the audit port is not on the Service")
	}
	if y := toYAML(t, must(t, r, "Deployment", "saker-admission").Object); !strings.Contains(y, "secretName: my-token") || !strings.Contains(y, "name: apiserver-ca") {
		t.Errorf("auth volumes:\n%s", y)
	}

	r = render(t, "admission: {enabled: false}")
	if r.Find("ValidatingWebhookConfiguration", "saker") != nil || r.Find("Deployment", "saker-admission") != nil || r.Find("DaemonSet", "saker-agent") == nil {
		t.Error("admission.enabled=false")
	}
	r = render(t, "agent: {enabled: false}")
	if r.Find("DaemonSet", "saker-agent") != nil || r.Find("ClusterRole", "saker-agent") != nil || r.Find("Deployment", "saker-admission") == nil {
		t.Error("agent.enabled=false")
	}
}

// sakerYAML parses the saker.yaml of the rendered ConfigMap name as saker does.
func sakerYAML(t *testing.T, r *Rendered, name string) *config.Config {
	t.Helper()
	c, err := config.Parse(name+"/saker.yaml", []byte(field(t, must(t, r, "ConfigMap", name), "data", "saker.yaml").(string)), nil)
	if err != nil {
		t.Fatalf("the chart's saker.yaml (%s): %v", name, err)
	}
	return c
}

func toYAML(t *testing.T, v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
