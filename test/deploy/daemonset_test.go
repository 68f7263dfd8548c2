package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/internal/testshared"
)

// podRun turns a rendered pod template's container into `docker run` flags the way a kubelet
// would run it on this node: hostPID, user, read-only root, capabilities, seccomp/AppArmor,
// no-new-privileges, environment (the downward API's spec.nodeName resolved to node), and its
// volume mounts (hostPath volumes are this host's paths, except the docker socket, which is the
// test dockerd's; a hostPath that does not exist here is left out, as the kubelet's runtime
// would mount an empty directory; other volumes come from vols).
func podRun(t *testing.T, spec map[string]any, c map[string]any, node, dockerSocket string, vols map[string]string, oldDocker bool) []string {
	t.Helper()
	var flags []string
	if spec["hostPID"] == true {
		flags = append(flags, "--pid=host")
	}
	if sc, ok := c["securityContext"].(map[string]any); ok {
		if u, ok := sc["runAsUser"].(float64); ok {
			g, _ := sc["runAsGroup"].(float64)
			flags = append(flags, fmt.Sprintf("--user=%d:%d", int(u), int(g)))
		}
		if sc["readOnlyRootFilesystem"] == true {
			flags = append(flags, "--read-only")
		}
		if sc["allowPrivilegeEscalation"] == false {
			flags = append(flags, "--security-opt=no-new-privileges")
		}
		if sc["privileged"] == true {
			flags = append(flags, "--privileged")
		}
		if caps, ok := sc["capabilities"].(map[string]any); ok {
			if d, ok := caps["drop"]; ok {
				for _, x := range strs(d) {
					flags = append(flags, "--cap-drop="+x)
				}
			}
			added := map[string]bool{}
			if a, ok := caps["add"]; ok {
				for _, x := range strs(a) {
					// Docker before 23.0 cannot name CAP_BPF and CAP_PERFMON: SYS_ADMIN holds
					// both (deploy/Containerfile says the same)
					if oldDocker && (x == "BPF" || x == "PERFMON") {
						x = "SYS_ADMIN"
					}
					if !added[x] {
						added[x] = true
						flags = append(flags, "--cap-add="+x)
					}
				}
			}
		}
		if p, ok := sc["seccompProfile"].(map[string]any); ok && p["type"] == "Unconfined" {
			flags = append(flags, "--security-opt=seccomp=unconfined")
		}
		if p, ok := sc["appArmorProfile"].(map[string]any); ok && p["type"] == "Unconfined" {
			flags = append(flags, "--security-opt=apparmor=unconfined")
		}
	}
	if env, ok := c["env"].([]any); ok {
		for _, e := range env {
			e := e.(map[string]any)
			v, _ := e["value"].(string)
			if vf, ok := e["valueFrom"].(map[string]any); ok {
				if fr, _ := vf["fieldRef"].(map[string]any); fr["fieldPath"] == "spec.nodeName" {
					v = node
				} else {
					t.Fatalf("env %v: only spec.nodeName is resolved here", e)
				}
			}
			flags = append(flags, "-e", e["name"].(string)+"="+v)
		}
	}
	hostPath := map[string]string{}
	for _, v := range spec["volumes"].([]any) {
		v := v.(map[string]any)
		if hp, ok := v["hostPath"].(map[string]any); ok {
			hostPath[v["name"].(string)] = hp["path"].(string)
		}
	}
	if ms, ok := c["volumeMounts"].([]any); ok {
		for _, m := range ms {
			m := m.(map[string]any)
			name, target := m["name"].(string), m["mountPath"].(string)
			src, ok := vols[name]
			if p, isHost := hostPath[name]; isHost {
				src, ok = p, true
				if p == "/var/run/docker.sock" {
					src = dockerSocket
				} else if _, err := os.Stat(p); err != nil {
					continue
				}
			}
			if !ok {
				t.Fatalf("volume %s of %v: no source", name, c["name"])
			}
			opt := ""
			if m["readOnly"] == true {
				opt = ":ro"
			}
			flags = append(flags, "-v", src+":"+target+opt)
		}
	}
	cmd := strs(c["command"])
	flags = append(flags, "--entrypoint", cmd[0])
	return flags
}

// TestChartAgentImage runs the image of scripts/image.sh under docker from the rendered
// DaemonSet: its init container installs the built-in rules into the pod's emptyDir, then the
// agent starts with the container's command line and arguments, securityContext, environment
// and mounts (the ConfigMap's saker.yaml at /etc/saker), reaches ready, and detects a host
// process with the rules the init container wrote.
func TestChartAgentImage(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	dd := dockertest.Start(t)
	tag := buildImage(t, dd)
	repo, ver, _ := strings.Cut(tag, ":")
	r := render(t, fmt.Sprintf("image: {repository: %q, tag: %q, pullPolicy: Never}", repo, ver))
	ds := must(t, r, "DaemonSet", "saker-agent")
	spec := field(t, ds, "spec", "template", "spec").(map[string]any)
	serverVersion := dd.Docker(t, "version", "-f", "{{.Server.Version}}")
	major, _ := strconv.Atoi(strings.Split(serverVersion, ".")[0])
	oldDocker := major < 23

	// the pod's volumes: the ConfigMap's files, the emptyDir
	vols := map[string]string{}
	for _, v := range spec["volumes"].([]any) {
		v := v.(map[string]any)
		name := v["name"].(string)
		switch {
		case v["emptyDir"] != nil:
			vols[name] = t.TempDir()
			os.Chmod(vols[name], 0o777)
		case v["configMap"] != nil:
			cmName := v["configMap"].(map[string]any)["name"].(string)
			cm := must(t, r, "ConfigMap", cmName)
			d := t.TempDir()
			for k, val := range field(t, cm, "data").(map[string]any) {
				os.WriteFile(filepath.Join(d, k), []byte(val.(string)), 0o644)
			}
			os.Chmod(d, 0o755)
			vols[name] = d
		}
	}
	node := "node-" + strconv.Itoa(os.Getpid())
	ic := container(t, ds, "initContainers", "rules")
	if ic["image"] != tag {
		t.Fatalf("init image %v", ic["image"])
	}
	args := append([]string{"run", "--rm"}, podRun(t, spec, ic, node, dd.Socket, vols, oldDocker)...)
	if out, err := dd.Try(append(append(args, tag), strs(ic["args"])...)...); err != nil {
		t.Fatalf("init container: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(vols["rules"], "saker_base.yaml")); err != nil {
		t.Fatalf("the init container wrote no rules: %v", err)
	}

	c := container(t, ds, "containers", "saker")
	name := fmt.Sprintf("saker-ds-test-%d", os.Getpid())
	args = append([]string{"run", "-d", "--name", name}, podRun(t, spec, c, node, dd.Socket, vols, oldDocker)...)
	args = append(append(args, tag), strs(c["args"])...)
	t.Logf("docker %s", strings.Join(args, " "))
	id := dd.Docker(t, args...)
	t.Cleanup(func() { dd.Try("rm", "-f", id) })
	if env := dd.Inspect(t, id, "{{json .Config.Env}}"); !strings.Contains(env, "NODE_NAME="+node) {
		t.Errorf("env %s", env)
	}
	l := follow(t, dd, id)
	l.waitReady(t, "the agent run as the DaemonSet says")
	l.hostAlert(t, "saker-ds")
	dd.Docker(t, "stop", "-t", "30", id)
	<-l.done
	if code := dd.Inspect(t, id, "{{.State.ExitCode}}"); code != "0" {
		t.Errorf("the agent exited with %s:\n%s", code, l.stderr.String())
	}
}
