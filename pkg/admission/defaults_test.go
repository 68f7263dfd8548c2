package admission

import (
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

func TestDefaultRules(t *testing.T) {
	override := loader.File{Name: "approved.yaml", Data: []byte("- list: admission_approved_repositories\n  items: [registry.example/team/app]\n  override:\n    items: append\n" +
		"- rule: Admission Deny Unapproved Image Repository\n  enabled: true\n  override:\n    enabled: replace\n")}
	rs, errs, warns := engine.Load([]loader.File{DefaultRules(), override}, engine.Options{Sources: Sources()})
	if len(errs)+len(warns) > 0 {
		t.Fatalf("errors %v warnings %v", errs, warns)
	}
	c := NewController(rs)
	img := `"image":"registry.example/team/app:1.2"`
	for _, tc := range []struct {
		name, spec, rule string
	}{
		{"priv", `{"containers":[{"name":"c",` + img + `,"securityContext":{"privileged":true}}]}`, "Privileged container refused"},
		{"initpriv", `{"initContainers":[{"name":"i",` + img + `,"securityContext":{"privileged":true}}],"containers":[{"name":"c",` + img + `}]}`, "Privileged container refused"},
		{"sock", `{"containers":[{"name":"c",` + img + `}],"volumes":[{"name":"s","hostPath":{"path":"/var/run/docker.sock"}}]}`, "sensitive host path refused"},
		{"pidroot", `{"hostPID":true,"containers":[{"name":"c",` + img + `,"securityContext":{"runAsUser":0}}]}`, "Root pod in the host PID namespace refused"},
		{"pidimage", `{"hostPID":true,"containers":[{"name":"c",` + img + `}]}`, "Root pod in the host PID namespace refused"},
		{"pidnonroot", `{"hostPID":true,"securityContext":{"runAsUser":1000},"containers":[{"name":"c",` + img + `}]}`, ""},
		{"unapproved", `{"containers":[{"name":"c","image":"evil.example/miner:1"}]}`, "Image from an unapproved repository refused"},
		{"ok", `{"containers":[{"name":"c",` + img + `}],"volumes":[{"name":"d","hostPath":{"path":"/data"}}]}`, ""},
	} {
		d := decide(t, c, review(tc.name, "CREATE", "team", tc.name, "", "alice", nil, podObject(tc.name, tc.spec)))
		if tc.rule == "" {
			if !d.Response.Allowed {
				t.Errorf("%s: denied: %s", tc.name, d.Response.Result.Message)
			}
			continue
		}
		if d.Response.Allowed || !strings.Contains(d.Response.Result.Message, tc.rule) || !strings.Contains(d.Response.Result.Message, "pod="+tc.name+" ns=team") {
			t.Errorf("%s: %+v %+v", tc.name, d.Response, d.Response.Result)
		}
	}
	// the same pods pass in an exempt namespace
	d := decide(t, c, review("sys", "CREATE", "kube-system", "priv", "", "alice", nil, podObject("priv", `{"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}]}`)))
	if !d.Response.Allowed {
		t.Error("exempt namespace denied")
	}
}
