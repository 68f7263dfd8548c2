package response

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/response/netisolate"
)

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func nsIP(t *testing.T, pid int, args ...string) {
	t.Helper()
	if out, err := exec.Command("nsenter", append([]string{"-t", fmt.Sprint(pid), "-n", "ip"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("nsenter -t %d -n ip %s: %v: %s", pid, strings.Join(args, " "), err, out)
	}
}

// TestNetworkIsolateContainer: two real containers (no network of their own but a veth each
// to a sink namespace the test makes); the policy isolates A: A's connect() to the sink fails
// with EPERM, B's succeeds, A's loopback still works; the host's namespace is refused.
func TestNetworkIsolateContainer(t *testing.T) {
	d := dockertest.Start(t)
	iso, err := netisolate.Load("")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("cgroup-bpf: %v", err)
	}
	defer iso.Close()
	sink := fmt.Sprintf("skrsp%d", os.Getpid()%100000)
	ipCmd(t, "netns", "add", sink)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", sink).Run() })
	var ids []string
	var pids []int
	for i := range 2 {
		id := d.Run(t, "--network", "none", d.Image, "sleep", "3600")
		pid := d.Pid(t, id)
		x, y := fmt.Sprintf("%sc%d", sink, i), fmt.Sprintf("%ss%d", sink, i)
		ipCmd(t, "link", "add", x, "type", "veth", "peer", "name", y, "netns", sink)
		ipCmd(t, "link", "set", x, "netns", fmt.Sprint(pid))
		ipCmd(t, "-n", sink, "addr", "add", fmt.Sprintf("10.202.%d.2/24", i+1), "dev", y)
		ipCmd(t, "-n", sink, "link", "set", y, "up")
		// the container has no CAP_NET_ADMIN: configure its end from the host
		nsIP(t, pid, "addr", "add", fmt.Sprintf("10.202.%d.1/24", i+1), "dev", x)
		nsIP(t, pid, "link", "set", x, "up")
		ids, pids = append(ids, id), append(pids, pid)
	}
	var l net.Listener
	if err := netisolate.InNetns("/run/netns/"+sink, func() error {
		var err error
		l, err = net.Listen("tcp", ":0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("ok\n"))
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	nc := func(i int, addr string) (string, error) {
		return d.Try("exec", ids[i], "sh", "-c", fmt.Sprintf("nc -w 5 %s %d </dev/null 2>&1", addr, port))
	}
	if out, err := nc(0, "10.202.1.2"); err != nil || out != "ok" {
		t.Fatalf("A before isolation: %q %v", out, err)
	}

	e, s, _, m := newEngine(t, `
rules:
  - name: isolate
    match: {rules: [isolate]}
    actions:
      - action: network_isolate
`, actions.Env{Isolator: iso})
	e.Handle(trigger("isolate"), &actions.Target{PID: int64(pids[0]), ContainerID: ids[0][:12]})
	host := startSleeper(t)
	e.Handle(trigger("isolate"), &actions.Target{PID: int64(host.Process.Pid), ContainerID: "host"}) // auto: by process
	e.Flush()
	as := s.take()
	if len(as) != 2 || as[0].OutputFields["outcome"] != "done" || as[0].OutputFields["scope"] != "netns" {
		for _, a := range as {
			t.Log(a.Output)
		}
		t.Fatal("isolate A")
	}
	if as[1].OutputFields["outcome"] != "done" || as[1].OutputFields["scope"] != "process" {
		t.Fatalf("isolate host process: %v", as[1].OutputFields)
	}
	if out, err := nc(0, "10.202.1.2"); err == nil || strings.Contains(out, "ok") {
		t.Errorf("isolated A reached the sink: %q %v", out, err)
	}
	// the error is EPERM (busybox nc exits 1 without saying which): a socket made in A's
	// namespace by another process (this one) gets it
	if err := netisolate.InNetns(fmt.Sprintf("/proc/%d/ns/net", pids[0]), func() error {
		c, err := net.Dial("tcp", fmt.Sprintf("10.202.1.2:%d", port))
		if err == nil {
			c.Close()
		}
		return err
	}); !errors.Is(err, syscall.EPERM) {
		t.Errorf("socket in A's namespace: %v, want EPERM", err)
	}
	if out, err := nc(1, "10.202.2.2"); err != nil || out != "ok" {
		t.Errorf("B: %q %v", out, err)
	}
	// A keeps its loopback: a listener inside A
	d.Docker(t, "exec", "-d", ids[0], "sh", "-c", fmt.Sprintf("echo ok | nc -l -p %d", port))
	var out string
	for range 50 { // until the listener is up (connection refused before)
		if out, err = nc(0, "127.0.0.1"); err == nil && out == "ok" {
			break
		}
	}
	if out != "ok" {
		t.Errorf("A's loopback: %q %v", out, err)
	}
	if n, _ := iso.Denied(); n < 1 {
		t.Errorf("denied counter %d", n)
	}

	// the host's namespace is never quarantined
	e2, s2, _, _ := newEngine(t, `
rules:
  - name: isolate
    match: {}
    actions:
      - action: network_isolate
        with: {scope: netns}
`, actions.Env{Isolator: iso})
	e2.Handle(trigger("x"), &actions.Target{PID: int64(host.Process.Pid)})
	e2.Flush()
	if as := s2.take(); len(as) != 1 || as[0].OutputFields["outcome"] != "refused" || !strings.Contains(as[0].OutputFields["error"].(string), "host's network namespace") {
		t.Errorf("host netns: %v", as)
	}
	_ = m
}
