package netisolate

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func need(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("netisolate: needs root (CI=true)")
		}
		t.Skip("netisolate: needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2) missing: %v", err)
	}
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// topology makes three namespaces: sink, a and b, with a veth from a and one from b to sink:
// a 10.201.1.1 / fd00:201:1::1 ↔ sink 10.201.1.2 / fd00:201:1::2, b 10.201.2.1 ↔ sink 10.201.2.2.
func topology(t *testing.T) (sink, a, b string) {
	t.Helper()
	p := fmt.Sprintf("skiso%d", os.Getpid()%100000)
	sink, a, b = p+"s", p+"a", p+"b"
	for _, n := range []string{sink, a, b} {
		ip(t, "netns", "add", n)
		name := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		ip(t, "-n", n, "link", "set", "lo", "up")
	}
	for i, n := range []string{a, b} {
		x, y := fmt.Sprintf("%sv%d", p, i), fmt.Sprintf("%sw%d", p, i)
		ip(t, "link", "add", x, "netns", n, "type", "veth", "peer", "name", y, "netns", sink)
		ip(t, "-n", n, "addr", "add", fmt.Sprintf("10.201.%d.1/24", i+1), "dev", x)
		ip(t, "-n", sink, "addr", "add", fmt.Sprintf("10.201.%d.2/24", i+1), "dev", y)
		ip(t, "-n", n, "addr", "add", fmt.Sprintf("fd00:201:%d::1/64", i+1), "dev", x, "nodad")
		ip(t, "-n", sink, "addr", "add", fmt.Sprintf("fd00:201:%d::2/64", i+1), "dev", y, "nodad")
		ip(t, "-n", n, "link", "set", x, "up")
		ip(t, "-n", sink, "link", "set", y, "up")
	}
	return "/run/netns/" + sink, "/run/netns/" + a, "/run/netns/" + b
}

// serve listens (TCP and UDP) in a namespace; TCP connections get "ok\n".
func serve(t *testing.T, ns, addr string) (tcp, udp string, got chan string) {
	t.Helper()
	got = make(chan string, 16)
	var l net.Listener
	var pc net.PacketConn
	err := InNetns(ns, func() error {
		var err error
		if l, err = net.Listen("tcp", addr); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); pc.Close() })
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
	go func() {
		buf := make([]byte, 64)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	return l.Addr().String(), pc.LocalAddr().String(), got
}

// dial connects from a namespace and reads the greeting.
func dial(ns, network, addr string) error {
	return InNetns(ns, func() error {
		c, err := net.DialTimeout(network, addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err == nil && string(b) != "ok\n" {
			err = fmt.Errorf("greeting %q", b)
		}
		return err
	})
}

func send(ns, addr, msg string) error {
	return InNetns(ns, func() error {
		fd, err := net.ListenPacket("udp", ":0")
		if err != nil {
			return err
		}
		defer fd.Close()
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			return err
		}
		_, err = fd.WriteTo([]byte(msg), ua) // unconnected: the sendmsg hook
		return err
	})
}

func port(a string) string { _, p, _ := net.SplitHostPort(a); return p }

func TestQuarantine(t *testing.T) {
	need(t)
	sink, a, b := topology(t)
	tcp, udp, got := serve(t, sink, ":0")
	iso, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	defer iso.Close()
	t.Logf("attached to %s", iso.Cgroup)
	ca, err := NetnsCookie(a)
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := NetnsCookie(b)
	if ca == 0 || ca == cb {
		t.Fatalf("cookies a=%d b=%d", ca, cb)
	}
	// before: both reach the sink
	if err := dial(a, "tcp", "10.201.1.2:"+port(tcp)); err != nil {
		t.Fatalf("a before quarantine: %v", err)
	}
	if err := iso.QuarantineNetns(ca); err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"10.201.1.2:" + port(tcp), "[fd00:201:1::2]:" + port(tcp)} {
		if err := dial(a, "tcp", dst); !errors.Is(err, syscall.EPERM) {
			t.Errorf("quarantined a → %s: %v, want EPERM", dst, err)
		}
	}
	if err := send(a, "10.201.1.2:"+port(udp), "from a"); !errors.Is(err, syscall.EPERM) {
		t.Errorf("quarantined a, UDP sendmsg: %v, want EPERM", err)
	}
	if err := send(a, "[fd00:201:1::2]:"+port(udp), "from a6"); !errors.Is(err, syscall.EPERM) {
		t.Errorf("quarantined a, UDP6 sendmsg: %v, want EPERM", err)
	}
	// b is not quarantined
	if err := dial(b, "tcp", "10.201.2.2:"+port(tcp)); err != nil {
		t.Errorf("b: %v", err)
	}
	if err := send(b, "10.201.2.2:"+port(udp), "from b"); err != nil {
		t.Errorf("b UDP: %v", err)
	}
	if m := <-got; m != "from b" {
		t.Errorf("sink got %q", m)
	}
	// a keeps its loopback
	lo, _, _ := serve(t, a, "127.0.0.1:0")
	if err := dial(a, "tcp", lo); err != nil {
		t.Errorf("a's loopback: %v", err)
	}
	lo6, _, _ := serve(t, a, "[::1]:0")
	if err := dial(a, "tcp", lo6); err != nil {
		t.Errorf("a's ::1: %v", err)
	}
	if n, err := iso.Denied(); err != nil || n != 4 {
		t.Errorf("denied %d (%v), want 4", n, err)
	}
	// released
	if err := iso.ReleaseNetns(ca); err != nil {
		t.Fatal(err)
	}
	if err := dial(a, "tcp", "10.201.1.2:"+port(tcp)); err != nil {
		t.Errorf("a after release: %v", err)
	}
	// by process: this test process, from b's namespace
	if err := iso.QuarantinePID(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	err = dial(b, "tcp", "10.201.2.2:"+port(tcp))
	iso.ReleasePID(os.Getpid())
	if !errors.Is(err, syscall.EPERM) {
		t.Errorf("quarantined pid: %v, want EPERM", err)
	}
	if err := dial(b, "tcp", "10.201.2.2:"+port(tcp)); err != nil {
		t.Errorf("pid released: %v", err)
	}
	// closing detaches: a quarantined namespace is free again
	iso.QuarantineNetns(ca)
	iso.Close()
	if err := dial(a, "tcp", "10.201.1.2:"+port(tcp)); err != nil {
		t.Errorf("after Close: %v", err)
	}
}
