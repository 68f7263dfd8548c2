package probe

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// The fields rules read (through the real state engine and syscall source) are the same for an
// operation done with io_uring as with its syscall, but evt.is_io_uring.

// fieldReader binds fields of the syscall source to a detector's state.
type fieldReader struct {
	d   *detect.Detector
	ext map[string]fields.Extractor
	inf map[string]fields.Info
}

func newFieldReader(t *testing.T, names []string) *fieldReader {
	t.Helper()
	fr := &fieldReader{d: detect.New(state.Options{}), ext: map[string]fields.Extractor{}, inf: map[string]fields.Info{}}
	for _, n := range names {
		info, dotted, ok := fields.Resolve(fr.d.Source.Field, n)
		if !ok {
			t.Fatalf("field %s not in the catalogue", n)
		}
		ex, err := fr.d.Source.Extractor(info, dotted)
		if err != nil {
			t.Fatal(err)
		}
		fr.ext[n], fr.inf[n] = ex, info
	}
	return fr
}

func (fr *fieldReader) values(ctx *state.Context) map[string]string {
	m := map[string]string{}
	for n, ex := range fr.ext {
		v, ok := ex(ctx)
		if !ok {
			m[n] = fields.NA
			continue
		}
		if fr.inf[n].Type == fields.Bool {
			m[n] = strconv.FormatBool(v.N != 0)
			continue
		}
		m[n] = fields.Format(fr.inf[n].Type, fr.inf[n].List, v)
	}
	return m
}

type seen struct {
	typ    string
	fields map[string]string
}

// replay feeds every record collected so far through a fresh detector and returns the events
// of each pid in pids whose type is in types, with their fields.
func replay(t *testing.T, c *collector, names []string, types map[string]bool, pids ...int) map[int][]seen {
	// types nil: every type
	t.Helper()
	fr := newFieldReader(t, names)
	want := map[int64]bool{}
	for _, p := range pids {
		want[int64(p)] = true
	}
	out := map[int][]seen{}
	c.mu.Lock()
	recs := append([]*rec(nil), c.recs...)
	c.mu.Unlock()
	var ev event.Event
	for _, r := range recs {
		if err := event.Decode(r.raw, &ev, true); err != nil {
			t.Fatal(err)
		}
		ctx := fr.d.Event(&ev)
		if ctx == nil || !want[ev.TID] || (types != nil && !types[ev.Info.Name]) {
			continue
		}
		out[int(ev.TID)] = append(out[int(ev.TID)], seen{ev.Info.Name, fr.values(ctx)})
	}
	return out
}

func TestIOUringFieldsAsSyscalls(t *testing.T) {
	c := sharedProbe(t)
	needUring(t, c)
	sel := []string{"openat", "openat2", "close", "read", "write", "unlinkat", "renameat2", "mkdirat", "symlinkat",
		"linkat", "connect", "sendto", "sendmsg", "recvfrom", "recvmsg", "accept4", "socket", "bind", "listen",
		"clone", "clone3", "fork", "vfork", "execve", "procexit"}
	if err := c.p.SetSyscalls(sel); err != nil {
		t.Fatal(err)
	}
	defer c.p.SetSyscalls(nil)
	ln, srv := loopbackEcho(t)
	defer ln.Close()
	dir := t.TempDir()
	file := filepath.Join(dir, "written")
	sub := filepath.Join(dir, "sub")
	names := []string{"evt.type", "evt.args", "evt.res", "fd.name", "fd.num", "fd.type", "fd.typechar", "proc.name",
		"fd.sip", "fd.sport", "fd.cip", "fd.l4proto", "fd.sockfamily", "evt.is_open_read", "evt.is_open_write", "fs.path.name",
		"fs.path.source", "fs.path.target", "fd.directory", "fd.filename", "evt.is_io_uring"}
	fixture := func() {
		os.RemoveAll(sub)
		os.Remove(file)
	}
	cases := []struct {
		name  string
		args  []string
		types string // events expected, in order
		prep  func()
	}{
		{"open /etc/shadow", []string{"open", "/etc/shadow"}, "openat read close", nil},
		{"open relative to a dirfd", []string{"open", "shadow", "/etc"}, "openat read close", nil},
		{"write a file", []string{"create", file}, "openat write close", fixture},
		{"mkdir", []string{"mkdir", sub}, "mkdirat", fixture},
		{"symlink", []string{"symlink", "/etc/shadow", filepath.Join(dir, "lnk")}, "symlinkat", func() { os.Remove(filepath.Join(dir, "lnk")) }},
		{"hard link", []string{"link", file, filepath.Join(dir, "hard")}, "linkat", func() {
			fixture()
			os.WriteFile(file, []byte("x"), 0o600)
			os.Remove(filepath.Join(dir, "hard"))
		}},
		{"rename", []string{"rename", file, filepath.Join(dir, "renamed")}, "renameat2", func() { os.WriteFile(file, []byte("x"), 0o600) }},
		{"unlink", []string{"unlink", file}, "unlinkat", func() { os.WriteFile(file, []byte("x"), 0o600) }},
		{"connect", []string{"connect", srv.Addr().String(), strconv.Itoa(int(srv.Port()))}, "connect sendto sendmsg recvfrom", nil},
		{"accept", []string{"accept"}, "accept4 recvmsg", nil},
	}
	portRE := regexp.MustCompile(`:\d+`)
	inoRE := regexp.MustCompile(`ino=\d+`)
	// the helper reports the ports it used on its stdout (the data of that write)
	helperPortRE := regexp.MustCompile(`(listen|client) \d+`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Fields(tc.types)
			var pids [2]int
			for i, mode := range []string{"-s", ""} {
				if tc.prep != nil {
					tc.prep()
				}
				args := tc.args
				if mode != "" {
					args = append([]string{mode}, args...)
				}
				pids[i], _ = uringRun(t, dir, args...)
				last := want[len(want)-1]
				c.wait(t, last, func(r *rec) bool { return r.is(last, pids[i]) })
			}
			c.wait(t, "procexit", func(r *rec) bool { return r.is("procexit", pids[1]) })
			got := replay(t, c, names, nil, pids[0], pids[1])
			sys, uring := got[pids[0]], got[pids[1]]
			// The two runs make the same calls (the dynamic loader's, the helper's output) but
			// for the operations under test: the sequences must be the same event by event,
			// and the operations be the io_uring run's only io_uring events.
			if len(sys) != len(uring) {
				t.Fatalf("events: syscalls %v, io_uring %v", typesOf(sys), typesOf(uring))
			}
			var ops []seen
			var opTypes []string
			for i := range sys {
				s, u := sys[i], uring[i]
				if s.typ != u.typ {
					t.Fatalf("event %d: syscalls %s, io_uring %s (syscalls %v, io_uring %v)", i, s.typ, u.typ, typesOf(sys), typesOf(uring))
				}
				if s.fields["evt.is_io_uring"] != "false" {
					t.Errorf("syscall run: %s with evt.is_io_uring %s", s.typ, s.fields["evt.is_io_uring"])
				}
				if u.fields["evt.is_io_uring"] == "true" {
					ops = append(ops, u)
					opTypes = append(opTypes, u.typ)
				}
				if procEvents[s.typ] {
					continue // the two processes' own ids, args and counters
				}
				for _, n := range names {
					sv, uv := s.fields[n], u.fields[n]
					switch n {
					case "evt.is_io_uring":
						continue
					case "fd.sport":
						if tc.name == "accept" { // each run listens on a port of its own
							continue
						}
					}
					// ports of the two connections and inodes of the two files differ
					sv = helperPortRE.ReplaceAllString(inoRE.ReplaceAllString(portRE.ReplaceAllString(sv, ":P"), "ino=I"), "$1 P")
					uv = helperPortRE.ReplaceAllString(inoRE.ReplaceAllString(portRE.ReplaceAllString(uv, ":P"), "ino=I"), "$1 P")
					if sv != uv {
						t.Errorf("%s: %s: syscalls %q, io_uring %q", s.typ, n, sv, uv)
					}
				}
			}
			if strings.Join(opTypes, " ") != tc.types {
				t.Fatalf("io_uring events %v, want %s (all: %v)", opTypes, tc.types, typesOf(uring))
			}
			uring = ops
			// what the rules look at, spelled out
			first := uring[0].fields
			if first["proc.name"] != "uring" {
				t.Errorf("proc.name %q", first["proc.name"])
			}
			switch tc.name {
			case "open /etc/shadow", "open relative to a dirfd":
				if first["fd.name"] != "/etc/shadow" || first["evt.is_open_read"] != "true" || first["fd.typechar"] != "f" {
					t.Errorf("open: fd.name %q is_open_read %s typechar %s", first["fd.name"], first["evt.is_open_read"], first["fd.typechar"])
				}
			case "connect":
				if first["fd.cip"] != "127.0.0.1" || first["fd.sip"] != srv.Addr().String() || first["fd.sport"] != strconv.Itoa(int(srv.Port())) || first["fd.l4proto"] != "tcp" {
					t.Errorf("connect: fd.cip %s fd.sip %s fd.sport %s fd.l4proto %s", first["fd.cip"], first["fd.sip"], first["fd.sport"], first["fd.l4proto"])
				}
			case "write a file":
				if first["fd.name"] != file || first["evt.is_open_write"] != "true" {
					t.Errorf("create: fd.name %q is_open_write %s", first["fd.name"], first["evt.is_open_write"])
				}
				if w := uring[1].fields; w["fd.name"] != file {
					t.Errorf("write: fd.name %q, want %q", w["fd.name"], file)
				}
			}
			t.Logf("%s via io_uring: %s %s", tc.name, first["evt.type"], first["evt.args"])
		})
	}
}

var procEvents = map[string]bool{"clone": true, "clone3": true, "fork": true, "vfork": true, "execve": true, "procexit": true}

func typesOf(s []seen) []string {
	var out []string
	for _, e := range s {
		out = append(out, e.typ)
	}
	return out
}
