package sysfields

import (
	"encoding/binary"
	"testing"
)

// TestNullFDFields checks the fd fields of events that have no fd in the table, as libsinsp
// gives them: fd.typechar of an fd-creating syscall's enter event is the kind of fd it makes
// (sockets count as IPv4), pipe/eventfd/inotify_init only in sysdig 0.29 mode; a failed
// connect's fd.name and fd.containername are the tuple it names; fd.dev of a socket is 0.
func TestNullFDFields(t *testing.T) {
	st := testEngine()
	src, old := NewSourceWith(st, Options{}), NewSourceWith(st, Options{Sysdig029: true})
	n := uint64(0)
	ev := func(name string, dir byte, params map[string]any) string {
		n++
		return string(encode(t, name, dir, curlPID, tsBase+n, params))
	}
	for _, tc := range []struct {
		raw           string
		field         string
		want, want029 string
	}{
		{ev("socket", 'E', map[string]any{"domain": 10, "type": 1, "proto": 0}), "fd.typechar", "4", "4"},
		{ev("socket", 'X', map[string]any{"fd": -24, "domain": 10, "type": 1, "proto": 0}), "fd.typechar", "4", "4"},
		{ev("pipe2", 'E', map[string]any{}), "fd.typechar", "p", "p"},
		{ev("eventfd2", 'E', map[string]any{"initval": 0}), "fd.typechar", "e", "e"},
		{ev("timerfd_create", 'E', map[string]any{"clockid": 1, "flags": 0}), "fd.typechar", "t", "t"},
		{ev("pipe", 'E', map[string]any{}), "fd.typechar", "<none>", "p"},
		{ev("inotify_init", 'E', map[string]any{"flags": 0}), "fd.typechar", "<none>", "i"},
		{ev("read", 'E', map[string]any{"fd": 4, "size": 10}), "fd.dev", "0", "0"},
		{ev("read", 'E', map[string]any{"fd": 3, "size": 10}), "fd.dev", "8388609", "8388609"},
	} {
		for i, s := range []*Source{src, old} {
			ctx := st.Process(decode(t, []byte(tc.raw), n))
			want := tc.want
			if i == 1 {
				want = tc.want029
			}
			if got := value(t, s, tc.field, ctx); got != want {
				t.Errorf("%s (sysdig029 %v) on %s: %q, want %q", tc.field, i == 1, ctx.Ev.Info.Name, got, want)
			}
		}
	}

	// connect(4) to 10.0.0.9:443 refused: the tuple names the address tried.
	tuple := []byte{2, 10, 0, 0, 2}
	tuple = binary.LittleEndian.AppendUint16(tuple, 40001)
	tuple = append(tuple, 10, 0, 0, 9)
	tuple = binary.LittleEndian.AppendUint16(tuple, 443)
	for _, s := range []*Source{src, old} {
		st.Process(decode(t, []byte(ev("connect", 'E', map[string]any{"fd": 4})), n))
		ctx := st.Process(decode(t, []byte(ev("connect", 'X', map[string]any{"res": -111, "tuple": tuple, "fd": 4})), n))
		for f, want := range map[string]string{"fd.name": "10.0.0.2:40001->10.0.0.9:443", "fd.containername": ":10.0.0.2:40001->10.0.0.9:443"} {
			if got := value(t, s, f, ctx); got != want {
				t.Errorf("%s of a refused connect = %q, want %q", f, got, want)
			}
		}
	}
}
