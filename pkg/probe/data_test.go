package probe

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
	"golang.org/x/sys/unix"
)

// stratum is a miner's first message to its pool (the stratum protocol, JSON-RPC over TCP),
// longer than the default snap length, with two bytes that are not printable.
var stratum = []byte(`{"id":1,"jsonrpc":"2.0","method":"mining.subscribe","params":["XMRig/6.21.0 (Linux x86_64)"]}` + "\x01\xff\n")

// The data helper's file content, in the order it writes it.
var (
	dataVec  = [][]byte{[]byte("vec-one:"), []byte("vec-two")}
	dataPW   = []byte("PW")
	dataFile = append(append(append(append([]byte(nil), stratum...), dataVec[0]...), dataVec[1]...), dataPW...)
)

// dataHelper writes and reads back a file in dir with every call of the write and read
// families, then sends stratum over a loopback TCP connection to itself and receives it.
func dataHelper(dir string) error {
	fd, err := unix.Open(filepath.Join(dir, "data"), unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	L := int64(len(stratum))
	steps := []func() (int, error){
		func() (int, error) { return unix.Write(fd, stratum) },
		func() (int, error) { return unix.Writev(fd, dataVec) },
		func() (int, error) { return unix.Pwrite(fd, dataPW, L+15) },
		func() (int, error) { return unix.Pread(fd, make([]byte, 200), 0) },
		func() (int, error) { n, err := unix.Seek(fd, 0, 0); return int(n), err },
		func() (int, error) { return unix.Read(fd, make([]byte, 20)) },
		func() (int, error) { return unix.Readv(fd, [][]byte{make([]byte, 10), make([]byte, 200)}) },
		func() (int, error) { return unix.Preadv(fd, [][]byte{make([]byte, 5), make([]byte, 5)}, L) },
		func() (int, error) { return unix.Pwritev(fd, [][]byte{[]byte("A"), []byte("B")}, L+17) },
	}
	for i, f := range steps {
		if _, err := f(); err != nil {
			return fmt.Errorf("file step %d: %v", i, err)
		}
	}

	ln, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(ln)
	if err := unix.Bind(ln, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := unix.Listen(ln, 1); err != nil {
		return err
	}
	sa, err := unix.Getsockname(ln)
	if err != nil {
		return err
	}
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(c)
	if err := unix.Connect(c, sa); err != nil {
		return err
	}
	s, _, err := unix.Accept(ln)
	if err != nil {
		return err
	}
	defer unix.Close(s)
	buf := make([]byte, 4096)
	recvAll := func(recv func() (int, error), want int) error {
		n, err := recv()
		if err == nil && n != want {
			err = fmt.Errorf("received %d bytes, want %d", n, want)
		}
		return err
	}
	// one send, then its receive: each receive returns exactly that send's bytes
	if _, err := unix.Write(c, stratum); err != nil {
		return err
	}
	if err := recvAll(func() (int, error) { return unix.Read(s, buf) }, len(stratum)); err != nil {
		return err
	}
	if err := unix.Sendto(c, stratum[:40], 0, nil); err != nil {
		return err
	}
	if err := recvAll(func() (int, error) { n, _, err := unix.Recvfrom(s, buf, 0); return n, err }, 40); err != nil {
		return err
	}
	if _, err := unix.SendmsgBuffers(c, [][]byte{stratum[:30], stratum[30:]}, nil, nil, 0); err != nil {
		return err
	}
	return recvAll(func() (int, error) {
		n, _, _, _, err := unix.RecvmsgBuffers(s, [][]byte{buf[:50], buf[50:]}, nil, 0)
		return n, err
	}, len(stratum))
}

// snapped is b cut at n bytes.
func snapped(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// dataRecords runs the data helper and returns its data-carrying records in order.
func dataRecords(t *testing.T, c *collector) (int, []*rec) {
	t.Helper()
	dir := t.TempDir()
	pid := helper(t, "data", dir)
	c.wait(t, "recvmsg of the data helper", func(r *rec) bool { return r.is("recvmsg", pid) })
	// from the open of the data file on (the Go runtime reads files of its own at start-up)
	file := filepath.Join(dir, "data")
	var out []*rec
	in := false
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.recs {
		if r.ev.TID != int64(pid) {
			continue
		}
		if s, _ := r.ev.ParamStr("name"); r.ev.Type == typ("openat") && s == file {
			in = true
		}
		if in && r.ev.Index("data") >= 0 {
			out = append(out, r)
		}
	}
	return pid, out
}

// wantData is what the helper's events carry with snap length n.
func wantData(n int) []struct {
	typ  string
	data []byte
} {
	L := len(stratum)
	return []struct {
		typ  string
		data []byte
	}{
		{"write", snapped(stratum, n)},
		{"writev", snapped([]byte("vec-one:vec-two"), n)},
		{"pwrite", snapped(dataPW, n)},
		{"pread", snapped(dataFile, n)},
		{"read", snapped(dataFile[:20], n)},
		{"readv", snapped(dataFile[20:], n)},
		{"preadv", snapped(dataFile[L:L+10], n)},
		{"pwritev", snapped([]byte("AB"), n)},
		{"write", snapped(stratum, n)},
		{"read", snapped(stratum, n)},
		{"sendto", snapped(stratum[:40], n)},
		{"recvfrom", snapped(stratum[:40], n)},
		{"sendmsg", snapped(stratum, n)},
		{"recvmsg", snapped(stratum, n)},
	}
}

func checkData(t *testing.T, recs []*rec, n int) {
	t.Helper()
	want := wantData(n)
	if len(recs) != len(want) {
		var got []string
		for _, r := range recs {
			got = append(got, r.ev.Info.Name)
		}
		t.Fatalf("%d data events %v, want %d", len(recs), got, len(want))
	}
	for i, w := range want {
		r := recs[i]
		d, _ := r.ev.Param("data")
		if r.ev.Info.Name != w.typ || !bytes.Equal(d, w.data) {
			t.Errorf("event %d: %s data %q, want %s data %q", i, r.ev.Info.Name, d, w.typ, w.data)
		}
		checkComplete(t, r)
	}
}

// Reads and writes on a file and on a loopback TCP socket carry their data up to the default
// snap length, seen through evt.buffer and evt.arg.data, and a payload rule matches live.
func TestDataBuffers(t *testing.T) {
	c := sharedProbe(t)
	defer c.p.SetSyscalls(nil)
	if err := c.p.SetSyscalls(Supported()); err != nil {
		t.Fatal(err)
	}
	pid, recs := dataRecords(t, c)
	checkData(t, recs, DefaultSnapLen)

	// sizes and positions of the vector and positioned calls
	L := int64(len(stratum))
	for _, r := range recs {
		switch r.ev.Info.Name {
		case "writev":
			if sz, _ := r.ev.ParamUint("size"); sz != 15 || r.int(t, "res") != 15 {
				t.Errorf("writev size %d res %d", sz, r.int(t, "res"))
			}
		case "readv":
			if sz, _ := r.ev.ParamUint("size"); sz != 210 || r.int(t, "res") != int64(len(dataFile))-20 {
				t.Errorf("readv size %d res %d", sz, r.int(t, "res"))
			}
		case "pwrite":
			if pos, _ := r.ev.ParamUint("pos"); pos != uint64(L+15) {
				t.Errorf("pwrite pos %d", pos)
			}
		case "preadv":
			if pos, _ := r.ev.ParamUint("pos"); pos != uint64(L) || r.int(t, "res") != 10 {
				t.Errorf("preadv pos %d res %d", pos, r.int(t, "res"))
			}
		case "sendmsg":
			if sz, _ := r.ev.ParamUint("size"); sz != uint64(L) {
				t.Errorf("sendmsg size %d", sz)
			}
		}
	}

	// the events through the pipeline: evt.buffer, evt.arg.data and a payload rule
	const rule = `
- rule: Stratum subscribe sent
  desc: test rule on a data buffer
  condition: evt.type in (write, sendto, sendmsg) and evt.buffer contains "mining.subscribe" and fd.type = ipv4
  output: stratum sent (proc.pid=%proc.pid fd.name=%fd.name buffer=%evt.buffer data=%evt.arg.data)
  priority: WARNING
`
	d := detect.New(state.Options{})
	rs, errs, _ := engine.Load([]loader.File{{Name: "stratum.yaml", Data: []byte(rule)}}, engine.Options{Sources: d.Sources()})
	if rs == nil {
		t.Fatal(errs)
	}
	d.Rules = rs
	var alerts []*alert.Alert
	d.Emit = func(a *alert.Alert) { alerts = append(alerts, a) }
	c.mu.Lock()
	for _, r := range c.recs {
		if r.ev.TID == int64(pid) {
			var ev event.Event
			if err := event.Decode(r.raw, &ev, true); err != nil {
				t.Fatal(err)
			}
			d.Event(&ev)
		}
	}
	c.mu.Unlock()
	if len(alerts) != 2 { // the socket's write and sendmsg (sendto's 40 bytes stop before the method)
		t.Fatalf("%d alerts, want 2: %+v", len(alerts), alerts)
	}
	printable := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '.'
		}
		return r
	}, string(snapped(stratum, DefaultSnapLen)))
	for _, a := range alerts {
		buf, _ := a.OutputFields["evt.buffer"].(string)
		if !strings.Contains(a.Output, fmt.Sprintf("proc.pid=%d fd.name=127.0.0.1:", pid)) ||
			!strings.HasPrefix(buf, `{"id":1,"jsonrpc":"2.0","method":"mining.subscribe"`) || len(buf) != DefaultSnapLen ||
			!strings.Contains(a.Output, "data="+printable) {
			t.Errorf("alert %q, evt.buffer %q", a.Output, buf)
		}
	}
}

// Options.SnapLen sets how much data events carry; out of range values are refused.
func TestSnapLenOption(t *testing.T) {
	needProbe(t)
	if _, err := Load(Options{SnapLen: MaxSnapLen + 1}); err == nil || !strings.Contains(err.Error(), "snap length") {
		t.Fatalf("snap length above the maximum: %v", err)
	}
	for _, n := range []int{200, -1} {
		closeShared()
		p, err := Load(Options{RingBytes: 4 << 20, SnapLen: n, ExcludeTGID: uint32(os.Getpid()), Syscalls: Supported()})
		if err != nil {
			t.Fatal(err)
		}
		c := &collector{p: p, done: make(chan struct{})}
		go c.run()
		_, recs := dataRecords(t, c)
		p.Close()
		<-c.done
		if n < 0 {
			n = 0
		}
		checkData(t, recs, n)
	}
}

// The data buffers of a live capture written as a .scap file render in sysdig as in Saker
// (evt.buffer and evt.arg.data of each event).
func TestDataBuffersSysdig(t *testing.T) {
	c := sharedProbe(t)
	defer c.p.SetSyscalls(nil)
	sysdig, err := exec.LookPath("sysdig")
	if err != nil {
		testshared.Need(t, "sysdig not installed (the oracle for captures)")
	}
	if err := c.p.SetSyscalls(Supported()); err != nil {
		t.Fatal(err)
	}
	pid, recs := dataRecords(t, c)
	path := filepath.Join(t.TempDir(), "data.scap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := scap.NewWriter(f, scap.WriterOptions{SysdigCompat: true, SynthesizeEnters: true})
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if err := w.WriteMachine(event.MachineInfo{NumCPUs: 1, MemoryBytes: 1 << 30, Hostname: host}); err != nil {
		t.Fatal(err)
	}
	const format = "%evt.type|%evt.buffer|%evt.arg.data"
	var sakerLines []string
	d := detect.New(state.Options{})
	fm, err := sysfields.NewFormatter(format, d.Source)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		var ev event.Event
		if err := event.Decode(r.raw, &ev, true); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteEvent(&ev); err != nil {
			t.Fatal(err)
		}
		line, _ := fm.Format(d.Event(&ev))
		sakerLines = append(sakerLines, line)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command(sysdig, "-r", path, "-p", format,
		fmt.Sprintf("evt.dir=< and thread.tid=%d", pid)).CombinedOutput()
	if err != nil {
		t.Fatalf("sysdig: %v: %s", err, out)
	}
	sysdigLines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if strings.Join(sysdigLines, "\n") != strings.Join(sakerLines, "\n") {
		t.Errorf("sysdig:\n%s\nsaker:\n%s", strings.Join(sysdigLines, "\n"), strings.Join(sakerLines, "\n"))
	}
}
