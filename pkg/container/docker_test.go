package container

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
)

func procCgroups(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func waitReady(t *testing.T, m *Manager, r Ref) *Entry {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		e := m.LookupRef(r)
		if e.State() == Ready {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: still %v after 15s (stats %+v)", r.Short(), e.State(), m.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDockerMetadata(t *testing.T) {
	d := dockertest.Start(t)
	hostDir := t.TempDir()
	suffix := strconv.Itoa(os.Getpid())
	before := time.Now().Unix()
	plainName, privName := "saker-plain-"+suffix, "saker-priv-"+suffix
	plain := d.Run(t, "--name", plainName, "--label", "app=web", d.Image, "sh", "-c", "sleep 600 & sleep 600 & wait")
	priv := d.Run(t, "--name", privName, "--privileged", "-v", hostDir+":/host", d.Image, "sleep", "600")
	imageID := strings.TrimPrefix(d.Docker(t, "image", "inspect", "-f", "{{.Id}}", d.Image), "sha256:")

	m := New(Config{Providers: []Provider{NewDocker(d.Socket, TypeDocker)}, Timeout: 5 * time.Second})
	defer m.Close()

	// every process of the plain container (sh and its two sleeps) maps to it
	pid := d.Pid(t, plain)
	pids := []int{pid}
	deadline := time.Now().Add(5 * time.Second)
	for len(pids) < 3 && time.Now().Before(deadline) {
		pids = []int{pid}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			pids = append(pids, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(pids) < 3 {
		t.Fatalf("plain container: want sh and two children, have pids %v", pids)
	}
	for _, p := range pids {
		cg := procCgroups(t, p)
		r, ok := FromCgroups(cg)
		if !ok || r.ID != plain || r.Runtime != TypeDocker {
			t.Fatalf("pid %d cgroups %q: got %+v %v, want docker %s", p, cg, r, ok, plain)
		}
	}
	r, _ := FromCgroups(procCgroups(t, pid))
	e := waitReady(t, m, r)
	in := e.Info()
	ip := d.Inspect(t, plain, "{{.NetworkSettings.IPAddress}}")
	checks := []struct {
		what      string
		got, want any
	}{
		{"id", e.ID(), plain[:12]},
		{"full id", in.ID, plain},
		{"type", in.Type.String(), "docker"},
		{"name", in.Name, plainName},
		{"image", in.Image, dockertest.Image},
		{"image.repository", in.ImageRepository, "saker-test/busybox"},
		{"image.tag", in.ImageTag, "1.35"},
		{"image.id", in.ImageID, imageID},
		{"privileged", in.Privileged, false},
		{"mounts", len(in.Mounts), 0},
		{"label app", in.Labels["app"], "web"},
		{"image label", in.Labels["org.saker.test"], "busybox"},
		{"ip", ipString(in), ip},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("plain container %s = %v, want %v", c.what, c.got, c.want)
		}
	}
	if in.CreatedTime < before-1 || in.CreatedTime > time.Now().Unix()+1 {
		t.Errorf("start_ts %d not within the test (started %d)", in.CreatedTime, before)
	}

	// the privileged container with a host path mount
	rp, ok := FromCgroups(procCgroups(t, d.Pid(t, priv)))
	if !ok || rp.ID != priv {
		t.Fatalf("privileged container: got %+v", rp)
	}
	pin := waitReady(t, m, rp).Info()
	if !pin.Privileged || pin.Name != privName {
		t.Errorf("privileged container: privileged=%v name=%q", pin.Privileged, pin.Name)
	}
	if len(pin.Mounts) != 1 {
		t.Fatalf("privileged container mounts: %+v", pin.Mounts)
	}
	want := Mount{Source: hostDir, Dest: "/host", Mode: "", RW: true, Propagation: "rprivate"}
	if pin.Mounts[0] != want {
		t.Errorf("mount %+v, want %+v", pin.Mounts[0], want)
	}

	// host processes: this test and pid 1 of the machine
	for _, p := range []int{os.Getpid(), 1} {
		cg := procCgroups(t, p)
		if r, ok := FromCgroups(cg); ok {
			t.Errorf("host pid %d (%q) taken for container %+v", p, cg, r)
		}
		if e := m.LookupFound(FromCgroups(cg)); e != HostEntry() || e.ID() != "host" || e.Info().Name != "host" {
			t.Errorf("host pid %d: entry %q", p, e.ID())
		}
	}
	// the round trip of real metadata through the container event's JSON
	back, err := DecodeJSON(EncodeJSON(pin))
	if err != nil {
		t.Fatal(err)
	}
	if !infoEqual(back, pin) {
		t.Errorf("JSON round trip:\n got %+v\nwant %+v", back, pin)
	}
}

func ipString(in *Info) string {
	if !in.IP.IsValid() {
		return ""
	}
	return in.IP.String()
}

// The docker events stream: a container started after the Manager is known without any
// lookup, and its death expires the entry.
func TestDockerLifecycle(t *testing.T) {
	d := dockertest.Start(t)
	already := d.Run(t, d.Image, "sleep", "600")
	m := New(Config{Providers: []Provider{NewDocker(d.Socket, TypeDocker)}, Timeout: 5 * time.Second, DeadGrace: time.Second})
	defer m.Close()
	known := func(id string) bool {
		for _, in := range m.Snapshot() {
			if in.ID == id {
				return true
			}
		}
		return false
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15s (stats %+v)", what, m.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("prefetch of a running container", func() bool { return known(already) })
	id := d.Run(t, d.Image, "sleep", "600")
	waitFor("start event", func() bool { return known(id) })
	if s := m.Stats(); s.Events == 0 || s.Lookups != 0 {
		t.Errorf("stats after start: %+v", s)
	}
	d.Docker(t, "rm", "-f", id)
	waitFor("death expiry", func() bool { return !known(id) && m.Stats().Expired > 0 })
	if !known(already) {
		t.Error("the other container expired too")
	}
}
