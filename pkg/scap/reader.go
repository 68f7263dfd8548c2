package scap

import (
	"bufio"
	"bytes"
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
	src    io.Reader // the (uncompressed) input, read into rb
	rb     []byte    // read buffer: rb[rpos:rend] is read but not consumed
	rpos   int
	rend   int
	rerr   error // the source's error, once it returned one
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
	r := &Reader{name: name, src: rd, rb: make([]byte, bufSize)}
	magic, err := r.peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		// The gzip stream starts with the bytes already read.
		head := bytes.Clone(r.rb[r.rpos:r.rend])
		zr, err := gzip.NewReader(bufio.NewReaderSize(io.MultiReader(bytes.NewReader(head), rd), bufSize))
		if err != nil {
			return nil, &FormatError{File: name, Offset: 0, Msg: "bad gzip header", Err: err}
		}
		zr.Multistream(true)
		r.closer = append(r.closer, zr)
		r.src, r.rpos, r.rend = zr, 0, 0
	}
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

// bufSize is the read buffer's size: blocks up to it are returned in place (zero-copy),
// larger ones are copied into the Reader's own buffer.
const bufSize = 1 << 20

// peek returns the next n bytes (n <= len(r.rb)) without consuming them, reading more input
// as needed; when the input ends or fails first, it returns what is left with the error.
func (r *Reader) peek(n int) ([]byte, error) {
	for r.rend-r.rpos < n {
		if r.rerr != nil {
			return r.rb[r.rpos:r.rend], r.rerr
		}
		r.fill()
	}
	return r.rb[r.rpos : r.rpos+n], nil
}

// fill moves the unread bytes to the buffer's start and reads once more into the rest. An
// error of the source is kept in r.rerr; a source that keeps returning nothing fails with
// io.ErrNoProgress.
func (r *Reader) fill() {
	if r.rpos > 0 {
		r.rend = copy(r.rb, r.rb[r.rpos:r.rend])
		r.rpos = 0
	}
	for range 100 {
		n, err := r.src.Read(r.rb[r.rend:])
		if n < 0 || n > len(r.rb)-r.rend {
			r.rerr = errors.New("scap: source returned an invalid count from Read")
			return
		}
		r.rend += n
		if err != nil {
			r.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.rerr = io.ErrNoProgress
}

// read reads into p the buffered bytes first, then from the source (for blocks larger than
// the buffer).
func (r *Reader) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.rpos == r.rend {
		if r.rerr != nil {
			return 0, r.rerr
		}
		if len(p) >= len(r.rb) {
			n, err := r.src.Read(p)
			if n < 0 || n > len(p) {
				return 0, errors.New("scap: source returned an invalid count from Read")
			}
			if err != nil {
				r.rerr = err
			}
			return n, err
		}
		r.rpos, r.rend = 0, 0
		r.fill()
		if r.rpos == r.rend {
			return 0, r.rerr
		}
	}
	n := copy(p, r.rb[r.rpos:r.rend])
	r.rpos += n
	return n, nil
}

// readerFunc adapts the Reader's read for io.ReadFull.
type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// readBlock reads the next block into r.buf (body without header, trailer; padding included).
func (r *Reader) readBlock() error {
	if r.held {
		r.held = false
		return nil
	}
	// Fast path: a well-formed block wholly in the buffer, returned in place.
	if avail := r.rend - r.rpos; avail >= 12 && r.sections != 0 {
		p := r.rb[r.rpos:r.rend]
		blen := binary.LittleEndian.Uint32(p[4:])
		if blen >= 12 && int64(blen) <= int64(avail) {
			p = p[:blen]
			if binary.LittleEndian.Uint32(p[blen-4:]) == blen {
				r.btype = binary.LittleEndian.Uint32(p)
				r.boff = r.off
				r.rpos += int(blen)
				r.off += int64(blen)
				r.buf = p[8 : blen-4]
				return nil
			}
		}
	}
	return r.readBlockSlow()
}

// readBlockSlow is readBlock for a block not wholly buffered, larger than the buffer, or
// malformed (it names what is wrong).
func (r *Reader) readBlockSlow() error {
	start := r.off
	hdr, err := r.peek(8)
	if len(hdr) < 8 {
		n := len(hdr)
		r.rpos += n
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
		r.rpos += 8
		r.off += 8
		return r.errf(start, nil, "not a scap capture: first block type 0x%x, want section header 0x%x", btype, blockSHB)
	}
	if blen < 12 {
		r.rpos += 8
		r.off += 8
		return r.errf(start, nil, "block type 0x%x: block length %d is shorter than the 12-byte framing", btype, blen)
	}
	if blen > maxBlockLen {
		r.rpos += 8
		r.off += 8
		return r.errf(start, nil, "block type 0x%x: block length %d exceeds the %d-byte limit", btype, blen, maxBlockLen)
	}
	body := int(blen) - 8 // body + padding + trailer
	if int(blen) <= len(r.rb) {
		// Zero-copy: the block stays in the read buffer, valid until the next read (the
		// documented lifetime of an event's params).
		p, err := r.peek(int(blen))
		if err != nil {
			r.rpos += 8
			r.off += 8
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return r.errf(start, nil, "block type 0x%x: block length %d exceeds remaining %d bytes", btype, blen, len(p))
			}
			return r.errf(r.off, err, "block type 0x%x: reading body", btype)
		}
		r.rpos += int(blen)
		r.off += int64(blen)
		r.buf = p[8:]
	} else {
		r.rpos += 8
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
		got, err := io.ReadFull(readerFunc(r.read), r.own[len(r.own):end])
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
