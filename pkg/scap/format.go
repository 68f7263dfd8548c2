// Package scap reads and writes .scap capture files (the format of Falco, sysdig and
// Stratoshark; shared/scap/FORMAT.md summarizes it): gzip or plain, every block version libscap
// reads, events decoded zero-copy into event.Event. Metadata blocks (machine, interfaces,
// users, groups, threads, fds) are collected as they come and are complete before the first
// event of their section is returned.
package scap

import "fmt"

// Block types.
const (
	blockSHB        = 0x0A0D0D0A
	blockMI         = 0x201
	blockMIInt      = 0x8002ABCD
	blockPLV1       = 0x202
	blockPLV1Int    = 0x8000ABCD
	blockPLV2       = 0x207
	blockPLV2Int    = 0x8013ABCD
	blockPLV3       = 0x209
	blockPLV3Int    = 0x8014ABCD
	blockPLV4       = 0x210
	blockPLV5       = 0x211
	blockPLV6       = 0x212
	blockPLV7       = 0x213
	blockPLV8       = 0x214
	blockPLV9       = 0x215
	blockFDL        = 0x203
	blockFDLInt     = 0x8001ABCD
	blockFDLV2      = 0x218
	blockEV         = 0x204
	blockEVInt      = 0x8010ABCD
	blockEVF        = 0x208
	blockEVV2       = 0x216
	blockEVFV2      = 0x217
	blockEVV2Large  = 0x221
	blockEVFV2Large = 0x222
	blockIL         = 0x205
	blockILInt      = 0x8011ABCD
	blockILV2       = 0x219
	blockUL         = 0x206
	blockULInt      = 0x8012ABCD
	blockULV2       = 0x220

	shbMagic = 0x1A2B3C4D
)

// maxBlockLen bounds one block (libscap's own limit for event blocks is far lower; metadata
// blocks of large hosts reach a few MiB).
const maxBlockLen = 1 << 30

// FormatError is malformed or truncated input: the file (or "input"), the byte offset (in the
// uncompressed stream) of the block or field at fault, and what was wrong.
type FormatError struct {
	File   string
	Offset int64
	Msg    string
	Err    error // underlying error, if any
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("%s: offset %d: %s", e.File, e.Offset, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *FormatError) Unwrap() error { return e.Err }
