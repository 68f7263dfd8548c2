package sysfields

import (
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// typeName is evt.type: the event's name, or for a generic event the syscall's name.
func typeName(ev *event.Event) string {
	if ev.Info == nil {
		return ""
	}
	if isGeneric(ev) {
		if ev.Has(0) {
			id := ev.Uint(0)
			if id > 0 && id < uint64(len(syscallNames)) {
				return syscallNames[id]
			}
		}
		return "<unknown>"
	}
	return ev.Info.Name
}

// category returns the event's category and, for I/O categories, the one the fd decides.
func (s *Source) category(c *state.Context) string {
	ev := c.Ev
	name := typeName(ev)
	cat, ok := eventCategory[name]
	if !ok {
		cat = ecOther
		if isGeneric(ev) && name != "<unknown>" {
			cat = genericCategory(name)
		}
	}
	if cat&ecIOBaseMask != 0 && cat < ecWait {
		if c.FD == nil {
			return "unknown"
		}
		switch c.FD.Type {
		case event.FDFile, event.FDFileV2, event.FDDirectory:
			return "file"
		case event.FDIPv4Sock, event.FDIPv6Sock, event.FDIPv4Server, event.FDIPv6Server, event.FDNetlink:
			return "net"
		case event.FDFifo, event.FDUnixSock, event.FDEvent, event.FDSignalfd, event.FDInotify:
			return "ipc" // libsinsp's I/O subcategory name (the IPC category itself is "IPC")
		}
		return "unknown"
	}
	return categoryNames[cat]
}

// genericCategory guesses a generic syscall's category from its name (libsinsp reads it from
// its syscall table).
func genericCategory(name string) int {
	switch {
	case strings.Contains(name, "time") || strings.HasPrefix(name, "clock_") || name == "alarm":
		return ecTime
	case strings.HasPrefix(name, "m") && (strings.Contains(name, "map") || strings.Contains(name, "advise") ||
		strings.Contains(name, "protect") || strings.Contains(name, "lock") || strings.Contains(name, "sync")):
		return ecMemory
	case strings.HasPrefix(name, "rt_sig") || strings.HasPrefix(name, "sig"):
		return ecSignal
	case strings.Contains(name, "sleep"):
		return ecSleep
	case strings.Contains(name, "select") || strings.Contains(name, "poll") || strings.HasPrefix(name, "epoll"):
		return ecWait
	case strings.HasPrefix(name, "get") && strings.Contains(name, "uid") || strings.Contains(name, "gid"):
		return ecUser
	}
	return ecProcess
}

// resParam returns the event's return value param: "res", or "fd" for an exit creating a fd.
func resParam(ev *event.Event) (int64, bool) {
	if ev.Info == nil || ev.Info.Dir != 'X' {
		return 0, false
	}
	if i := ev.Index("res"); ev.Has(i) {
		return ev.Int(i), true
	}
	if ev.Info.Flags&event.EFCreatesFD != 0 {
		if i := ev.Index("fd"); ev.Has(i) {
			return ev.Int(i), true
		}
	}
	return 0, false
}

// argRef is a bound evt.arg argument: a param name, or a number for evt.arg[N].
type argRef struct {
	name string
	idx  int // -1 for a name
}

func parseArgRef(arg string) argRef {
	if n, err := strconv.Atoi(arg); err == nil && n >= 0 {
		return argRef{idx: n}
	}
	return argRef{name: arg, idx: -1}
}

// index resolves the argument in ev's layout (-1 when ev has no such param).
func (a argRef) index(ev *event.Event) int {
	if ev.Info == nil {
		return -1
	}
	if a.idx >= 0 {
		if a.idx < len(ev.Info.Params) {
			return a.idx
		}
		return -1
	}
	return ev.Info.ParamIndex(a.name)
}

func fmtTime(ts uint64, layout string, utc bool) string {
	t := time.Unix(0, int64(ts))
	if utc {
		t = t.UTC()
	}
	return t.Format(layout)
}

func (s *Source) evtField(name, arg string) (func(c *state.Context) (fields.Value, bool), error) {
	switch name {
	case "evt.is_io_uring":
		return func(c *state.Context) (fields.Value, bool) { return boolean(c.Ev.IsIOUring()) }, nil
	case "evt.is_ia32":
		return func(c *state.Context) (fields.Value, bool) { return boolean(c.Ev.IsIA32()) }, nil
	case "evt.num":
		return func(c *state.Context) (fields.Value, bool) { return num(c.Ev.Num) }, nil
	case "evt.time", "evt.outputtime":
		return func(c *state.Context) (fields.Value, bool) { return str(fmtTime(c.Ev.TS, "15:04:05.000000000", false)) }, nil
	case "evt.time.s":
		return func(c *state.Context) (fields.Value, bool) { return str(fmtTime(c.Ev.TS, "15:04:05", false)) }, nil
	case "evt.time.iso8601":
		return func(c *state.Context) (fields.Value, bool) {
			return str(fmtTime(c.Ev.TS, "2006-01-02T15:04:05.000000000", true) + "+0000")
		}, nil
	case "evt.datetime":
		return func(c *state.Context) (fields.Value, bool) {
			return str(fmtTime(c.Ev.TS, "2006-01-02 15:04:05.000000000", false))
		}, nil
	case "evt.datetime.s":
		return func(c *state.Context) (fields.Value, bool) {
			return str(fmtTime(c.Ev.TS, "2006-01-02 15:04:05", false))
		}, nil
	case "evt.rawtime":
		return func(c *state.Context) (fields.Value, bool) { return num(c.Ev.TS) }, nil
	case "evt.rawtime.s":
		return func(c *state.Context) (fields.Value, bool) { return num(c.Ev.TS / 1e9) }, nil
	case "evt.rawtime.ns":
		return func(c *state.Context) (fields.Value, bool) { return num(c.Ev.TS % 1e9) }, nil
	case "evt.reltime", "evt.reltime.s", "evt.reltime.ns":
		return func(c *state.Context) (fields.Value, bool) {
			if !s.tracked || c.Ev.TS < s.firstTS {
				return fields.Value{}, false
			}
			d := c.Ev.TS - s.firstTS
			switch name {
			case "evt.reltime.s":
				d /= 1e9
			case "evt.reltime.ns":
				d %= 1e9
			}
			return num(d)
		}, nil
	case "evt.latency", "evt.latency.s", "evt.latency.ns", "evt.latency.human":
		var human string // libsinsp keeps the last rendering, and shows it again without a thread
		return func(c *state.Context) (fields.Value, bool) {
			if !s.tracked || s.latencyN != c.Ev.Num {
				return fields.Value{}, false
			}
			d := s.latency
			switch name {
			case "evt.latency.s":
				d /= 1e9
			case "evt.latency.ns":
				d %= 1e9
			case "evt.latency.human":
				if c.Thread != nil {
					human = humanDuration(d)
				}
				return str(human)
			}
			return num(d)
		}, nil
	case "evt.wait_latency":
		return s.waitLatency, nil
	case "evt.latency.quantized":
		return s.latencyQuantized, nil
	case "evt.deltatime", "evt.deltatime.s", "evt.deltatime.ns":
		// libsinsp: the time since the previous event this field was extracted from (so,
		// in output, since the previous printed event); 0 for the first
		var prevNum, prevTS, last uint64
		return func(c *state.Context) (fields.Value, bool) {
			ev := c.Ev
			if ev.Num == prevNum && prevNum != 0 {
				return num(last)
			}
			var d uint64
			if prevNum != 0 && ev.TS >= prevTS {
				d = ev.TS - prevTS
			}
			prevNum, prevTS = ev.Num, ev.TS
			switch name {
			case "evt.deltatime.s":
				d /= 1e9
			case "evt.deltatime.ns":
				d %= 1e9
			}
			last = d
			return num(d)
		}, nil
	case "evt.dir":
		return func(c *state.Context) (fields.Value, bool) {
			if c.Ev.Info == nil {
				return fields.Value{}, false
			}
			if c.Ev.Info.Dir == 'E' {
				return str(">")
			}
			return str("<")
		}, nil
	case "evt.type":
		return func(c *state.Context) (fields.Value, bool) {
			if c.Ev.Info == nil {
				return fields.Value{}, false
			}
			return str(typeName(c.Ev))
		}, nil
	case "evt.type.is":
		if s.opts.Sysdig029 && s.opts.Print029 {
			return func(c *state.Context) (fields.Value, bool) { return fields.Value{}, false }, nil
		}
		return func(c *state.Context) (fields.Value, bool) { return boolean(typeName(c.Ev) == arg) }, nil
	case "syscall.type":
		return func(c *state.Context) (fields.Value, bool) {
			ev := c.Ev
			if ev.Info == nil {
				return fields.Value{}, false
			}
			n := typeName(ev)
			if cat := eventCategory[n]; cat == ecInternal || cat == ecScheduler ||
				n == "signaldeliver" || n == "page_fault" || n == "container" || n == "notification" {
				return fields.Value{}, false
			}
			return str(n)
		}, nil
	case "evt.category":
		return func(c *state.Context) (fields.Value, bool) { return str(s.category(c)) }, nil
	case "evt.cpu":
		return func(c *state.Context) (fields.Value, bool) { return num(uint64(c.Ev.CPU)) }, nil
	case "evt.args", "evt.info":
		return func(c *state.Context) (fields.Value, bool) { return str(s.r.args(c, s.view(c))) }, nil
	case "evt.arg":
		ref := parseArgRef(arg)
		return func(c *state.Context) (fields.Value, bool) {
			ev := s.view(c)
			i := ref.index(ev)
			if i < 0 || !ev.Has(i) {
				return fields.Value{}, false
			}
			return str(s.renderedArg(c, ev, i))
		}, nil
	case "evt.rawarg":
		ref := parseArgRef(arg)
		return func(c *state.Context) (fields.Value, bool) {
			ev := s.view(c)
			i := ref.index(ev)
			if i < 0 || !ev.Has(i) {
				return fields.Value{}, false
			}
			return rawArg(ev, i)
		}, nil
	case "evt.buffer":
		return func(c *state.Context) (fields.Value, bool) {
			ev := s.view(c)
			if ev.Info == nil || ev.Info.Flags&(event.EFReadsFromFD|event.EFWritesToFD) == 0 {
				return fields.Value{}, false
			}
			i := ev.Index("data")
			if !ev.Has(i) {
				return fields.Value{}, false
			}
			return fields.Value{S: string(ev.Params[i])}, true
		}, nil
	case "evt.buflen", "evt.buflen.in", "evt.buflen.out", "evt.buflen.file", "evt.buflen.file.in",
		"evt.buflen.file.out", "evt.buflen.net", "evt.buflen.net.in", "evt.buflen.net.out":
		return func(c *state.Context) (fields.Value, bool) {
			ev := s.view(c)
			if ev.Info == nil || ev.Info.Dir != 'X' || s.ctxFD(c) == nil && s.placeholderFD(c) {
				// (sysdig 0.29 has no buffer length for an event on a fd its table lacks)
				return fields.Value{}, false
			}
			cat := eventCategory[typeName(ev)]
			if cat&ecIOBaseMask == 0 || cat >= ecWait {
				return fields.Value{}, false
			}
			res, ok := resParam(ev)
			if !ok || res < 0 {
				return fields.Value{}, false
			}
			if name != "evt.buflen" {
				in := cat == ecIORead
				if strings.HasSuffix(name, ".in") && !in || strings.HasSuffix(name, ".out") && (in || cat != ecIOWrite) {
					return fields.Value{}, false
				}
				fc := s.category(c)
				if strings.Contains(name, ".file") && fc != "file" || strings.Contains(name, ".net") && fc != "net" {
					return fields.Value{}, false
				}
			}
			return inum(res)
		}, nil
	case "evt.res":
		return func(c *state.Context) (fields.Value, bool) {
			res, ok := resParam(s.view(c))
			if !ok {
				return fields.Value{}, false
			}
			if res >= 0 {
				return str("SUCCESS")
			}
			if n := errnoName(-res); n != "" {
				return str(n)
			}
			return str(strconv.FormatInt(res, 10))
		}, nil
	case "evt.rawres":
		return func(c *state.Context) (fields.Value, bool) {
			res, ok := resParam(s.view(c))
			if !ok {
				return fields.Value{}, false
			}
			return inum(res)
		}, nil
	case "evt.failed":
		return func(c *state.Context) (fields.Value, bool) {
			res, ok := resParam(s.view(c))
			return boolean(ok && res < 0)
		}, nil
	case "evt.count.error":
		// the evt.count fields are 1 or have no value (libsinsp)
		return func(c *state.Context) (fields.Value, bool) {
			if res, ok := resParam(s.view(c)); ok && res < 0 {
				return num(1)
			}
			return fields.Value{}, false
		}, nil
	case "evt.count.error.file", "evt.count.error.net", "evt.count.error.memory", "evt.count.error.other":
		want := strings.TrimPrefix(name, "evt.count.error.")
		return func(c *state.Context) (fields.Value, bool) {
			res, ok := resParam(s.view(c))
			if !ok || res >= 0 {
				return fields.Value{}, false
			}
			cat := s.category(c)
			var hit bool
			switch want {
			case "file", "net", "memory":
				hit = cat == want
			default:
				hit = cat != "file" && cat != "net" && cat != "memory"
			}
			if !hit {
				return fields.Value{}, false
			}
			return num(1)
		}, nil
	case "evt.count":
		return func(c *state.Context) (fields.Value, bool) { return num(1) }, nil
	case "evt.count.exit":
		return func(c *state.Context) (fields.Value, bool) {
			if c.Ev.Info == nil || c.Ev.Info.Dir != 'X' {
				return fields.Value{}, false
			}
			return num(1)
		}, nil
	case "evt.is_io", "evt.is_io_read", "evt.is_io_write", "evt.io_dir", "evt.is_wait":
		return func(c *state.Context) (fields.Value, bool) {
			ev := c.Ev
			if ev.Info == nil {
				return fields.Value{}, false
			}
			f := ev.Info.Flags
			switch name {
			case "evt.is_io":
				return boolean(f&(event.EFReadsFromFD|event.EFWritesToFD) != 0)
			case "evt.is_io_read":
				return boolean(f&event.EFReadsFromFD != 0)
			case "evt.is_io_write":
				return boolean(f&event.EFWritesToFD != 0)
			case "evt.is_wait":
				return boolean(f&event.EFWaits != 0)
			}
			switch {
			case f&event.EFReadsFromFD != 0:
				return str("read") // what libsinsp prints, whatever the description says
			case f&event.EFWritesToFD != 0:
				return str("write")
			}
			return fields.Value{}, false
		}, nil
	case "evt.is_syslog":
		return func(c *state.Context) (fields.Value, bool) {
			ev := c.Ev
			return boolean(ev.Info != nil && ev.Info.Flags&event.EFWritesToFD != 0 && c.FD != nil &&
				(c.FD.Name == "/dev/log" || strings.HasPrefix(c.FD.Name, "/dev/log ")))
		}, nil
	case "evt.is_open_read", "evt.is_open_write", "evt.is_open_exec", "evt.is_open_create":
		// exec: an opened file with execute permission requested (FMODE_EXEC is not
		// recorded); libsinsp checks the same flag
		mask := uint32(scapOExec)
		switch name {
		case "evt.is_open_read":
			mask = scapORdonly
		case "evt.is_open_write":
			mask = scapOWronly
		case "evt.is_open_create":
			mask = scapOCreat | scapOFCreated
		}
		return func(c *state.Context) (fields.Value, bool) {
			flags, ok := openFlags(c.Ev)
			return boolean(ok && flags&mask != 0)
		}, nil
	case "evt.abspath":
		return func(c *state.Context) (fields.Value, bool) { return s.absPath(c, arg) }, nil
	case "evt.hostname":
		return func(c *state.Context) (fields.Value, bool) {
			if s.st == nil {
				return fields.Value{}, false
			}
			h := s.st.Machine().Hostname
			if h == "" {
				return fields.Value{}, false
			}
			return str(h)
		}, nil
	case "evt.source":
		return func(c *state.Context) (fields.Value, bool) { return str("syscall") }, nil
	case "evt.is_async":
		return func(c *state.Context) (fields.Value, bool) { return boolean(false) }, nil
	case "evt.count.procinfo", "evt.count.threadinfo":
		return func(c *state.Context) (fields.Value, bool) {
			return boolean(c.Ev.Info != nil && c.Ev.Info.Name == "procinfo")
		}, nil
	}
	return nil, nil
}

// Open flags in the scap encoding (flag table file_flags).
const (
	scapORdonly   = 0x1
	scapOWronly   = 0x2
	scapOCreat    = 0x4
	scapOExec     = 0x20000 // not recorded by any driver version: is_open_exec is never true here
	scapOFCreated = 0x4000
)

// openFlagsAt classifies an event-table row: for the open family's exits the index of the
// flags param, openIsCreat for creat (which has none), openNot for every other row (and for
// an open without a flags param).
func openFlagsAt(info *event.Info) int8 {
	if info.Dir != 'X' {
		return openNot
	}
	switch info.Name {
	case "creat":
		return openIsCreat
	case "open", "openat", "openat2", "open_by_handle_at":
		if j := info.ParamIndex("flags"); j >= 0 {
			return int8(j)
		}
	}
	return openNot
}

const (
	openNot     = -1
	openIsCreat = -2
)

// openFlagIdx is openFlagsAt of every row of the event table, by code.
var openFlagIdx = func() (t [event.NumEvents]int8) {
	for i := range event.Table {
		t[i] = openFlagsAt(&event.Table[i])
	}
	return t
}()

// openFlags returns the flags of an open-family exit event.
func openFlags(ev *event.Event) (uint32, bool) {
	info := ev.Info
	if info == nil {
		return 0, false
	}
	var k int8
	if int(info.Code) < len(openFlagIdx) && info == &event.Table[info.Code] {
		k = openFlagIdx[info.Code]
	} else {
		k = openFlagsAt(info) // an older layout's row
	}
	switch k {
	case openNot:
		return 0, false
	case openIsCreat:
		return scapOCreat | scapOWronly, true
	}
	return uint32(ev.Uint(int(k))), ev.Has(int(k))
}

// rawArg returns a param's value typed as libsinsp's evt.rawarg does: numbers as numbers,
// strings as strings.
func rawArg(ev *event.Event, i int) (fields.Value, bool) {
	p := ev.Info.Params[i]
	switch p.Type {
	case event.PTInt16, event.PTInt32, event.PTInt64, event.PTErrno, event.PTFd, event.PTFd32,
		event.PTPid, event.PTPid32:
		return inum(ev.Int(i))
	case event.PTCharbuf, event.PTFspath, event.PTFsrelpath:
		return str(ev.Str(i))
	case event.PTBytebuf:
		return str(string(ev.Params[i]))
	case event.PTIpv4addr, event.PTIpv6addr:
		if a, ok := ev.Addr(i); ok { // Dyn: the address as text (rendered, compared)
			return str(a.String())
		}
		return fields.Value{}, false
	}
	b := ev.Params[i]
	switch len(b) {
	case 1, 2, 4, 8:
		return num(ev.Uint(i))
	}
	return str(string(b))
}

// humanDuration renders a duration like sysdig's evt.latency.human: "835ns", "3.43us" (two
// decimals, truncated, below 10 units), "56us", "16ms".
func humanDuration(d uint64) string {
	unit := func(u uint64, suffix string) string {
		if d/u >= 10 {
			return strconv.FormatUint(d/u, 10) + suffix
		}
		h := d * 100 / u // hundredths, truncated (exact integer arithmetic)
		frac := strconv.FormatUint(h%100, 10)
		if len(frac) < 2 {
			frac = "0" + frac
		}
		return strconv.FormatUint(h/100, 10) + "." + frac + suffix
	}
	switch {
	case d < 1000:
		return strconv.FormatUint(d, 10) + "ns"
	case d < 1e6:
		return unit(1e3, "us")
	case d < 1e9:
		return unit(1e6, "ms")
	}
	return unit(1e9, "s")
}

// absPath is evt.abspath: the absolute path of a path param relative to a dirfd param.
func (s *Source) absPath(c *state.Context, which string) (fields.Value, bool) {
	ev := c.Ev
	if ev.Info == nil {
		return fields.Value{}, false
	}
	var dirName, pathName string
	switch ev.Info.Name {
	case "renameat", "renameat2", "linkat":
		if which == "dst" {
			dirName, pathName = "newdirfd", "newpath"
			if ev.Info.Name == "linkat" {
				dirName = "newdir"
			}
		} else {
			dirName, pathName = "olddirfd", "oldpath"
			if ev.Info.Name == "linkat" {
				dirName = "olddir"
			}
		}
	case "symlinkat":
		dirName, pathName = "linkdirfd", "linkpath"
	case "unlinkat", "openat", "openat2":
		dirName, pathName = "dirfd", "name"
	case "mkdirat":
		dirName, pathName = "dirfd", "path"
	case "fchmodat":
		dirName, pathName = "dirfd", "filename"
	default:
		return fields.Value{}, false
	}
	p, ok := ev.ParamStr(pathName)
	if !ok {
		return fields.Value{}, false
	}
	if strings.HasPrefix(p, "/") {
		return str(path.Clean(p))
	}
	dirfd, ok := ev.ParamInt(dirName)
	if !ok {
		return fields.Value{}, false
	}
	base := ""
	if dirfd == atFDCWD || int32(dirfd) == atFDCWD {
		if c.Thread != nil {
			base = c.Thread.Cwd
			if base == "" && c.Thread.Main() != nil {
				base = c.Thread.Main().Cwd
			}
		}
	} else if f := s.r.fdOf(c, dirfd); f != nil {
		base = f.Name
	}
	if base == "" {
		return fields.Value{}, false
	}
	return str(path.Join(base, p))
}

const atFDCWD = -100
