package output

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/saker-sec/saker/pkg/alert"

	"github.com/saker-sec/saker/internal/testshared"
)

// The JSON line of the default format is exactly what pkg/alert's MarshalJSON (Falco's schema)
// produces; the json_include_* options remove or add their keys.
func TestFormatJSON(t *testing.T) {
	a := testAlert(5)
	want, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	f := DefaultFormat
	f.JSON = true
	if got := f.Line(a); !bytes.Equal(got, want) {
		t.Errorf("Line\n got %s\nwant %s", got, want)
	}
	if _, err := checkFalcoJSON(f.Line(a)); err != nil {
		t.Error(err)
	}
	f = Format{JSON: true, IncludeMessage: true}
	var m map[string]any
	json.Unmarshal(f.Line(a), &m)
	if _, ok := m["output"]; ok {
		t.Error("output present with IncludeOutput off")
	}
	if _, ok := m["tags"]; ok {
		t.Error("tags present with IncludeTags off")
	}
	if m["message"] != a.Output {
		t.Errorf("message %q, want %q", m["message"], a.Output)
	}
	if got := (Format{}).Line(a); string(got) != a.Text() {
		t.Errorf("text line %q, want %q", got, a.Text())
	}
	iso := Format{ISO8601: true}.Text(a)
	if want := "2024-05-06T07:08:09.123456794+0000: Notice " + a.Output; iso != want {
		t.Errorf("ISO text %q, want %q", iso, want)
	}
}

// falcosidekick is a loopback HTTP(S) receiver standing in for falcosidekick: it accepts a
// POST only if the body passes Falco's schema and falcosidekick's acceptance rule, and the
// custom header is there; otherwise it answers 400, as falcosidekick does.
type falcosidekick struct {
	mu       sync.Mutex
	bodies   []map[string]any
	bad      []string
	requests atomic.Int64
	fail     atomic.Int64 // answer 503 to this many requests first
}

func (s *falcosidekick) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	if s.fail.Add(-1) >= 0 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	reject := func(msg string) {
		s.mu.Lock()
		s.bad = append(s.bad, msg)
		s.mu.Unlock()
		http.Error(w, "Bad request", http.StatusBadRequest)
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		reject(fmt.Sprintf("%s with content type %q", r.Method, r.Header.Get("Content-Type")))
		return
	}
	if r.Header.Get("X-Saker-Test") != "yes" || r.Header.Get("User-Agent") != "saker-test/1" {
		reject(fmt.Sprintf("headers %v", r.Header))
		return
	}
	m, err := checkFalcoJSON(bytes.TrimSuffix(body, []byte("\n")))
	if err != nil {
		reject(err.Error())
		return
	}
	s.mu.Lock()
	s.bodies = append(s.bodies, m)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (s *falcosidekick) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.bodies)
}

func jsonFormat() Format { f := DefaultFormat; f.JSON = true; return f }

func httpConfig(url string) HTTPConfig {
	return HTTPConfig{URL: url, UserAgent: "saker-test/1", Headers: map[string]string{"X-Saker-Test": "yes"},
		Format: jsonFormat(), Timeout: 5 * time.Second, MaxRetries: 3, Backoff: time.Millisecond, KeepAlive: true}
}

func sendAll(t *testing.T, ch Channel, n int) {
	t.Helper()
	m := NewManager(Options{Capacity: n + 10})
	m.Add(ch, 0)
	m.Start()
	for i := 0; i < n; i++ {
		m.Send(testAlert(i))
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := m.Stats()[0]; s.Sent != uint64(n) || s.Failed != 0 || s.Dropped != 0 {
		t.Fatalf("stats %+v, want %d sent", s, n)
	}
}

func TestHTTPPlain(t *testing.T) {
	sk := &falcosidekick{}
	srv := httptest.NewServer(sk)
	defer srv.Close()
	ch, err := NewHTTP(httpConfig(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	sendAll(t, ch, 50)
	if sk.count() != 50 || len(sk.bad) != 0 {
		t.Fatalf("receiver accepted %d, rejected %v", sk.count(), sk.bad)
	}
	// every alert arrived once, with its typed fields
	seen := map[float64]bool{}
	for _, b := range sk.bodies {
		of := b["output_fields"].(map[string]any)
		if of["proc.name"] != "cat" || of["fd.name"] != nil {
			t.Fatalf("output_fields %v", of)
		}
		seen[of["evt.num"].(float64)] = true
	}
	if len(seen) != 50 {
		t.Errorf("%d distinct alerts", len(seen))
	}
}

func TestHTTPSCustomCAAndMTLS(t *testing.T) {
	c := makeCerts(t)
	for _, mtls := range []bool{false, true} {
		t.Run(fmt.Sprintf("mtls=%v", mtls), func(t *testing.T) {
			sk := &falcosidekick{}
			srv := httptest.NewUnstartedServer(sk)
			cert, err := tls.LoadX509KeyPair(c.serverCert, c.serverKey)
			if err != nil {
				t.Fatal(err)
			}
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			if mtls {
				srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
				srv.TLS.ClientCAs = c.caPool
			}
			srv.StartTLS()
			defer srv.Close()

			// without the CA, the server is not trusted
			cfg := httpConfig(srv.URL)
			cfg.MaxRetries = 0
			ch, _ := NewHTTP(cfg)
			if err := ch.Write(context.Background(), testAlert(1)); err == nil {
				t.Fatal("untrusted server accepted")
			}
			cfg.CACert = c.caFile
			if mtls {
				// the CA alone is not enough when the server wants a client certificate
				ch, _ = NewHTTP(cfg)
				if err := ch.Write(context.Background(), testAlert(1)); err == nil {
					t.Fatal("server requiring mTLS accepted a client without certificate")
				}
				cfg.MTLS, cfg.ClientCert, cfg.ClientKey = true, c.clientCert, c.clientKey
			}
			ch, err = NewHTTP(cfg)
			if err != nil {
				t.Fatal(err)
			}
			sendAll(t, ch, 20)
			if sk.count() != 20 || len(sk.bad) != 0 {
				t.Fatalf("receiver accepted %d, rejected %v", sk.count(), sk.bad)
			}
			// ca_path: a directory of PEM files works too
			cfg.CACert, cfg.CAPath = "", filepath.Dir(c.caFile)
			if _, err := cfg.TLSConfig(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestHTTPRetryAndStatus(t *testing.T) {
	sk := &falcosidekick{}
	sk.fail.Store(2)
	srv := httptest.NewServer(sk)
	defer srv.Close()
	ch, _ := NewHTTP(httpConfig(srv.URL))
	if err := ch.Write(context.Background(), testAlert(1)); err != nil {
		t.Fatalf("not delivered after two 503s: %v", err)
	}
	if n := sk.requests.Load(); n != 3 || sk.count() != 1 {
		t.Fatalf("%d requests, %d accepted; want 3, 1", n, sk.count())
	}
	// a 4xx is not retried
	bad := httpConfig(srv.URL)
	bad.Headers = nil // the receiver answers 400
	ch, _ = NewHTTP(bad)
	before := sk.requests.Load()
	err := ch.Write(context.Background(), testAlert(1))
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 400 {
		t.Fatalf("err %v, want status 400", err)
	}
	if n := sk.requests.Load() - before; n != 1 {
		t.Fatalf("400 tried %d times", n)
	}
	// retries give up after MaxRetries
	sk.fail.Store(100)
	before = sk.requests.Load()
	ch, _ = NewHTTP(httpConfig(srv.URL))
	if err := ch.Write(context.Background(), testAlert(1)); err == nil {
		t.Fatal("delivered to a server answering 503")
	}
	if n := sk.requests.Load() - before; n != 4 {
		t.Fatalf("%d attempts, want 1 + 3 retries", n)
	}
	sk.fail.Store(0)
}

func TestHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer srv.Close()
	defer close(release)
	cfg := httpConfig(srv.URL)
	cfg.Timeout, cfg.MaxRetries = 50*time.Millisecond, 1
	ch, _ := NewHTTP(cfg)
	err := ch.Write(context.Background(), testAlert(1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a timeout", err)
	}
}

// syslog receivers on loopback: UDP, TCP and a unix datagram socket.
func TestSyslog(t *testing.T) {
	check := func(t *testing.T, msgs []string, facility int) {
		t.Helper()
		if len(msgs) != 16 {
			t.Fatalf("%d messages, want 16", len(msgs))
		}
		for i, msg := range msgs {
			a := testAlert(i)
			pri := "<" + strconv.Itoa(facility*8+i%8) + ">"
			if !strings.HasPrefix(msg, pri) {
				t.Errorf("message %q, want prefix %s", msg, pri)
			}
			if !strings.Contains(msg, " saker-test["+strconv.Itoa(os.Getpid())+"]: ") || !strings.HasSuffix(msg, a.Text()) {
				t.Errorf("message %q lacks tag or text line %q", msg, a.Text())
			}
		}
	}
	t.Run("udp", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		ch, err := NewSyslog(SyslogConfig{Address: "udp://" + pc.LocalAddr().String(), Facility: 16, Tag: "saker-test", Hostname: "h1"})
		if err != nil {
			t.Fatal(err)
		}
		got := readDatagrams(pc, 16)
		sendAll(t, ch, 16)
		msgs := <-got
		check(t, msgs, 16)
		if !strings.Contains(msgs[0], " h1 saker-test[") {
			t.Errorf("remote message %q lacks the hostname", msgs[0])
		}
	})
	t.Run("tcp", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan []string)
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				got <- nil
				return
			}
			var msgs []string
			sc := bufio.NewScanner(conn)
			for sc.Scan() {
				msgs = append(msgs, sc.Text())
			}
			got <- msgs
		}()
		ch, _ := NewSyslog(SyslogConfig{Address: "tcp://" + ln.Addr().String(), Facility: 1, Tag: "saker-test"})
		sendAll(t, ch, 16) // Close closes the connection: the receiver's scan ends
		check(t, <-got, 1)
	})
	t.Run("unixgram", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "log.sock")
		pc, err := net.ListenPacket("unixgram", path)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		ch, _ := NewSyslog(SyslogConfig{Address: "unixgram://" + path, Facility: 1, Tag: "saker-test"})
		got := readDatagrams(pc, 16)
		sendAll(t, ch, 16)
		msgs := <-got
		check(t, msgs, 1)
	})
	for _, bad := range []string{"udp://nohostport", "tcp:/x", "sctp://a:1", "unix://"} {
		if _, err := NewSyslog(SyslogConfig{Address: bad}); err == nil {
			t.Errorf("address %q accepted", bad)
		}
	}
}

// readDatagrams reads n datagrams concurrently, as a syslog daemon does.
func readDatagrams(pc net.PacketConn, n int) chan []string {
	got := make(chan []string, 1)
	go func() {
		var msgs []string
		buf := make([]byte, 65536)
		for range n {
			pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				break
			}
			msgs = append(msgs, string(buf[:k]))
		}
		got <- msgs
	}()
	return got
}

// File channel with rotation: the file is moved away, SIGUSR1 makes the channel reopen it by
// name, later alerts land in the new file and none is lost.
func TestFileRotationOnSIGUSR1(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.txt")
	os.WriteFile(path, []byte("previous line\n"), 0o600)
	ch, err := NewFile(path, true, DefaultFormat)
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(Options{})
	m.Add(ch, 0)
	m.Start()
	stop := m.ReopenOnSignal()
	defer stop()
	for i := 0; i < 10; i++ {
		m.Send(testAlert(i))
	}
	waitFor(t, "10 alerts written", func() bool { return statsOf(m, "file").Sent == 10 })
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	waitFor(t, "reopen", func() bool { return m.Reopens() == 1 })
	for i := 10; i < 25; i++ {
		m.Send(testAlert(i))
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	old, cur := testshared.ReadLines(t, path+".1"), testshared.ReadLines(t, path)
	if len(old) != 11 || old[0] != "previous line" || len(cur) != 15 {
		t.Fatalf("rotated file %d lines, new file %d lines; want 11 (appended) and 15", len(old), len(cur))
	}
	for i, l := range append(old[1:], cur...) {
		if l != testAlert(i).Text() {
			t.Fatalf("line %d: %q, want %q", i, l, testAlert(i).Text())
		}
	}
	// without keep_alive the file is opened per alert: a rotation needs no signal
	ch2, _ := NewFile(path, false, jsonFormat())
	ch2.Write(context.Background(), testAlert(30))
	os.Rename(path, path+".2")
	ch2.Write(context.Background(), testAlert(31))
	if l := testshared.ReadLines(t, path); len(l) != 1 {
		t.Fatalf("%d lines after rotation without keep_alive", len(l))
	} else if _, err := checkFalcoJSON([]byte(l[0])); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFile(filepath.Join(dir, "missing", "x.txt"), true, DefaultFormat); err == nil {
		t.Error("file in a missing directory accepted")
	}
}

// Program channel: each alert is a line on the program's stdin; a kept-alive program that
// dies is restarted and nothing is lost.
func TestProgramRestart(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	ch, err := NewProgram(ProgramConfig{Command: "cat >> " + out, KeepAlive: true})
	if err != nil {
		t.Fatal(err)
	}
	m := NewManager(Options{})
	m.Add(ch, 0)
	m.Start()
	for i := 0; i < 10; i++ {
		m.Send(testAlert(i))
	}
	waitFor(t, "10 lines from the program", func() bool {
		b, _ := os.ReadFile(out)
		return bytes.Count(b, []byte("\n")) == 10
	})
	ch.mu.Lock()
	pid := ch.proc.Process.Pid
	ch.mu.Unlock()
	syscall.Kill(-pid, syscall.SIGKILL)
	waitFor(t, "the program to die", func() bool {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		return !ch.alive()
	})
	for i := 10; i < 20; i++ {
		m.Send(testAlert(i))
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ch.Restarts() != 1 {
		t.Errorf("%d restarts, want 1", ch.Restarts())
	}
	lines := testshared.ReadLines(t, out)
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20", len(lines))
	}
	for i, l := range lines {
		if l != testAlert(i).Text() {
			t.Fatalf("line %d: %q", i, l)
		}
	}
	// without keep_alive: one process per alert
	out2 := filepath.Join(dir, "out2.txt")
	ch2, _ := NewProgram(ProgramConfig{Command: "cat >> " + out2 + "; echo x >> " + out2, Format: jsonFormat()})
	sendAll(t, ch2, 3)
	if l := testshared.ReadLines(t, out2); len(l) != 6 || l[1] != "x" || l[5] != "x" {
		t.Fatalf("per-alert program output %q", l)
	}
}

// A dead HTTP receiver and a program that never reads its stdin: Send never blocks, the two
// channels drop and count, the others receive every alert plus internal alerts announcing
// the drops, and Close returns at its deadline. Asserted with counters only.
func TestDeadAndBlockedChannels(t *testing.T) {
	const n = 5000
	sk := &falcosidekick{}
	good := httptest.NewServer(sk)
	defer good.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + ln.Addr().String()
	ln.Close() // connection refused from now on

	path := filepath.Join(t.TempDir(), "events.json")
	file, _ := NewFile(path, true, jsonFormat())
	goodCh, _ := NewHTTP(httpConfig(good.URL))
	deadCfg := httpConfig(deadURL)
	deadCfg.Name = "http-dead"
	dead, _ := NewHTTP(deadCfg)
	blocked, _ := NewProgram(ProgramConfig{Name: "program-blocked", Command: "exec sleep 600", KeepAlive: true})

	var total atomic.Uint64
	m := NewManager(Options{Observe: func(*alert.Alert) { total.Add(1) }, DropAlertInterval: 50 * time.Millisecond})
	m.Add(file, 2*n)
	m.Add(goodCh, 2*n)
	m.Add(dead, 8)
	m.Add(blocked, 8)
	m.Start()
	for i := 0; i < n; i++ { // the detection loop: must never block
		m.Send(testAlert(i))
	}
	for _, name := range []string{"http-dead", "program-blocked"} {
		if s := statsOf(m, name); s.Dropped == 0 {
			t.Errorf("%s dropped nothing: %+v", name, s)
		}
	}
	waitFor(t, "the file and the good receiver to get every alert", func() bool {
		return statsOf(m, "file").Sent >= n && statsOf(m, "http").Sent >= n
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := m.Close(ctx)
	t.Logf("close: %v", err)
	all := total.Load()
	internal := all - n
	if internal == 0 {
		t.Fatal("no internal alert announced the drops")
	}
	for _, s := range m.Stats() {
		t.Logf("%+v", s)
		switch s.Name {
		case "file", "http":
			if s.Dropped != 0 || s.Failed != 0 || s.Sent != all {
				t.Errorf("%s: %+v, want all %d alerts sent", s.Name, s, all)
			}
		case "http-dead":
			// every alert is accounted for: delivered (never), failed after retries, or dropped
			if s.Sent != 0 || s.Failed+s.Dropped+uint64(s.Depth) != all {
				t.Errorf("%s: %+v, want failed+dropped+queued = %d", s.Name, s, all)
			}
		}
	}
	// the receivers saw the internal alerts naming both faulty channels
	lines := testshared.ReadLines(t, path)
	if uint64(len(lines)) != all || uint64(sk.count()) != all {
		t.Fatalf("file has %d lines, receiver %d alerts; want %d", len(lines), sk.count(), all)
	}
	named := map[string]bool{}
	for _, l := range lines {
		var a map[string]any
		json.Unmarshal([]byte(l), &a)
		if a["source"] == "internal" {
			if a["rule"] != DropRule || a["priority"] != "Critical" {
				t.Errorf("internal alert %s", l)
			}
			named[a["output_fields"].(map[string]any)["channel"].(string)] = true
		}
	}
	if !named["http-dead"] || !named["program-blocked"] || named["file"] || named["http"] {
		t.Errorf("internal alerts named %v", named)
	}
	if len(sk.bad) != 0 {
		t.Errorf("receiver rejected %v", sk.bad[:min(3, len(sk.bad))])
	}
}

// Several channels at once from one manager: stdout-like writer, file, HTTP, program.
func TestSeveralChannels(t *testing.T) {
	dir := t.TempDir()
	var stdout bytes.Buffer
	sk := &falcosidekick{}
	srv := httptest.NewServer(sk)
	defer srv.Close()
	file, _ := NewFile(filepath.Join(dir, "f.txt"), false, DefaultFormat)
	h, _ := NewHTTP(httpConfig(srv.URL))
	p, _ := NewProgram(ProgramConfig{Command: "cat > " + filepath.Join(dir, "p.txt"), KeepAlive: true, Format: jsonFormat()})
	m := NewManager(Options{})
	m.Add(NewWriter("stdout", &stdout, DefaultFormat), 0)
	m.Add(file, 0)
	m.Add(h, 0)
	m.Add(p, 0)
	m.Start()
	for i := 0; i < 100; i++ {
		m.Send(testAlert(i))
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(stdout.String(), "\n"); got != 100 {
		t.Errorf("stdout %d lines", got)
	}
	if l := testshared.ReadLines(t, filepath.Join(dir, "f.txt")); len(l) != 100 {
		t.Errorf("file %d lines", len(l))
	}
	if sk.count() != 100 {
		t.Errorf("http %d", sk.count())
	}
	l := testshared.ReadLines(t, filepath.Join(dir, "p.txt"))
	if len(l) != 100 {
		t.Fatalf("program %d lines", len(l))
	}
	if _, err := checkFalcoJSON([]byte(l[99])); err != nil {
		t.Error(err)
	}
	for _, s := range m.Stats() {
		if s.Sent != 100 {
			t.Errorf("%+v", s)
		}
	}
	// after Close, Send drops and counts
	m.Send(testAlert(1))
	if s := statsOf(m, "stdout"); s.Dropped != 1 {
		t.Errorf("send after close: %+v", s)
	}
}

// freshAlert is what the detector hands over per match: a new alert with its own fields map.
func freshAlert(proto *alert.Alert) *alert.Alert {
	a := *proto
	a.OutputFields = make(map[string]any, len(proto.OutputFields))
	for k, v := range proto.OutputFields {
		a.OutputFields[k] = v
	}
	return &a
}

// BenchmarkSend3Channels is the cost of Send with three channels, including building a fresh
// alert per iteration (BenchmarkFreshAlert alone, to subtract).
func BenchmarkSend3Channels(b *testing.B) {
	m := NewManager(Options{Capacity: 1 << 16, Logger: slog.New(slog.DiscardHandler)})
	for _, n := range []string{"a", "b", "c"} {
		m.Add(NewWriter(n, io.Discard, jsonFormat()), 0)
	}
	m.Start()
	proto := testAlert(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Send(freshAlert(proto))
	}
	b.StopTimer()
	m.Close(context.Background())
}

func BenchmarkFreshAlert(b *testing.B) {
	proto := testAlert(1)
	b.ReportAllocs()
	var sink *alert.Alert
	for i := 0; i < b.N; i++ {
		sink = freshAlert(proto)
	}
	_ = sink
}

// Field values may alias the event buffer, which the reader reuses as soon as Send returns:
// the channels must still write what the alert said when it was sent.
func TestSendDetachesFieldStrings(t *testing.T) {
	var buf bytes.Buffer
	m := NewManager(Options{})
	m.Add(NewWriter("w", &buf, jsonFormat()), 0)
	raw := []byte("/etc/shadow")
	a := testAlert(1)
	a.OutputFields["fd.name"] = unsafe.String(&raw[0], len(raw))
	a.OutputFields["list"] = []any{unsafe.String(&raw[0], 4)}
	m.Send(a)
	copy(raw, "XXXXXXXXXXX") // the reader reuses its buffer
	m.Start()
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(buf.Bytes(), &got)
	of := got["output_fields"].(map[string]any)
	if of["fd.name"] != "/etc/shadow" || of["list"].([]any)[0] != "/etc" {
		t.Fatalf("output_fields %v", of)
	}
}

// discardChannel takes alerts without formatting them: the benchmark below then measures
// Send itself, not the workers' JSON encoding competing for the same cores.
type discardChannel struct{ name string }

func (c discardChannel) Name() string                              { return c.name }
func (c discardChannel) Write(context.Context, *alert.Alert) error { return nil }
func (c discardChannel) Close(context.Context) error               { return nil }

func BenchmarkSend3ChannelsNoFormat(b *testing.B) {
	m := NewManager(Options{Capacity: 1 << 16, Logger: slog.New(slog.DiscardHandler)})
	for _, n := range []string{"a", "b", "c"} {
		m.Add(discardChannel{n}, 0)
	}
	m.Start()
	proto := testAlert(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Send(freshAlert(proto))
	}
	b.StopTimer()
	m.Close(context.Background())
}
