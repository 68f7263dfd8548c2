package actions

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/response/ring"
	"github.com/saker-sec/saker/pkg/scap"
)

// DefaultSnapshotDir is where snapshots go when neither the action nor the Env names a
// directory.
const DefaultSnapshotDir = "/var/lib/saker/snapshots"

// Snapshot member names.
const (
	MemberManifest  = "manifest.json"
	MemberAlert     = "alert.json"
	MemberEvents    = "events.scap"
	MemberProcesses = "processes.json"
)

// Manifest is a snapshot's manifest.json (the archive's last member).
type Manifest struct {
	Version     int              `json:"version"`
	Created     time.Time        `json:"created"`
	Rule        string           `json:"rule"`
	PolicyRule  string           `json:"policy_rule"`
	Workload    string           `json:"workload"`
	PID         int64            `json:"pid"`
	ContainerID string           `json:"container_id,omitempty"`
	Window      string           `json:"window"`
	Events      int              `json:"events"`
	Members     []ManifestMember `json:"members"`
	// Errors are the members that could not be collected (a process gone, a file unreadable).
	Errors []string `json:"errors,omitempty"`
}

// ManifestMember is one archive member with its size and SHA-256.
type ManifestMember struct {
	Name   string `json:"name"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

type snapshot struct{}

func init() { Register(snapshot{}) }

func (snapshot) Spec() Spec {
	return Spec{
		Name: "snapshot",
		Description: "Write a forensic snapshot (tar.gz, mode 0600): manifest.json with the SHA-256 of every member, the alert, " +
			"the workload's last events as events.scap (read by saker events, saker run -e and sysdig), the process tree with cmdlines, " +
			"/proc/PID/{status,maps,environ,cmdline,fd,mountinfo} of the involved processes, the container's inspect JSON and mounts, " +
			"and the open connections (/proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}).",
		Params: []Param{
			{Name: "dir", Type: TString, Description: "directory (created 0700); default: the engine's snapshot_dir, else " + DefaultSnapshotDir},
			{Name: "window", Type: TDuration, Default: "30s", Description: "events of the last WINDOW before the snapshot (at most what the event ring keeps)"},
			{Name: "max_processes", Type: TInt, Default: int64(64), Description: "processes whose /proc files are collected"},
		},
		Checks: []string{
			"/proc files are read with a 4 MiB limit each; a process already gone is listed in the manifest's errors, not fatal",
			"the archive is written to a temporary file and renamed, so a partial snapshot is never left under its final name",
		},
		Example: "- action: snapshot\n  with: {window: 60s}",
	}
}

func (snapshot) Check(p Params) error {
	if p.Duration("window") <= 0 {
		return fmt.Errorf("window must be positive")
	}
	if p.Int("max_processes") < 1 {
		return fmt.Errorf("max_processes must be at least 1")
	}
	return nil
}

type member struct {
	name string
	data []byte
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (snapshot) Run(ctx context.Context, env *Env, req *Request) Result {
	t := req.Target
	dir := req.Params.String("dir")
	if dir == "" {
		dir = env.SnapshotDir
	}
	if dir == "" {
		dir = DefaultSnapshotDir
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	name := fmt.Sprintf("saker-snapshot-%s-%s-%s.tar.gz", now.UTC().Format("20060102T150405.000000000Z"),
		unsafeName.ReplaceAllString(strings.ReplaceAll(t.Workload(), "/", "-"), "_"),
		unsafeName.ReplaceAllString(req.Alert.Rule, "_"))
	if len(name) > 200 {
		name = name[:193] + ".tar.gz"
	}
	final := filepath.Join(dir, name)
	res := Result{Target: final, Fields: map[string]any{"path": final}}
	if req.DryRun {
		res.Outcome = DryRun
		return res
	}
	window := req.Params.Duration("window")
	man := Manifest{Version: 1, Created: now.UTC(), Rule: req.Alert.Rule, PolicyRule: req.PolicyRule, Workload: t.Workload(),
		PID: t.PID, ContainerID: t.ContainerID, Window: window.String()}
	var ms []member
	add := func(n string, b []byte) { ms = append(ms, member{n, b}) }

	ab, err := json.MarshalIndent(req.Alert, "", "  ")
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	add(MemberAlert, ab)

	var sb bytes.Buffer
	n, err := writeScap(&sb, env.Ring, t, uint64(now.Add(-window).UnixNano()))
	if err != nil {
		res.Outcome, res.Err = Failed, fmt.Errorf("writing events.scap: %w", err)
		return res
	}
	man.Events = n
	add(MemberEvents, sb.Bytes())

	root := env.procRoot()
	// processes: the state's tree, with the cmdline /proc has now
	type procOut struct {
		Proc
		Cmdline []string `json:"cmdline_now,omitempty"`
		Alive   bool     `json:"alive"`
	}
	var procs []procOut
	pids := []int64{}
	for _, p := range t.Procs {
		po := procOut{Proc: p}
		if b, err := os.ReadFile(filepath.Join(root, strconv.FormatInt(p.PID, 10), "cmdline")); err == nil {
			po.Alive = true
			po.Cmdline = splitNul(b)
		}
		procs = append(procs, po)
		if p.Role != "container" || len(pids) < int(req.Params.Int("max_processes")) {
			pids = append(pids, p.PID)
		}
	}
	if len(t.Procs) == 0 && t.PID > 0 {
		pids = append(pids, t.PID)
	}
	if len(pids) > int(req.Params.Int("max_processes")) {
		pids = pids[:req.Params.Int("max_processes")]
	}
	pb, _ := json.MarshalIndent(procs, "", "  ")
	add(MemberProcesses, pb)

	netns := map[uint64]bool{}
	for _, pid := range pids {
		pdir := filepath.Join(root, strconv.FormatInt(pid, 10))
		if _, err := os.Stat(pdir); err != nil {
			man.Errors = append(man.Errors, fmt.Sprintf("pid %d: gone", pid))
			continue
		}
		for _, f := range []string{"status", "maps", "environ", "cmdline", "mountinfo"} {
			b, err := readLimited(filepath.Join(pdir, f))
			if err != nil {
				man.Errors = append(man.Errors, fmt.Sprintf("pid %d %s: %v", pid, f, err))
				continue
			}
			add(fmt.Sprintf("proc/%d/%s", pid, f), b)
		}
		add(fmt.Sprintf("proc/%d/fd", pid), fdListing(pdir))
		var st unix.Stat_t
		if unix.Stat(filepath.Join(pdir, "ns", "net"), &st) == nil && !netns[st.Ino] {
			netns[st.Ino] = true
			for _, f := range []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix"} {
				if b, err := readLimited(filepath.Join(pdir, "net", f)); err == nil {
					add(fmt.Sprintf("net/netns-%d/%s", st.Ino, f), b)
				}
			}
		}
	}

	if t.InContainer() {
		id := t.ContainerID
		if t.Container != nil && t.Container.ID != "" {
			id = t.Container.ID
		}
		var inspect []byte
		if d, err := env.dockerClient(); err == nil && (t.Container == nil || t.Container.Type == container.TypeDocker || t.Container.Type == container.TypePodman) {
			if inspect, err = d.inspectRaw(ctx, id); err != nil {
				man.Errors = append(man.Errors, "container inspect: "+err.Error())
			}
		}
		if inspect == nil && t.Container != nil {
			inspect, _ = json.MarshalIndent(t.Container, "", "  ")
		}
		if inspect != nil {
			add("container/inspect.json", inspect)
		}
		if t.Container != nil {
			mb, _ := json.MarshalIndent(t.Container.Mounts, "", "  ")
			add("container/mounts.json", mb)
		}
	}

	for _, m := range ms {
		sum := sha256.Sum256(m.data)
		man.Members = append(man.Members, ManifestMember{Name: m.name, Size: len(m.data), SHA256: hex.EncodeToString(sum[:])})
	}
	mb, _ := json.MarshalIndent(man, "", "  ")
	ms = append(ms, member{MemberManifest, mb})

	if err := os.MkdirAll(dir, 0o700); err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	sum, err := writeArchive(dir, final, ms, now)
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	res.Fields["sha256"] = sum
	res.Fields["events"] = n
	res.Outcome = Done
	return res
}

func writeArchive(dir, final string, ms []member, now time.Time) (string, error) {
	f, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	zw := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(zw)
	for _, m := range ms {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o600, Size: int64(len(m.data)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return "", err
		}
		if _, err := tw.Write(m.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := f.Chmod(0o600); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4<<20))
}

func splitNul(b []byte) []string {
	s := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(s) == 1 && s[0] == "" {
		return nil
	}
	return s
}

// fdListing is "N -> target" per open fd.
func fdListing(pdir string) []byte {
	ents, err := os.ReadDir(filepath.Join(pdir, "fd"))
	if err != nil {
		return []byte("error: " + err.Error() + "\n")
	}
	type fd struct {
		n    int
		link string
	}
	var fds []fd
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		l, _ := os.Readlink(filepath.Join(pdir, "fd", e.Name()))
		fds = append(fds, fd{n, l})
	}
	slices.SortFunc(fds, func(a, b fd) int { return a.n - b.n })
	var b bytes.Buffer
	for _, f := range fds {
		fmt.Fprintf(&b, "%d -> %s\n", f.n, f.link)
	}
	return b.Bytes()
}

// RingKey is the ring's workload key of a container id ("host" for host processes).
func RingKey(containerID string) string {
	if containerID == "" || containerID == "host" {
		return "host"
	}
	return container.ShortID(containerID)
}

// writeScap writes the target's capture: machine, interfaces, users and groups, the threads
// and fds the state knew at alert time, the container's metadata event, then the ring's
// events of the workload since since (for a host process: of the process and its
// descendants only, children cloned in the window included). It returns the number of events written.
func writeScap(w io.Writer, rg *ring.Ring, t *Target, since uint64) (int, error) {
	sw, err := scap.NewWriter(w, scap.WriterOptions{SysdigCompat: true, SynthesizeEnters: true})
	if err != nil {
		return 0, err
	}
	mi := t.Machine
	if mi.Hostname == "" {
		mi.Hostname, _ = os.Hostname()
	}
	if err := sw.WriteMachine(mi); err != nil {
		return 0, err
	}
	if err := sw.WriteInterfaces(t.Interfaces); err != nil {
		return 0, err
	}
	if err := sw.WriteUsers(t.Users, t.Groups); err != nil {
		return 0, err
	}
	if err := sw.WriteThreads(t.Threads); err != nil {
		return 0, err
	}
	if err := sw.WriteFDs(t.FDs); err != nil {
		return 0, err
	}
	written := 0
	first := true
	tree := map[int64]bool{}
	for _, p := range t.Procs {
		// the target and its descendants; ancestors' events are not the workload's (pid 1
		// would bring the whole host in through its clones), they are only in the process table
		if p.Role == "target" || p.Role == "descendant" {
			tree[p.PID] = true
		}
	}
	if t.PID > 0 {
		tree[t.PID] = true
	}
	host := !t.InContainer()
	if host && rg != nil {
		// The tree grows with the clones of its members. Events of different CPUs are not in
		// order, so a child's first events can precede its parent's clone exit: membership is
		// settled first (parent's clone exit, res = child; child's clone exit, res 0, ptid =
		// parent), until nothing is added.
		type clone struct{ parent, child int64 }
		var clones []clone
		rg.Each(RingKey(t.ContainerID), since, func(ev *event.Event, pid int64) {
			if ev.Info == nil || ev.Info.Dir != 'X' || !isClone(ev.Info.Name) {
				return
			}
			r, ok := ev.ParamInt("res")
			switch {
			case ok && r > 0:
				clones = append(clones, clone{pid, r})
			case ok && r == 0:
				if pt, ok := ev.ParamInt("ptid"); ok && pt > 0 {
					clones = append(clones, clone{pt, pid})
				}
			}
		})
		for grown := true; grown; {
			grown = false
			for _, c := range clones {
				if tree[c.parent] && !tree[c.child] {
					tree[c.child], grown = true, true
				}
			}
		}
	}
	var werr error
	if rg != nil {
		rg.Each(RingKey(t.ContainerID), since, func(ev *event.Event, pid int64) {
			if werr != nil {
				return
			}
			if first {
				first = false
				if t.Container != nil {
					if werr = sw.WriteEvent(ContainerEvent(t.Container, ev.TS)); werr != nil {
						return
					}
				}
			}
			if host && !tree[pid] {
				return
			}
			if werr = sw.WriteEvent(ev); werr == nil {
				written++
			}
		})
	}
	if werr != nil {
		return written, werr
	}
	if first && t.Container != nil {
		if err := sw.WriteEvent(ContainerEvent(t.Container, uint64(time.Now().UnixNano()))); err != nil {
			return written, err
		}
	}
	return written, sw.Close()
}

func isClone(name string) bool {
	return name == "clone" || name == "clone3" || name == "fork" || name == "vfork"
}

// ContainerEvent is the scap container event (code 324, libs' JSON) for a container's
// metadata, marked as read in the older non-large layout (272) that the sysdig-compatible
// writer writes back, so a replay shows the same container.* fields.
func ContainerEvent(in *container.Info, ts uint64) *event.Event {
	ev := &event.Event{TS: ts, TID: int64(os.Getpid()), Type: container.EventContainerJSON, RawType: 272,
		Info: &event.Table[container.EventContainerJSON], NParams: 1, Present: 1}
	ev.Params[0] = append(container.EncodeJSON(in), 0)
	return ev
}
