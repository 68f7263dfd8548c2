package rulestest

import (
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/loader"
)

// containerRules use container metadata in conditions, outputs and exceptions.
const containerRules = `
- required_engine_version: 0.50.0
- rule: Shell in container
  desc: test rule
  condition: evt.type = execve and evt.dir=< and proc.name = sh and container.id != host
  exceptions:
    - name: debug_images
      fields: [container.image.repository]
      values: [[docker.io/library/busybox]]
  output: shell (image=%container.image.repository tag=%container.image.tag name=%container.name pod=%k8s.pod.name ns=%k8s.ns.name app=%k8s.pod.label[app] privileged=%container.privileged)
  priority: NOTICE
- rule: Privileged container with host etc
  desc: test rule
  condition: evt.type = execve and evt.dir=< and container.privileged = true and container.mount.dest[/etc] = /host/etc and container.label[team] = payments
  output: privileged (mount=%container.mount.source[/host/etc] labels=%container.labels)
  priority: WARNING
- rule: Pod in namespace prod
  desc: test rule
  condition: evt.type = execve and evt.dir=< and k8s.ns.name = prod and k8s.pod.label[tier] = front
  output: prod pod (pod=%k8s.pod.name)
  priority: NOTICE
`

// TestContainerMetadata checks that a case's `containers:` reach the container fields: an
// image-based exception silences a rule for one image only, privilege, mounts and labels
// are seen by conditions, and Kubernetes pod metadata fills k8s.* fields.
func TestContainerMetadata(t *testing.T) {
	r, err := NewRunner([]loader.File{{Name: "ctr_rules.yaml", Data: []byte(containerRules)}})
	if err != nil {
		t.Fatal(err)
	}
	res := runYAML(t, r, `tests:
  - name: pass nginx image is not excepted
    containers: [{id: 0123456789ab, name: web, image: "docker.io/library/nginx:1.25", pod: {name: web-0, namespace: prod, labels: {app: shop, tier: front}}}]
    exec: {name: sh, container: 0123456789ab, parent: {name: runc, container: 0123456789ab}}
    expect:
      - {rule: Shell in container, output: {container.image.repository: docker.io/library/nginx, container.image.tag: "1.25", container.name: web, k8s.pod.name: web-0, k8s.ns.name: prod, "k8s.pod.label[app]": shop, container.privileged: "false"}}
      - {rule: Pod in namespace prod, output: {k8s.pod.name: web-0}}
    expect_not: [Privileged container with host etc]
  - name: pass busybox image is excepted
    containers: [{id: 0123456789ab, image: "docker.io/library/busybox:1.36"}]
    rule: Shell in container
    match: false
    exec: {name: sh, container: 0123456789ab, parent: {name: runc, container: 0123456789ab}}
  - name: fail busybox image is excepted but the case says it fires
    containers: [{id: 0123456789ab, image: "docker.io/library/busybox:1.36"}]
    rule: Shell in container
    exec: {name: sh, container: 0123456789ab, parent: {name: runc, container: 0123456789ab}}
  - name: pass privileged with mount and label
    containers: [{id: abcdefabcdef, privileged: true, labels: {team: payments}, mounts: [{source: /etc, destination: /host/etc}]}]
    exec: {name: sh, container: abcdefabcdef, parent: {name: runc, container: abcdefabcdef}}
    expect: [{rule: Privileged container with host etc, output: {"container.mount.source[/host/etc]": /etc}}]
  - name: pass not privileged
    containers: [{id: abcdefabcdef, privileged: false, labels: {team: payments}, mounts: [{source: /etc, destination: /host/etc}]}]
    exec: {name: sh, container: abcdefabcdef, parent: {name: runc, container: abcdefabcdef}}
    expect_not: [Privileged container with host etc]
  - name: pass no metadata leaves the fields empty
    exec: {name: sh, container: 0123456789ab, parent: {name: runc, container: 0123456789ab}}
    expect: [{rule: Shell in container, output: {container.image.repository: "<NA>"}}]
`)
	for _, x := range res {
		want := strings.HasPrefix(x.Case.Name, "pass")
		if x.Passed() != want {
			t.Errorf("%s: passed=%v, want %v (failures: %v)", x.Case.Name, x.Passed(), want, x.Failures)
		}
	}
}

// TestContainerSpecErrors checks that bad container descriptions are errors naming the line.
func TestContainerSpecErrors(t *testing.T) {
	for _, tc := range []struct{ y, want string }{
		{"tests:\n  - {containers: [{id: XYZ}], exec: {name: sh}, expect: []}\n", "cases.yaml:2:"},
		{"tests:\n  - {containers: [{id: 0123456789ab, imgae: x}], exec: {name: sh}, expect: []}\n", `unknown key "imgae"`},
		{"tests:\n  - {containers: [{id: 0123456789ab, type: lxd}], exec: {name: sh}, expect: []}\n", "unknown container type"},
		{"tests:\n  - {containers: [{id: 0123456789ab}, {id: 0123456789ab}], exec: {name: sh}, expect: []}\n", "described twice"},
	} {
		_, err := Parse("cases.yaml", []byte(tc.y))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.y, err, tc.want)
		}
	}
}
