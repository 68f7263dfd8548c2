package main

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/livesaker"
	"github.com/saker-sec/saker/internal/testshared"
)

// probeCaps is the capability set of deploy/saker.service and the README's container
// instructions (CAP_SYS_RESOURCE only matters before Linux 5.11).
const probeCaps = "+bpf,+perfmon,+sys_ptrace,+dac_read_search"

// asNobody runs saker as user nobody with the given ambient capabilities (setpriv, as
// systemd's AmbientCapabilities= does).
func asNobody(caps string, args ...string) []string {
	return append([]string{"--reuid=nobody", "--regid=nogroup", "--clear-groups",
		"--inh-caps=" + caps, "--ambient-caps=" + caps, sakerBin}, args...)
}

// Without root, a process lacking a capability the probe needs is told which ones.
func TestLiveNamesMissingCapabilities(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	cmd := exec.Command("setpriv", asNobody("+bpf", "run")...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("saker ran without CAP_PERFMON:\n%s", out)
	}
	for _, want := range []string{"CAP_PERFMON", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the error does not name %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "CAP_BPF (") || strings.Contains(string(out), "needs root") {
		t.Errorf("the error names a capability the process has, or asks for root:\n%s", out)
	}
}

// A non-root process with the capabilities of deploy/saker.service runs the probe and
// alerts, and stops cleanly.
func TestLiveAsNonRootWithCapabilities(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	secret, rules := fileReadRule(t, "secret read by non-root saker", "read %fd.name by %proc.name")
	p, err := livesaker.Start("setpriv", 90*time.Second, asNobody(probeCaps, "run", "-r", rules, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	mark := p.Mark()
	if out, err := exec.Command("cat", secret).CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	var found bool
	for i := 0; i < 400 && !found; i++ { // bounded wait for the alert (not a speed assertion)
		for _, a := range p.Since(mark) {
			found = found || a.Rule == "secret read by non-root saker"
		}
		if !found {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !found {
		t.Fatalf("no alert from the non-root saker:\n%s", p.StderrText())
	}
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Errorf("non-root saker did not exit cleanly: %v\n%s", err, p.StderrText())
	}
}
