package sysfields

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

// tuple4 is a scap IPv4 socket tuple: family, source address and port, destination address
// and port (ports little-endian).
func tuple4(src string, sport uint16, dst string, dport uint16) []byte {
	b := []byte{2}
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b = append(b, s[:]...)
	b = binary.LittleEndian.AppendUint16(b, sport)
	b = append(b, d[:]...)
	return binary.LittleEndian.AppendUint16(b, dport)
}

// libsinsp's is_ipv4addr_in_local_machine: for a thread in a container, the container's own
// address is local; so fd.is_server holds for a connection whose server end is the container
// (no interface list here), not for one to another address.
func TestIsServerContainerAddress(t *testing.T) {
	const id = "5e1d2c3b4a5968778695a4b3c2d1e0f5e1d2c3b4a5968778695a4b3c2d1e0f07"
	m := container.New(container.Config{Providers: []container.Provider{}})
	defer m.Close()
	st := state.New(state.Options{Containers: m})
	st.AddThread(event.ThreadInfo{TID: 50, PID: 50, Comm: "runc", Exe: "runc", Cwd: "/"})
	in, err := container.DecodeJSON([]byte(`{"container":{"id":"` + id[:12] + `","full_id":"` + id +
		`","type":0,"name":"web","ip":"172.17.0.2"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m.Add(in)
	src := NewSource(st)
	_, isServer := bind(t, src, "fd.is_server")
	n := uint64(1)
	// the container's process, started by the runtime (its cgroups name the container)
	st.Process(decode(t, encode(t, "clone", 'X', 2000, tsBase, map[string]any{"res": 0, "exe": "app", "tid": 2000,
		"pid": 2000, "ptid": 50, "vtid": 1, "vpid": 1, "cgroups": nulList("cpu=/docker/" + id), "comm": "app"}), n))
	n++
	st.Process(decode(t, encode(t, "execve", 'X', 2000, tsBase+500, map[string]any{"res": 0, "exe": "app", "args": nulList(),
		"tid": 2000, "pid": 2000, "ptid": 50, "comm": "app", "cgroups": nulList("cpu=/docker/" + id)}), n))
	connect := func(fd int, tuple []byte) bool {
		n++
		ctx := st.Process(decode(t, encode(t, "socket", 'X', 2000, tsBase+n*1000, map[string]any{"fd": fd, "domain": 2, "type": 1, "proto": 0}), n))
		n++
		ctx = st.Process(decode(t, encode(t, "connect", 'X', 2000, tsBase+n*1000, map[string]any{"res": 0, "tuple": tuple, "fd": fd}), n))
		v, ok := isServer(ctx)
		if !ok {
			t.Fatalf("fd.is_server has no value for fd %d", fd)
		}
		return v.N != 0
	}
	if connect(5, tuple4("10.0.0.9", 40000, "172.17.0.2", 8080)) != true {
		t.Error("a connection whose server is the container's address: fd.is_server false")
	}
	if connect(6, tuple4("172.17.0.2", 40001, "10.0.0.9", 80)) != false {
		t.Error("a connection to another machine: fd.is_server true")
	}
}
