package scap

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net/netip"

	"github.com/saker-sec/saker/pkg/event"
)

// SysdigMaxCode is the first event code that Debian's sysdig 0.29.3 does not know.
const SysdigMaxCode = 336

// WriterOptions configures a Writer.
type WriterOptions struct {
	// Gzip compresses the whole file.
	Gzip bool
	// SysdigCompat makes files that sysdig 0.29 reads as well as current libs (FORMAT.md,
	// "Interoperating with sysdig 0.29.3"): events with codes >= 336 are written in their
	// original (older) code when they were read as one, and dropped otherwise; large-payload
	// events are dropped (sysdig 0.29 has no large event blocks); fd types 17..21 are written as
	// 10 (unsupported); events read as an old version are written in that version (see
	// CompatCode).
	SysdigCompat bool
	// SynthesizeEnters (with SysdigCompat) precedes each exit event of a current version that
	// does not follow its enter event with an enter synthesized from the exit's params, by name
	// (sysdig 0.29 expects syscalls as enter/exit pairs). Set it for exit-only sources such as
	// the live eBPF probe; leave it off when the source records enters (captures), so that an
	// orphan exit (its enter fell before the capture started) stays orphan as in the source.
	SynthesizeEnters bool
}

// Writer writes a capture: a v1.2 section header (written by NewWriter), then metadata blocks
// (machine, interfaces, users, threads, fds, in that order), then events.
type Writer struct {
	opts WriterOptions
	bw   *bufio.Writer
	zw   *gzip.Writer
	body []byte
	err  error

	lastEnter map[int64]uint16
	vals      [event.MaxParams][]byte

	// Dropped counts events not written (SysdigCompat); Synthesized counts enter events added.
	Dropped, Synthesized int
}

// NewWriter starts a capture on w and writes its section header.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	wr := &Writer{opts: opts, lastEnter: map[int64]uint16{}}
	var out io.Writer = w
	if opts.Gzip {
		wr.zw = gzip.NewWriter(w)
		out = wr.zw
	}
	wr.bw = bufio.NewWriterSize(out, 256<<10)
	b := wr.body[:0]
	b = le32(b, shbMagic)
	b = le16(b, 1)
	b = le16(b, 2)
	b = le64(b, math.MaxUint64) // section length -1: unknown
	wr.body = b
	if err := wr.block(blockSHB); err != nil {
		return nil, err
	}
	return wr, nil
}

// Close flushes the capture (and ends the gzip stream); it does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
		return err
	}
	if w.zw != nil {
		if err := w.zw.Close(); err != nil {
			w.err = err
			return err
		}
	}
	w.err = errors.New("scap: writer closed")
	return nil
}

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func str16(b []byte, s string) []byte {
	if len(s) > math.MaxUint16 {
		s = s[:math.MaxUint16]
	}
	b = le16(b, uint16(len(s)))
	return append(b, s...)
}

func list16(b []byte, l []string) []byte {
	n := 0
	for _, s := range l {
		n += len(s) + 1
	}
	if n > math.MaxUint16 {
		n = math.MaxUint16
	}
	b = le16(b, uint16(n))
	start := len(b)
	for _, s := range l {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b[:start+n]
}

func addrBytes(b []byte, a netip.Addr, size int) []byte {
	if size == 4 {
		if a.Is4() || a.Is4In6() {
			x := a.Unmap().As4()
			return append(b, x[:]...)
		}
		return append(b, 0, 0, 0, 0)
	}
	if a.IsValid() {
		x := a.As16()
		return append(b, x[:]...)
	}
	return append(b, make([]byte, 16)...)
}

// block writes w.body as a block of type t.
func (w *Writer) block(t uint32) error {
	if w.err != nil {
		return w.err
	}
	pad := (4 - len(w.body)%4) % 4
	total := uint32(8 + len(w.body) + pad + 4)
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[0:], t)
	binary.LittleEndian.PutUint32(hdr[4:], total)
	w.bw.Write(hdr[:])
	w.bw.Write(w.body)
	var tr [8]byte
	binary.LittleEndian.PutUint32(tr[pad:], total)
	_, err := w.bw.Write(tr[:pad+4])
	if err != nil {
		w.err = err
	}
	return err
}

// WriteMachine writes the machine info block.
func (w *Writer) WriteMachine(m event.MachineInfo) error {
	b := w.body[:0]
	b = le32(b, m.NumCPUs)
	b = le64(b, m.MemoryBytes)
	b = le64(b, m.MaxPID)
	var host [128]byte
	copy(host[:127], m.Hostname)
	b = append(b, host[:]...)
	b = le64(b, m.BootTS)
	b = le64(b, m.Flags)
	b = le64(b, 0)
	b = le64(b, 0)
	w.body = b
	return w.block(blockMI)
}

// WriteInterfaces writes an interface list block (V2).
func (w *Writer) WriteInterfaces(ifs []event.Interface) error {
	b := w.body[:0]
	for _, it := range ifs {
		at := len(b)
		b = le32(b, 0)
		size := 16
		typ := uint16(2)
		if it.Addr.Is4() {
			size, typ = 4, 1
		}
		name := it.Name
		if len(name) > 255 {
			name = name[:255]
		}
		b = le16(b, typ)
		b = le16(b, uint16(len(name)))
		b = addrBytes(b, it.Addr, size)
		b = addrBytes(b, it.Netmask, size)
		b = addrBytes(b, it.Broadcast, size)
		b = le64(b, it.LinkSpeed)
		b = append(b, name...)
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at-4))
	}
	w.body = b
	return w.block(blockILV2)
}

// WriteUsers writes a user list block (V2) with users and groups.
func (w *Writer) WriteUsers(users []event.User, groups []event.Group) error {
	b := w.body[:0]
	for _, u := range users {
		at := len(b)
		b = le32(b, 0)
		b = append(b, 0)
		b = le32(b, u.UID)
		b = le32(b, u.GID)
		b = str16(b, u.Name)
		b = str16(b, u.Home)
		b = str16(b, u.Shell)
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at))
	}
	for _, g := range groups {
		at := len(b)
		b = le32(b, 0)
		b = append(b, 1)
		b = le32(b, g.GID)
		b = str16(b, g.Name)
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at))
	}
	w.body = b
	return w.block(blockULV2)
}

func boolByte(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// WriteThreads writes a process list block (V9, every field).
func (w *Writer) WriteThreads(ts []event.ThreadInfo) error {
	b := w.body[:0]
	for i := range ts {
		t := &ts[i]
		at := len(b)
		b = le32(b, 0)
		b = le64(b, uint64(t.TID))
		b = le64(b, uint64(t.PID))
		b = le64(b, uint64(t.PTID))
		b = le64(b, uint64(t.SID))
		b = le64(b, uint64(t.VPGID))
		b = str16(b, t.Comm)
		b = str16(b, t.Exe)
		b = str16(b, t.ExePath)
		b = list16(b, t.Args)
		b = str16(b, t.Cwd)
		b = le64(b, uint64(t.FDLimit))
		b = le32(b, t.Flags)
		b = le32(b, t.UID)
		b = le32(b, t.GID)
		b = le32(b, t.VMSizeKB)
		b = le32(b, t.VMRSSKB)
		b = le32(b, t.VMSwapKB)
		b = le64(b, t.PFMajor)
		b = le64(b, t.PFMinor)
		b = list16(b, t.Env)
		b = le64(b, uint64(t.VTID))
		b = le64(b, uint64(t.VPID))
		b = list16(b, t.Cgroups)
		b = str16(b, t.Root)
		b = le64(b, t.PidNSInitStartTS)
		b = le32(b, t.TTY)
		b = le32(b, t.LoginUID)
		b = boolByte(b, t.ExeWritable)
		b = le64(b, t.CapInheritable)
		b = le64(b, t.CapPermitted)
		b = le64(b, t.CapEffective)
		b = boolByte(b, t.ExeUpperLayer)
		b = le64(b, t.ExeIno)
		b = le64(b, t.ExeInoCtime)
		b = le64(b, t.ExeInoMtime)
		b = boolByte(b, t.ExeFromMemfd)
		b = boolByte(b, t.ExeLowerLayer)
		b = le64(b, uint64(t.PGID))
		binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at))
	}
	w.body = b
	return w.block(blockPLV9)
}

// WriteFDs writes fd list blocks (V2), one per run of fds of the same thread.
func (w *Writer) WriteFDs(fds []event.FDInfo) error {
	for i := 0; i < len(fds); {
		j := i
		for j < len(fds) && fds[j].TID == fds[i].TID {
			j++
		}
		b := w.body[:0]
		b = le64(b, uint64(fds[i].TID))
		for k := i; k < j; k++ {
			b = w.appendFD(b, &fds[k])
		}
		w.body = b
		if err := w.block(blockFDLV2); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func (w *Writer) appendFD(b []byte, fd *event.FDInfo) []byte {
	at := len(b)
	b = le32(b, 0)
	b = le64(b, uint64(fd.FD))
	b = le64(b, fd.Ino)
	typ := fd.Type
	if w.opts.SysdigCompat && typ >= event.FDBPF && typ <= event.FDPidfd {
		typ = event.FDUnsupported
	}
	b = append(b, typ)
	switch typ {
	case event.FDIPv4Sock:
		b = addrBytes(b, fd.SrcIP, 4)
		b = addrBytes(b, fd.DstIP, 4)
		b = le16(b, fd.SrcPort)
		b = le16(b, fd.DstPort)
		b = append(b, fd.L4Proto)
	case event.FDIPv4Server:
		b = addrBytes(b, fd.SrcIP, 4)
		b = le16(b, fd.SrcPort)
		b = append(b, fd.L4Proto)
	case event.FDIPv6Sock:
		b = addrBytes(b, fd.SrcIP, 16)
		b = addrBytes(b, fd.DstIP, 16)
		b = le16(b, fd.SrcPort)
		b = le16(b, fd.DstPort)
		b = append(b, fd.L4Proto)
	case event.FDIPv6Server:
		b = addrBytes(b, fd.SrcIP, 16)
		b = le16(b, fd.SrcPort)
		b = append(b, fd.L4Proto)
	case event.FDUnixSock:
		b = le64(b, fd.UnixSrc)
		b = le64(b, fd.UnixDst)
		b = str16(b, fd.Name)
	case event.FDFileV2:
		b = le32(b, fd.OpenFlags)
		b = str16(b, fd.Name)
		b = le32(b, fd.Dev)
	case event.FDUnknown:
	default:
		b = str16(b, fd.Name)
	}
	binary.LittleEndian.PutUint32(b[at:], uint32(len(b)-at))
	return b
}

// WriteMetadata writes the metadata that r has read (machine, interfaces, users and groups,
// threads, fds).
func (w *Writer) WriteMetadata(r *Reader) error {
	if m, ok := r.Machine(); ok {
		if err := w.WriteMachine(m); err != nil {
			return err
		}
	}
	if err := w.WriteInterfaces(r.Interfaces()); err != nil {
		return err
	}
	if err := w.WriteUsers(r.Users(), r.Groups()); err != nil {
		return err
	}
	if err := w.WriteThreads(r.Threads()); err != nil {
		return err
	}
	return w.WriteFDs(r.FDs())
}

// CompatCode returns the code under which a SysdigCompat writer writes ev, and false when it
// drops ev. An event read as an old version is written back in that version (sysdig 0.29 reads
// past the params of a code it knows without checking their count, so an event must carry at
// least the params sysdig knows for its code: the original layout always does).
func CompatCode(ev *event.Event) (uint16, bool) {
	if ev.Info == nil {
		return 0, false
	}
	if ev.RawType != ev.Type && ev.RawType < SysdigMaxCode && int(ev.RawType) < event.NumEvents {
		old := &event.Table[ev.RawType]
		if old.Name == ev.Info.Name && old.Dir == ev.Info.Dir && old.Flags&event.EFLargePayload == 0 {
			return ev.RawType, true
		}
	}
	if ev.Type < SysdigMaxCode && ev.Info.Flags&event.EFLargePayload == 0 {
		return ev.Type, true
	}
	return 0, false
}

// WriteEvent writes one event (EV_V2 block, EVF_V2 when ev.Flags is set, the LARGE variants
// for large-payload codes) in its current layout: params 0..NParams-1, absent ones as empty
// (extension params left out).
func (w *Writer) WriteEvent(ev *event.Event) error {
	if w.err != nil {
		return w.err
	}
	if ev.Info == nil || int(ev.Type) >= event.NumEvents {
		return errors.New("scap: WriteEvent: event without table info")
	}
	code := ev.Type
	info := ev.Info
	vals := w.vals[:0]
	// the table's params only: Saker's extension params (pkg/event.Ext) are not part of the
	// format other readers know
	for i := 0; i < ev.NParams && i < len(info.Params); i++ {
		vals = append(vals, ev.Bytes(i))
	}
	if w.opts.SysdigCompat {
		c, ok := CompatCode(ev)
		if !ok {
			w.Dropped++
			return nil
		}
		if c != code {
			// Back to the older layout, params by name.
			code = c
			info = &event.Table[c]
			vals = vals[:0]
			for _, p := range info.Params {
				b, _ := ev.Param(p.Name)
				vals = append(vals, b)
			}
		}
		switch info.Dir {
		case 'E':
			w.lastEnter[ev.TID] = code
		case 'X':
			last, had := w.lastEnter[ev.TID]
			delete(w.lastEnter, ev.TID)
			if w.opts.SynthesizeEnters && (!had || event.Table[last].Name != info.Name) && ev.RawType == ev.Type {
				if err := w.synthEnter(ev, info.Name); err != nil {
					return err
				}
			}
		}
	}
	return w.encode(ev.CPU, ev.Flags, ev.TS, ev.TID, code, info, vals)
}

// synthEnter writes the current enter event of name, its params taken from exit ev by name.
func (w *Writer) synthEnter(ev *event.Event, name string) error {
	ecode := event.Current(name, 'E')
	if ecode == 0xFFFF || ecode >= SysdigMaxCode {
		return nil
	}
	info := &event.Table[ecode]
	var vals [event.MaxParams][]byte
	for j, p := range info.Params {
		vals[j], _ = ev.Param(p.Name)
	}
	w.Synthesized++
	return w.encode(ev.CPU, ev.Flags, ev.TS, ev.TID, ecode, info, vals[:len(info.Params)])
}

func (w *Writer) encode(cpu uint16, flags uint32, ts uint64, tid int64, code uint16, info *event.Info, vals [][]byte) error {
	large := info.Flags&event.EFLargePayload != 0
	lsize := 2
	if large {
		lsize = 4
	}
	total := event.HeaderLen + lsize*len(vals)
	for _, v := range vals {
		if !large && len(v) > math.MaxUint16 {
			return errors.New("scap: WriteEvent: param longer than 65535 bytes in a non-large event")
		}
		total += len(v)
	}
	b := w.body[:0]
	b = le16(b, cpu)
	btype := uint32(blockEVV2)
	if flags != 0 {
		b = le32(b, flags)
		btype = blockEVFV2
	}
	if large {
		btype += blockEVV2Large - blockEVV2 // 0x216 -> 0x221, 0x217 -> 0x222
	}
	b = le64(b, ts)
	b = le64(b, uint64(tid))
	b = le32(b, uint32(total))
	b = le16(b, code)
	b = le32(b, uint32(len(vals)))
	for _, v := range vals {
		if large {
			b = le32(b, uint32(len(v)))
		} else {
			b = le16(b, uint16(len(v)))
		}
	}
	for _, v := range vals {
		b = append(b, v...)
	}
	w.body = b
	return w.block(btype)
}
