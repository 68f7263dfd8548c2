package event

import "encoding/binary"

// AppendRecord appends one event record in the scap layout with u16 param lengths (the
// HeaderLen-byte header with nparams, then the lengths, then the values), for code (of a
// table without EFLargePayload) and the param values given in order.
func AppendRecord(b []byte, code uint16, ts uint64, tid int64, params ...[]byte) []byte {
	n := HeaderLen + 2*len(params)
	for _, p := range params {
		n += len(p)
	}
	b = binary.LittleEndian.AppendUint64(b, ts)
	b = binary.LittleEndian.AppendUint64(b, uint64(tid))
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(params)))
	for _, p := range params {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(p)))
	}
	for _, p := range params {
		b = append(b, p...)
	}
	return b
}
