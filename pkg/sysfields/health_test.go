package sysfields

import (
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

func nulList(s ...string) []byte { return []byte(strings.Join(s, "\x00") + "\x00") }

// The health probe fields over a replayed sequence: a container event with a healthcheck, the
// runtime (runc, on the host) starting it in the container, a docker exec of another command,
// and a host process.
func TestHealthProbeFields(t *testing.T) {
	const id = "3f2a9c1e5b7d4f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8"
	m := container.New(container.Config{Providers: []container.Provider{}})
	defer m.Close()
	st := state.New(state.Options{Containers: m})
	st.AddThread(event.ThreadInfo{TID: 1, PID: 1, Comm: "systemd", Exe: "/sbin/init", Cwd: "/"})
	st.AddThread(event.ThreadInfo{TID: 50, PID: 50, PTID: 1, Comm: "runc", Exe: "runc", Cwd: "/"})
	st.AddThread(event.ThreadInfo{TID: 2000, PID: 2000, PTID: 50, VTID: 1, VPID: 1, Comm: "sleep", Exe: "sleep", Cwd: "/",
		Cgroups: []string{"cpu=/docker/" + id}})
	src := NewSource(st)
	n := uint64(0)
	ts := uint64(tsBase)
	proc := func(name string, dir byte, tid int64, params map[string]any) *state.Context {
		n++
		ts += 1000
		return st.Process(decode(t, encode(t, name, dir, tid, ts, params), n))
	}
	// the metadata as a capture's container event carries it (pkg/state replays the event
	// itself; its large-payload layout is beyond encode)
	in, err := container.DecodeJSON([]byte(`{"container":{"id":"` + id[:12] + `","full_id":"` + id +
		`","type":0,"name":"web","Healthcheck":{"exe":"/bin/sh","args":["-c","cat /etc/hostname"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	m.Add(in)
	cg := nulList("cpu=/docker/" + id)
	run := func(tid int64, exe string, args ...string) *state.Context {
		proc("clone", 'X', tid, map[string]any{"res": 0, "exe": "runc", "tid": int(tid), "pid": int(tid), "ptid": 50,
			"vtid": 7, "vpid": 7, "cgroups": cg, "comm": "runc"})
		return proc("execve", 'X', tid, map[string]any{"res": 0, "exe": exe, "args": nulList(args...), "tid": int(tid),
			"pid": int(tid), "ptid": 50, "comm": exe[strings.LastIndexByte(exe, '/')+1:], "cgroups": cg})
	}
	get := func(ctx *state.Context, field string) string {
		t.Helper()
		_, ex := bind(t, src, field)
		v, ok := ex(ctx)
		if !ok {
			return "<no value>"
		}
		if strings.HasPrefix(field, "proc.is_") {
			if v.N != 0 {
				return "true"
			}
			return "false"
		}
		return v.S
	}
	hc := run(3000, "/bin/sh", "-c", "cat /etc/hostname")
	exec := run(4000, "cat", "/etc/passwd")
	host := proc("execve", 'X', 1, map[string]any{"res": 0, "exe": "/bin/sh", "args": nulList("-c", "cat /etc/hostname"),
		"tid": 1, "pid": 1, "ptid": 0, "comm": "sh"})
	want := []struct{ field, hc, exec, host string }{
		{"proc.is_container_healthcheck", "true", "false", "false"},
		{"proc.is_container_liveness_probe", "false", "false", "false"},
		{"proc.is_container_readiness_probe", "false", "false", "false"},
		{"container.healthcheck", "/bin/sh -c cat /etc/hostname", "/bin/sh -c cat /etc/hostname", "<no value>"},
		{"container.liveness_probe", "NONE", "NONE", "<no value>"},
		{"container.readiness_probe", "NONE", "NONE", "<no value>"},
		{"proc.cmdline", "sh -c cat /etc/hostname", "cat /etc/passwd", "sh -c cat /etc/hostname"},
	}
	for _, w := range want {
		// the context is reused by Process: replay each event's fields from its thread
		for _, c := range []struct {
			what string
			tid  int64
			ctx  *state.Context
			want string
		}{{"healthcheck", 3000, hc, w.hc}, {"docker exec", 4000, exec, w.exec}, {"host", 1, host, w.host}} {
			ctx := &state.Context{Ev: c.ctx.Ev, Thread: st.Thread(c.tid), FDNum: -1}
			if got := get(ctx, w.field); got != c.want {
				t.Errorf("%s: %s = %q, want %q", c.what, w.field, got, c.want)
			}
		}
	}
	// an event without a thread: no value
	ghost := &state.Context{Ev: host.Ev, FDNum: -1}
	if got := get(ghost, "proc.is_container_healthcheck"); got != "<no value>" {
		t.Errorf("no thread: %q", got)
	}
}
