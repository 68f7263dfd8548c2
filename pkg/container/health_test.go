package container

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
)

func TestDockerHealthcheck(t *testing.T) {
	for _, c := range []struct {
		test []string
		want string // Command(), "" for no probe
		args int
	}{
		{[]string{"CMD-SHELL", "cat /etc/hostname"}, "/bin/sh -c cat /etc/hostname", 2},
		{[]string{"CMD", "/bin/check", "--quick", "a b"}, "/bin/check --quick a b", 2},
		// quotes around an element are dropped, pairs at a time, as libsinsp's normalize_arg
		{[]string{"CMD", `"/bin/check"`, `'"x"'`, `"unbalanced`, `'`}, `/bin/check x "unbalanced '`, 3},
		{[]string{"CMD-SHELL", `"kept as is"`}, `/bin/sh -c "kept as is"`, 2},
		{[]string{"CMD", "/bin/true"}, "/bin/true", 0},
		{[]string{"NONE"}, "", 0},
		{[]string{"CMD"}, "", 0},
		{[]string{"CMD-SHELL"}, "", 0},
		{[]string{"WHAT", "x"}, "", 0},
		{nil, "", 0},
	} {
		p, ok := DockerHealthcheck(c.test)
		if ok != (c.want != "") || (ok && (p.Command() != c.want || len(p.Args) != c.args || p.Type != ProbeHealthcheck)) {
			t.Errorf("%q: %+v %v, want %q with %d args", c.test, p, ok, c.want, c.args)
		}
	}
}

func TestPodSpecProbes(t *testing.T) {
	spec := func(containers string) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[` + containers + `]}}`
	}
	live := `{"name":"app","livenessProbe":{"exec":{"command":["cat","'/tmp/healthy'"]},"periodSeconds":5}}`
	ready := `{"name":"side","readinessProbe":{"exec":{"command":["/ready.sh"]}}}`
	both := `{"name":"both","livenessProbe":{"exec":{"command":["/live"]}},"readinessProbe":{"exec":{"command":["/ready"]}}}`
	http := `{"name":"web","livenessProbe":{"httpGet":{"path":"/","port":80}}}`
	for _, c := range []struct {
		cfg, name string
		want      []HealthProbe
		found     bool
	}{
		{spec(live), "", []HealthProbe{{Type: ProbeLiveness, Exe: "cat", Args: []string{"/tmp/healthy"}}}, true},
		{spec(ready), "", []HealthProbe{{Type: ProbeReadiness, Exe: "/ready.sh"}}, true},
		// libsinsp reads the liveness probe only, when there is one
		{spec(both), "", []HealthProbe{{Type: ProbeLiveness, Exe: "/live"}}, true},
		// the first container, unless one is named
		{spec(live + "," + ready), "", []HealthProbe{{Type: ProbeLiveness, Exe: "cat", Args: []string{"/tmp/healthy"}}}, true},
		{spec(live + "," + ready), "side", []HealthProbe{{Type: ProbeReadiness, Exe: "/ready.sh"}}, true},
		{spec(live + "," + ready), "nope", []HealthProbe{{Type: ProbeLiveness, Exe: "cat", Args: []string{"/tmp/healthy"}}}, true},
		// no exec probe: nothing, and a healthcheck still counts
		{spec(http), "", nil, false},
		{spec(`{"name":"x"}`), "", nil, false},
		// an exec command that is not a list: found, but no probe (and no healthcheck)
		{spec(`{"name":"x","livenessProbe":{"exec":{"command":"ls"}}}`), "", nil, true},
		{`{"spec":{"containers":[]}}`, "", nil, false},
		{`not json`, "", nil, false},
		{"", "", nil, false},
	} {
		got, found := PodSpecProbes(c.cfg, c.name)
		if found != c.found || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s (%q): %+v %v, want %+v %v", c.cfg, c.name, got, found, c.want, c.found)
		}
	}
	// Docker: the label's probe wins over the healthcheck; without the label, the healthcheck
	hc := []string{"CMD-SHELL", "true"}
	if ps := dockerProbes(map[string]string{LabelLastApplied: spec(live)}, hc); len(ps) != 1 || ps[0].Type != ProbeLiveness {
		t.Errorf("label and healthcheck: %+v", ps)
	}
	if ps := dockerProbes(map[string]string{LabelLastApplied: spec(http)}, hc); len(ps) != 1 || ps[0].Type != ProbeHealthcheck {
		t.Errorf("label without exec probe: %+v", ps)
	}
	if ps := dockerProbes(nil, []string{"NONE"}); ps != nil {
		t.Errorf("NONE: %+v", ps)
	}
}

func TestMatchProbe(t *testing.T) {
	in := &Info{HealthProbes: []HealthProbe{
		{Type: ProbeLiveness, Exe: "/bin/sh", Args: []string{"-c", "ls"}},
		{Type: ProbeReadiness, Exe: "cat", Args: nil},
	}}
	for _, c := range []struct {
		exe  string
		args []string
		want ProbeType
	}{
		{"/bin/sh", []string{"-c", "ls"}, ProbeLiveness},
		{"/bin/sh", []string{"-c", "ls", "x"}, ProbeNone},
		{"/bin/sh", []string{"-c"}, ProbeNone},
		{"sh", []string{"-c", "ls"}, ProbeNone}, // the exe (argv[0]) must be the probe's
		{"cat", nil, ProbeReadiness},
		{"cat", []string{}, ProbeReadiness},
	} {
		if got := in.MatchProbe(c.exe, c.args); got != c.want {
			t.Errorf("%s %q: %v, want %v", c.exe, c.args, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { in.MatchProbe("/bin/sh", []string{"-c", "ls"}) }); n != 0 {
		t.Errorf("MatchProbe allocates %v times", n)
	}
}

// The container JSON carries the probes under libsinsp's keys, and reads libsinsp's variants.
func TestProbesJSON(t *testing.T) {
	in := &Info{ID: idA, Type: TypeDocker, HealthProbes: []HealthProbe{
		{Type: ProbeHealthcheck, Exe: "/bin/sh", Args: []string{"-c", "cat /etc/hostname"}}}}
	b := string(EncodeJSON(in))
	if !strings.Contains(b, `"Healthcheck":{"exe":"/bin/sh","args":["-c","cat /etc/hostname"]}`) ||
		strings.Contains(b, "LivenessProbe") || strings.Contains(b, "ReadinessProbe") {
		t.Errorf("encoded: %s", b)
	}
	// libsinsp writes "args": null for a probe without args; elements that are not strings
	// are skipped; a probe whose exe is not a string is none
	out, err := DecodeJSON([]byte(`{"container":{"id":"` + idA[:12] + `","type":0,` +
		`"Healthcheck":{"exe":"/hc","args":null},"LivenessProbe":{"exe":"/l","args":["a",1,"b"]},` +
		`"ReadinessProbe":{"exe":7,"args":[]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []HealthProbe{{Type: ProbeHealthcheck, Exe: "/hc"}, {Type: ProbeLiveness, Exe: "/l", Args: []string{"a", "b"}}}
	if !reflect.DeepEqual(out.HealthProbes, want) {
		t.Errorf("decoded %+v, want %+v", out.HealthProbes, want)
	}
	out, err = DecodeJSON([]byte(`{"container":{"id":"` + idA[:12] + `","Healthcheck":{"exe":"/hc","args":"x"},"LivenessProbe":null}}`))
	if err != nil || !reflect.DeepEqual(out.HealthProbes, []HealthProbe{{Type: ProbeHealthcheck, Exe: "/hc"}}) {
		t.Errorf("args not a list: %+v %v", out, err)
	}
}

// A Kubernetes container without probes of its own takes its sandbox's, once the sandbox is
// known (dockershim labelled only the sandbox with the pod's configuration).
func TestSandboxProbes(t *testing.T) {
	m := New(Config{Providers: []Provider{}})
	defer m.Close()
	probes := []HealthProbe{{Type: ProbeLiveness, Exe: "/live"}}
	m.Add(&Info{ID: idB, Type: TypeDocker, IsPodSandbox: true, HealthProbes: probes})
	in := &Info{ID: idA, Labels: map[string]string{LabelSandboxID: idB}}
	m.sandboxProbes(in)
	if !reflect.DeepEqual(in.HealthProbes, probes) {
		t.Errorf("container of the pod: %+v", in.HealthProbes)
	}
	own := &Info{ID: idA, Labels: map[string]string{LabelSandboxID: idB}, HealthProbes: []HealthProbe{{Type: ProbeHealthcheck, Exe: "x"}}}
	m.sandboxProbes(own)
	if len(own.HealthProbes) != 1 || own.HealthProbes[0].Exe != "x" {
		t.Errorf("own probes replaced: %+v", own.HealthProbes)
	}
	other := &Info{ID: idA, Labels: map[string]string{LabelSandboxID: hexID(7)}}
	m.sandboxProbes(other)
	if other.HealthProbes != nil {
		t.Errorf("unknown sandbox gave probes: %+v", other.HealthProbes)
	}
}

// The Docker provider reads a real container's healthcheck (docker run --health-cmd is
// CMD-SHELL; --no-healthcheck is NONE).
func TestDockerHealthcheckInspect(t *testing.T) {
	d := dockertest.Start(t)
	hc := d.Run(t, "--health-cmd", "cat /etc/hostname", "--health-interval", "1h", d.Image, "sleep", "600")
	none := d.Run(t, "--no-healthcheck", d.Image, "sleep", "600")
	plain := d.Run(t, d.Image, "sleep", "600")
	p := NewDocker(d.Socket, TypeDocker)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := p.Inspect(ctx, hc)
	if err != nil {
		t.Fatal(err)
	}
	want := []HealthProbe{{Type: ProbeHealthcheck, Exe: "/bin/sh", Args: []string{"-c", "cat /etc/hostname"}}}
	if !reflect.DeepEqual(in.HealthProbes, want) {
		t.Errorf("--health-cmd: %+v, want %+v", in.HealthProbes, want)
	}
	for _, id := range []string{none, plain} {
		in, err := p.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if in.HealthProbes != nil {
			t.Errorf("%s: probes %+v", id[:12], in.HealthProbes)
		}
	}
}
