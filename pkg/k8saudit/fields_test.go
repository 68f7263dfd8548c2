package k8saudit

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/rules/engine"
)

func loadEvent(t testing.TB, name string) *Event {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Parse(data)
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("%s: %v %v", name, err, res.Errs)
	}
	return res.Events[0]
}

func parseOne(t testing.TB, s string) *Event {
	t.Helper()
	res, err := Parse([]byte(s))
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("%s: %v %v", s, err, res.Errs)
	}
	return res.Events[0]
}

// render prints a field reference (with its argument) for ev as an output does; <NA> when
// the field has no value.
func render(t testing.TB, src fields.Source, ref string, ev *Event) string {
	t.Helper()
	o, err := engine.CompileOutput("%"+ref, src)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	return o.Render(ev, nil)
}

func TestFieldValues(t *testing.T) {
	src := NewFieldSource()
	ev := loadEvent(t, "privileged-pod.json")
	cases := []struct{ ref, want string }{
		{"ka.auditid", "0f4c8e2a-1b7d-4e0e-9c1a-3d3f2b9a7e11"},
		{"ka.stage", "ResponseComplete"},
		{"ka.auth.decision", "allow"},
		{"ka.auth.reason", `RBAC: allowed by ClusterRoleBinding "devs"`},
		{"ka.security.pod.violations", `would violate PodSecurity "restricted:latest"`},
		{"ka.validations.admission.policy.failure", "<NA>"},
		{"ka.auth.openshift.decision", "<NA>"},
		{"ka.user.name", "alice"},
		{"ka.user.groups", "(developers,system:authenticated)"},
		{"ka.impuser.name", "<NA>"},
		{"ka.verb", "create"},
		{"ka.uri", "/api/v1/namespaces/default/pods?fieldManager=kubectl-client-side-apply"},
		{"ka.uri.param[fieldManager]", "kubectl-client-side-apply"},
		{"ka.uri.param[nope]", "<NA>"},
		{"ka.target.name", "nginx-priv"},
		{"ka.target.namespace", "default"},
		{"ka.target.resource", "pods"},
		{"ka.target.subresource", "<NA>"},
		{"ka.target.pod.name", "nginx-priv"},
		{"ka.req.pod.containers.image", "(docker.io/library/nginx:1.27@sha256:abcd,falcosecurity/falco:0.39)"},
		{"ka.req.pod.containers.image[0]", "docker.io/library/nginx:1.27@sha256:abcd"},
		{"ka.req.pod.containers.image[1]", "falcosecurity/falco:0.39"},
		{"ka.req.pod.containers.image[2]", "<NA>"},
		{"ka.req.pod.containers.image.repository", "(docker.io/library/nginx,falcosecurity/falco)"},
		{"ka.req.container.image", "docker.io/library/nginx:1.27@sha256:abcd"},
		{"ka.req.container.image.repository", "docker.io/library/nginx"},
		{"ka.req.pod.containers.name", "(nginx,side)"},
		{"ka.req.pod.containers.command", "(nginx)"},
		{"ka.req.pod.containers.args", "(-g,daemon off;)"},
		{"ka.req.pod.containers.host_port", "(8080,443)"},
		{"ka.req.pod.containers.privileged", "(true)"},
		{"ka.req.pod.containers.privileged[1]", "<NA>"},
		{"ka.req.container.privileged", "true"},
		{"ka.req.pod.containers.allow_privilege_escalation", "(false)"},
		{"ka.req.pod.containers.read_only_fs", "(true)"},
		{"ka.req.pod.containers.run_as_user", "(1000)"},
		{"ka.req.pod.containers.eff_run_as_user", "(1000,2000)"},
		{"ka.req.pod.containers.eff_run_as_group", "(3000,3000)"},
		{"ka.req.pod.containers.run_as_group", "<NA>"},
		{"ka.req.pod.containers.proc_mount", "(Default)"},
		{"ka.req.pod.containers.add_capabilities", "(NET_ADMIN,SYS_TIME)"},
		{"ka.req.pod.run_as_user", "2000"},
		{"ka.req.pod.run_as_group", "3000"},
		{"ka.req.pod.fs_group", "4000"},
		{"ka.req.pod.supplemental_groups", "(5,6)"},
		{"ka.req.pod.host_network", "true"},
		{"ka.req.container.host_network", "true"},
		{"ka.req.pod.host_pid", "false"},
		{"ka.req.pod.host_ipc", "<NA>"},
		{"ka.req.pod.volumes.hostpath", "(/var/run/docker.sock)"},
		{"ka.req.pod.volumes.hostpath[0]", "/var/run/docker.sock"},
		{"ka.req.pod.volumes.hostpath[1]", "<NA>"},
		{"ka.req.volume.hostpath[/var/run/docker.sock]", "true"},
		{"ka.req.volume.hostpath[/var/run*]", "true"},
		{"ka.req.volume.hostpath[/etc]", "false"},
		{"ka.req.pod.volumes.flexvolume_driver", "(example/lvm)"},
		{"ka.req.pod.volumes.volume_type", "(hostPath,configMap,flexVolume)"},
		{"ka.req.pod.initContainers.name", "(init)"},
		{"ka.req.pod.initContainers.image", "(busybox:1.36)"},
		{"ka.req.pod.initContainers.image.repository", "(busybox)"},
		{"ka.req.pod.initContainers.command", "(sh,-c,true)"},
		{"ka.req.pod.initContainers.privileged", "<NA>"},
		{"ka.req.pod.initContainers.eff_run_as_user", "(2000)"},
		{"ka.req.pod.ephemeralContainers.image", "<NA>"},
		{"ka.req.binding.subjects", "<NA>"},
		{"ka.req.binding.subject.has_name[alice]", "true"},
		{"ka.resp.name", "nginx-priv"},
		{"ka.response.code", "201"},
		{"ka.response.reason", "<NA>"},
		{"ka.useragent", "kubectl/v1.37.2 (linux/amd64)"},
		{"ka.sourceips", "(127.0.0.1,10.0.0.7)"},
		{"ka.sourceips[1]", "10.0.0.7"},
		{"ka.cluster.name", "<NA>"},
		{"jevt.value[/stage]", "ResponseComplete"},
		{"jevt.value[/requestObject/spec/hostNetwork]", "true"},
		{"jevt.value[/requestObject/spec/volumes/0]", `{"name":"docker","hostPath":{"path":"/var/run/docker.sock","type":""}}`},
		{"jevt.value[/requestObject/spec/containers/1/image]", "falcosecurity/falco:0.39"},
		{"jevt.value[/annotations/authorization.k8s.io~1decision]", "allow"},
		{"jevt.value[/responseStatus/code]", "201"},
		{"jevt.value[/nope]", "<NA>"},
		{"jevt.rawtime", "1796191200123456789"},
		{"jevt.time", "06:00:00.123456789"},
		{"jevt.time.iso8601", "2026-12-02T06:00:00.123456789Z"},
	}
	for _, c := range cases {
		if got := render(t, src, c.ref, ev); got != c.want {
			t.Errorf("%s = %q, want %q", c.ref, got, c.want)
		}
	}
	if got := render(t, src, "jevt.obj", ev); len(got) < len(ev.Data) || got[:4] != "{\n  " {
		t.Errorf("jevt.obj %.40q: want the event indented by two spaces", got)
	}
}

func TestFieldsBindingRoleAndMissing(t *testing.T) {
	src := NewFieldSource()
	crb := parseOne(t, `{"kind":"Event","auditID":"b","stageTimestamp":"2026-12-02T06:00:00Z","verb":"create","objectRef":{"resource":"clusterrolebindings","name":"x"},
		"requestObject":{"kind":"ClusterRoleBinding","roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
		"subjects":[{"kind":"User","name":"mallory"},{"kind":"ServiceAccount","name":"sa1","namespace":"ns1"},{"kind":"Group","name":"ops"}]}}`)
	role := parseOne(t, `{"kind":"Event","auditID":"r","stageTimestamp":"2026-12-02T06:00:00Z","requestObject":{"kind":"ClusterRole","rules":[
		{"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]},{"nonResourceURLs":["/metrics"],"verbs":["*"]}]},
		"configmap":1}`)
	cm := parseOne(t, `{"kind":"Event","auditID":"c","stageTimestamp":"2026-12-02T06:00:00Z","objectRef":{"resource":"configmaps","name":"creds"},"requestObject":{"kind":"ConfigMap","data":{"aws_access_key_id":"AKIA","n":"1"}}}`)
	noID := parseOne(t, `{"kind":"Event","stageTimestamp":"2026-12-02T06:00:00Z","verb":"get","user":{"username":"u"}}`)
	cases := []struct {
		ev        *Event
		ref, want string
	}{
		{crb, "ka.req.binding.role", "cluster-admin"},
		{crb, "ka.req.binding.subjects", `({"kind":"User","name":"mallory"},{"kind":"ServiceAccount","name":"sa1","namespace":"ns1"},{"kind":"Group","name":"ops"})`},
		{crb, "ka.req.binding.subjects.user_names", "(mallory)"},
		{crb, "ka.req.binding.subjects.serviceaccount_names", "(sa1)"},
		{crb, "ka.req.binding.subjects.serviceaccount_ns_names", "(ns1:sa1)"},
		{crb, "ka.req.binding.subjects.group_names", "(ops)"},
		{crb, "ka.req.pod.containers.image", "<NA>"},
		{crb, "ka.req.container.privileged", "<NA>"},
		{crb, "ka.req.volume.hostpath[/]", "<NA>"},
		{role, "ka.req.role.rules.resources", "(pods,pods/exec)"},
		{role, "ka.req.role.rules.verbs", "(get,create,*)"},
		{role, "ka.req.role.rules.verbs[1]", "*"},
		{role, "ka.req.role.rules.apiGroups", "()"},
		{role, "ka.req.role.rules.nonResourceURLs", "(/metrics)"},
		{role, "ka.req.role.rules", `({"apiGroups":[""],"resources":["pods","pods/exec"],"verbs":["get","create"]},{"nonResourceURLs":["/metrics"],"verbs":["*"]})`},
		{cm, "ka.req.configmap.name", "creds"},
		{cm, "ka.req.configmap.obj", `{"aws_access_key_id":"AKIA","n":"1"}`},
		{cm, "ka.target.pod.name", "<NA>"},
		{noID, "ka.verb", "<NA>"},
		{noID, "ka.user.name", "<NA>"},
		{noID, "jevt.value[/verb]", "get"},
	}
	for _, c := range cases {
		if got := render(t, src, c.ref, c.ev); got != c.want {
			t.Errorf("%s (event %s) = %q, want %q", c.ref, c.ev.AuditID(), got, c.want)
		}
	}
}

func TestJSONPointerEscapes(t *testing.T) {
	src := NewFieldSource()
	ev := parseOne(t, `{"kind":"Event","auditID":"p","stageTimestamp":"2026-12-02T06:00:00Z","m":{"a/b":"slash","c~d":"tilde","~1":"lit","":{"x":"empty"}},"l":[10,[20,21]]}`)
	for ref, want := range map[string]string{
		"jevt.value[/m/a~1b]": "slash",
		"jevt.value[/m/c~0d]": "tilde",
		"jevt.value[/m/~01]":  "lit",
		"jevt.value[/m//x]":   "empty",
		"jevt.value[/l/1/0]":  "20",
		"jevt.value[/l/01]":   "<NA>",
		"jevt.value[/l/2]":    "<NA>",
		"jevt.value[/l]":      "[10,[20,21]]",
		"jevt.value[m/a~1b]":  "slash",
	} {
		if got := render(t, src, ref, ev); got != want {
			t.Errorf("%s = %q, want %q", ref, got, want)
		}
	}
}

// Conditions on the fields: list operators, intersects on a scalar, contains on a list,
// exists on missing values.
func TestFieldConditions(t *testing.T) {
	src := NewFieldSource()
	ev := loadEvent(t, "privileged-pod.json")
	cases := []struct {
		cond string
		want bool
	}{
		{"ka.req.pod.containers.privileged intersects (true)", true},
		{"ka.req.pod.initContainers.privileged intersects (true)", false},
		{"ka.req.pod.host_network intersects (true)", true},
		{"ka.req.pod.host_pid intersects (true)", false},
		{"ka.req.pod.host_ipc intersects (true)", false},
		{"ka.req.pod.containers.image contains falco", true},
		{"ka.req.pod.containers.image contains redis", false},
		{"ka.req.pod.containers.image.repository in (docker.io/library/nginx, falcosecurity/falco)", true},
		{"ka.req.pod.containers.image.repository in (falcosecurity/falco)", false},
		{"ka.req.pod.volumes.hostpath intersects (/proc, /var/run/docker.sock)", true},
		{"ka.req.volume.hostpath[/var/run/docker.sock]=true", true},
		{"ka.req.container.image startswith docker.io/", true},
		{"ka.req.binding.subject.has_name[alice]=true", true},
		{"ka.req.pod.containers.image[1] = falcosecurity/falco:0.39", true},
		{"ka.target.subresource exists", false},
		{"ka.user.groups intersects (developers)", true},
		{"jevt.value[/stage] in (ResponseComplete)", true},
		{"jevt.rawtime exists and not jevt.rawtime=0", true},
		{"ka.response.code startswith 2", true},
		{"ka.uri.param[fieldManager] = kubectl-client-side-apply", true},
	}
	for _, c := range cases {
		f, err := compiler.CompileFilter(c.cond, src)
		if err != nil {
			t.Errorf("%s: %v", c.cond, err)
			continue
		}
		if got := f(ev); got != c.want {
			t.Errorf("%s = %v, want %v", c.cond, got, c.want)
		}
	}
}
