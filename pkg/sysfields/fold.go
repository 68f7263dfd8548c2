package sysfields

import (
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// Fields whose value, in an event of a given code, the code alone decides (Outcomes):
// byCode ones for every code but the generic syscall event's (which carries its syscall's
// id), enterNone ones for enter events (no return value yet).
var (
	byCode    = map[string]bool{"evt.type": true, "evt.dir": true, "syscall.type": true, "evt.type.is": true}
	enterNone = map[string]bool{"evt.res": true, "evt.rawres": true, "evt.failed": true}
)

// Outcomes implements fields.Folder: for the fields above, and for fd.num on the enter events
// that name no fd (no value without a thread, -1 with one), it runs the field's own
// extractor on an event that has the code and nothing else, with and without a thread.
// Sysdig 0.29 mode reads some fields from the raw record instead: nothing is folded there.
func (s *Source) Outcomes(info fields.Info, arg string, code uint16) ([]fields.Outcome, bool) {
	if s.opts.Sysdig029 || int(code) >= event.NumEvents {
		return nil, false
	}
	in := &event.Table[code]
	ev := &event.Event{Type: code, Info: in}
	switch {
	case byCode[info.Name] && !isGeneric(ev):
	case enterNone[info.Name] && in.Dir == 'E':
	case info.Name == "fd.num" && in.Dir == 'E' && !state.UsesFDParam(code):
	default:
		return nil, false
	}
	key := info.Name + "\x00" + arg
	ext, ok := s.foldExt[key]
	if !ok {
		var err error
		if ext, err = s.Extractor(info, arg); err != nil {
			return nil, false
		}
		if s.foldExt == nil {
			s.foldExt = map[string]fields.Extractor{}
		}
		s.foldExt[key] = ext
	}
	outs := make([]fields.Outcome, 0, 2)
	for _, t := range []*state.Thread{nil, {}} {
		v, ok := ext(&state.Context{Ev: ev, Thread: t, FDNum: -1})
		outs = append(outs, fields.Outcome{V: v, OK: ok})
	}
	return outs, true
}
