package event

import (
	"encoding/binary"
	"testing"
)

func TestAppendRecord(t *testing.T) {
	code := Current("close", 'X')
	b := AppendRecord([]byte("x"), code, 7, 42, binary.LittleEndian.AppendUint64(nil, 0), binary.LittleEndian.AppendUint64(nil, 5))
	var ev Event
	if err := Decode(b[1:], &ev, true); err != nil {
		t.Fatal(err)
	}
	if ev.Type != code || ev.TS != 7 || ev.TID != 42 || ev.NParams != 2 || binary.LittleEndian.Uint64(ev.Params[1]) != 5 {
		t.Errorf("%+v", ev)
	}
}
