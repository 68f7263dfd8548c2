package scap

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/saker-sec/saker/pkg/event"
)

// Reader reads a capture block by block. Metadata blocks are collected into the Reader as they
// come; events are returned by Next. A Reader is not safe for concurrent use.
type Reader struct {
	// OnMetadata, when set, is called once per section, after the section's metadata blocks
	// and before its first event (or at its end when it has no events), so that a state engine
	// can load threads and fds before any event. Set it before the first call to Next.
	OnMetadata func(*Reader)

	name   string
	br     *bufio.Reader
	closer []io.Closer
	off    int64 // uncompressed offset of the next unread byte

	buf      []byte // body of the current block: in the read buffer, or in own
	own      []byte // storage for blocks larger than the read buffer, reused
	held     bool   // the current block was read but not consumed (event block seen by ReadMetadata)
	btype    uint32
	boff     int64
	err      error // sticky
	sections int
	metaDone bool
	major    uint16
	minor    uint16
	num      uint64

	machine    event.MachineInfo
	hasMachine bool
	ifaces     []event.Interface
	users      []event.User
	groups     []event.Group
	threads    []event.ThreadInfo
	fds        []event.FDInfo
}

// Open opens a capture file (gzip or plain).
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := newReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = append(r.closer, f)
	return r, nil
}

// NewReader reads a capture from rd (gzip or plain: the first two bytes decide). Errors name
// the input "input".
func NewReader(rd io.Reader) (*Reader, error) {
	return newReader(rd, "input")
}

func newReader(rd io.Reader, name string) (*Reader, error) {
	br := bufio.NewReaderSize(rd, 1<<20)
	r := &Reader{name: name}
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &FormatError{File: name, Offset: 0, Msg: "bad gzip header", Err: err}
		}
		zr.Multistream(true)
		r.closer = append(r.closer, zr)
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	r.br = br
	return r, nil
}

// Close releases the underlying file, if the Reader opened it.
func (r *Reader) Close() error {
	var first error
	for i := len(r.closer) - 1; i >= 0; i-- {
		if err := r.closer[i].Close(); err != nil && first == nil {
			first = err
		}
	}
	r.closer = nil
	return first
}

// Machine returns the machine info block of the current section (ok false if none was read).
func (r *Reader) Machine() (event.MachineInfo, bool) { return r.machine, r.hasMachine }

// Interfaces returns the interface list of the current section.
func (r *Reader) Interfaces() []event.Interface { return r.ifaces }

// Users returns the users of the current section's user list.
func (r *Reader) Users() []event.User { return r.users }

// Groups returns the groups of the current section's user list.
func (r *Reader) Groups() []event.Group { return r.groups }

// Threads returns the process list of the current section.
func (r *Reader) Threads() []event.ThreadInfo { return r.threads }

// FDs returns the fd lists of the current section (FDInfo.TID tells the thread).
func (r *Reader) FDs() []event.FDInfo { return r.fds }

// Version returns the section header's format version (e.g. 1, 2 for "1.2").
func (r *Reader) Version() (major, minor uint16) { return r.major, r.minor }

// Sections returns how many section headers were read so far.
func (r *Reader) Sections() int { return r.sections }

// Offset returns the uncompressed byte offset of the block last read.
func (r *Reader) Offset() int64 { return r.boff }

func (r *Reader) errf(off int64, err error, format string, a ...any) error {
	return &FormatError{File: r.name, Offset: off, Msg: fmt.Sprintf(format, a...), Err: err}
}

// readBlock reads the next block into r.buf (body without header, trailer; padding included).
func (r *Reader) readBlock() error {
	if r.held {
		r.held = false
		return nil
	}
	start := r.off
	// The header is peeked, not copied: with the body it is discarded in one step below.
	hdr, err := r.br.Peek(8)
	if len(hdr) < 8 {
		n := len(hdr)
		r.br.Discard(n)
		r.off += int64(n)
		if n == 0 && err == io.EOF {
			if r.sections == 0 {
				return r.errf(start, nil, "empty input: no section header block")
			}
			return io.EOF
		}
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return r.errf(start, nil, "truncated block header: %d of 8 bytes", n)
		}
		return r.errf(r.off, err, "reading block header")
	}
	btype := binary.LittleEndian.Uint32(hdr[0:])
	blen := binary.LittleEndian.Uint32(hdr[4:])
	if r.sections == 0 && btype != blockSHB {
		r.br.Discard(8)
		r.off += 8
		return r.errf(start, nil, "not a scap capture: first block type 0x%x, want section header 0x%x", btype, blockSHB)
	}
	if blen < 12 {
		r.br.Discard(8)
		r.off += 8
		return r.errf(start, nil, "block type 0x%x: block length %d is shorter than the 12-byte framing", btype, blen)
	}
	if blen > maxBlockLen {
		r.br.Discard(8)
		r.off += 8
		return r.errf(start, nil, "block type 0x%x: block length %d exceeds the %d-byte limit", btype, blen, maxBlockLen)
	}
	body := int(blen) - 8 // body + padding + trailer
	if int(blen) <= r.br.Size() {
		// Zero-copy: the block stays in the read buffer, valid until the next read (the
		// documented lifetime of an event's params).
		p, err := r.br.Peek(int(blen))
		if err != nil {
			r.br.Discard(8)
			r.off += 8
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return r.errf(start, nil, "block type 0x%x: block length %d exceeds remaining %d bytes", btype, blen, len(p))
			}
			return r.errf(r.off, err, "block type 0x%x: reading body", btype)
		}
		r.br.Discard(int(blen))
		r.off += int64(blen)
		r.buf = p[8:]
	} else {
		r.br.Discard(8)
		r.off += 8
		if err := r.readLarge(start, btype, blen, body); err != nil {
			return err
		}
	}
	trailer := binary.LittleEndian.Uint32(r.buf[body-4:])
	if trailer != blen {
		return r.errf(start, nil, "block type 0x%x: trailing length %d differs from block length %d", btype, trailer, blen)
	}
	r.buf = r.buf[:body-4]
	r.btype = btype
	r.boff = start
	return nil
}

// readLarge reads a block body larger than the read buffer into the Reader's own buffer.
func (r *Reader) readLarge(start int64, btype, blen uint32, body int) error {
	r.own = r.own[:0]
	for len(r.own) < body {
		if cap(r.own) < body && cap(r.own) == len(r.own) {
			// Grow with the data actually read (at most doubling, at least 64 KiB), so a
			// corrupt length cannot make the reader allocate much more than the input holds.
			nc := min(body, max(2*len(r.own), 64<<10))
			nb := make([]byte, len(r.own), nc)
			copy(nb, r.own)
			r.own = nb
		}
		end := min(body, cap(r.own))
		got, err := io.ReadFull(r.br, r.own[len(r.own):end])
		r.own = r.own[:len(r.own)+got]
		r.off += int64(got)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
				return r.errf(start, nil, "block type 0x%x: block length %d exceeds remaining %d bytes", btype, blen, 8+len(r.own))
			}
			return r.errf(r.off, err, "block type 0x%x: reading body", btype)
		}
	}
	r.buf = r.own
	return nil
}

func isEventBlock(t uint32) bool {
	switch t {
	case blockEV, blockEVInt, blockEVF, blockEVV2, blockEVFV2, blockEVV2Large, blockEVFV2Large:
		return true
	}
	return false
}

func (r *Reader) endMetadata() {
	if !r.metaDone {
		r.metaDone = true
		if r.OnMetadata != nil {
			r.OnMetadata(r)
		}
	}
}

// ReadMetadata reads the metadata blocks of the current section, up to its first event block
// (which the next call to Next returns). It returns io.EOF if the input ends first.
func (r *Reader) ReadMetadata() error {
	if r.err != nil {
		return r.err
	}
	for !r.metaDone {
		if err := r.readBlock(); err != nil {
			if err == io.EOF {
				r.endMetadata()
			}
			r.err = err
			return err
		}
		if isEventBlock(r.btype) {
			r.held = true
			r.endMetadata()
			return nil
		}
		if err := r.metaBlock(); err != nil {
			r.err = err
			return err
		}
	}
	return nil
}

// Next reads the next event into ev. ev's params point into the Reader's buffer and are valid
// until the next call. It returns io.EOF at the end of the input, and a *FormatError for bad
// input (after which it keeps returning that error). Events with codes beyond the event table
// are skipped, as libscap does.
func (r *Reader) Next(ev *event.Event) error {
	if r.err != nil {
		return r.err
	}
	for {
		if err := r.readBlock(); err != nil {
			if err == io.EOF {
				r.endMetadata()
			}
			r.err = err
			return err
		}
		if !isEventBlock(r.btype) {
			if err := r.metaBlock(); err != nil {
				r.err = err
				return err
			}
			continue
		}
		r.endMetadata()
		skip, err := r.eventBlock(ev)
		if err != nil {
			r.err = err
			return err
		}
		if skip {
			continue
		}
		r.num++
		ev.Num = r.num
		return nil
	}
}

func (r *Reader) eventBlock(ev *event.Event) (skip bool, err error) {
	b := r.buf
	v2 := false
	hasFlags := false
	switch r.btype {
	case blockEVV2, blockEVV2Large:
		v2 = true
	case blockEVFV2, blockEVFV2Large:
		v2, hasFlags = true, true
	case blockEVF:
		hasFlags = true
	}
	pre := 2
	if hasFlags {
		pre = 6
	}
	if len(b) < pre {
		return false, r.errf(r.boff, nil, "event block type 0x%x: body of %d bytes lacks the cpu id and flags", r.btype, len(b))
	}
	cpu := binary.LittleEndian.Uint16(b)
	var flags uint32
	if hasFlags {
		flags = binary.LittleEndian.Uint32(b[2:])
	}
	if err := event.Decode(b[pre:], ev, v2); err != nil {
		if errors.Is(err, event.ErrUnknownType) {
			return true, nil
		}
		return false, r.errf(r.boff+8+int64(pre), err, "event block type 0x%x (event %d)", r.btype, r.num+1)
	}
	ev.CPU = cpu
	ev.Flags = flags
	return false, nil
}

func (r *Reader) metaBlock() error {
	c := &cursor{b: r.buf}
	var what string
	switch r.btype {
	case blockSHB:
		what = "section header"
		magic := c.u32(what)
		major := c.u16(what)
		minor := c.u16(what)
		c.u64(what) // section length
		if c.err == nil {
			if magic == 0x4D3C2B1A {
				return r.errf(r.boff, nil, "section header: big-endian captures are not supported")
			}
			if magic != shbMagic {
				return r.errf(r.boff, nil, "section header: bad magic 0x%x, want 0x%x", magic, shbMagic)
			}
			if major != 1 {
				return r.errf(r.boff, nil, "section header: unsupported major version %d", major)
			}
		}
		if c.err == nil {
			if r.sections > 0 {
				r.endMetadata()
				r.resetMeta()
			}
			r.sections++
			r.major, r.minor = major, minor
		}
		// Options (pcapng-style comments) may follow: skipped.
	case blockMI, blockMIInt:
		what = "machine info"
		r.readMachine(c)
	case blockPLV1, blockPLV1Int, blockPLV2, blockPLV2Int, blockPLV3, blockPLV3Int,
		blockPLV4, blockPLV5, blockPLV6, blockPLV7, blockPLV8, blockPLV9:
		what = "process list"
		r.readProcList(c)
	case blockFDL, blockFDLInt, blockFDLV2:
		what = "fd list"
		r.readFDList(c)
	case blockIL, blockILInt, blockILV2:
		what = "interface list"
		r.readIfList(c)
	case blockUL, blockULInt, blockULV2:
		what = "user list"
		r.readUserList(c)
	default:
		return nil // unknown block: skipped by length
	}
	if c.err != nil {
		return r.errf(r.boff, nil, "%s block type 0x%x: %v", what, r.btype, c.err)
	}
	return nil
}

func (r *Reader) resetMeta() {
	r.metaDone = false
	r.machine, r.hasMachine = event.MachineInfo{}, false
	r.ifaces, r.users, r.groups, r.threads, r.fds = nil, nil, nil, nil, nil
}
