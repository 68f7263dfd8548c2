package scap

import (
	"encoding/binary"
	"fmt"
)

// cursor reads little-endian fields from a block body and remembers the first short read.
type cursor struct {
	b   []byte
	off int
	err error
}

func (c *cursor) need(n int, what string) bool {
	if c.err != nil {
		return false
	}
	if n < 0 || c.off+n > len(c.b) {
		c.err = fmt.Errorf("%s: need %d bytes at body byte %d, only %d left", what, n, c.off, len(c.b)-c.off)
		return false
	}
	return true
}

func (c *cursor) left() int { return len(c.b) - c.off }

func (c *cursor) u8(what string) uint8 {
	if !c.need(1, what) {
		return 0
	}
	v := c.b[c.off]
	c.off++
	return v
}

func (c *cursor) u16(what string) uint16 {
	if !c.need(2, what) {
		return 0
	}
	v := binary.LittleEndian.Uint16(c.b[c.off:])
	c.off += 2
	return v
}

func (c *cursor) u32(what string) uint32 {
	if !c.need(4, what) {
		return 0
	}
	v := binary.LittleEndian.Uint32(c.b[c.off:])
	c.off += 4
	return v
}

func (c *cursor) u64(what string) uint64 {
	if !c.need(8, what) {
		return 0
	}
	v := binary.LittleEndian.Uint64(c.b[c.off:])
	c.off += 8
	return v
}

func (c *cursor) bytes(n int, what string) []byte {
	if !c.need(n, what) {
		return nil
	}
	v := c.b[c.off : c.off+n]
	c.off += n
	return v
}

// str16 reads a u16 length and that many bytes as a string (metadata strings carry no NUL,
// but trailing NULs are trimmed in case a writer added one).
func (c *cursor) str16(what string) string {
	n := int(c.u16(what))
	b := c.bytes(n, what)
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return string(b)
}

// list16 reads a u16 length and splits the bytes on NUL (args, env, cgroups).
func (c *cursor) list16(what string) []string {
	n := int(c.u16(what))
	b := c.bytes(n, what)
	var out []string
	for len(b) > 0 {
		j := 0
		for j < len(b) && b[j] != 0 {
			j++
		}
		out = append(out, string(b[:j]))
		if j == len(b) {
			break
		}
		b = b[j+1:]
	}
	return out
}
