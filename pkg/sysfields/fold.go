package sysfields

import (
	"strings"

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

// Outcomes implements fields.Folder: for the fields above, and for the fd.* fields on the
// enter events that name no fd (an open's, a socket's, a switch: the event has no fd yet, so
// fd.num is -1 with a thread and the others have no value), it runs the field's own
// extractor on an event that has the code and nothing else, with and without a thread.
// Sysdig 0.29 mode reads some fields from the raw record instead: nothing is folded there.
func (s *Source) Outcomes(info fields.Info, arg string, code uint16) ([]fields.Outcome, bool) {
	name := info.Name
	if int(code) >= event.NumEvents || !s.MayFold(info) {
		return nil, false
	}
	in := &event.Table[code]
	switch {
	case byCode[name] && code != event.SyscallSyscallE && code != event.SyscallSyscallX:
	case enterNone[name] && in.Dir == 'E':
	case isFDField(name) && in.Dir == 'E' && !state.UsesFDParam(code):
	default:
		return nil, false
	}
	key := foldKey{name, arg, code}
	if outs, ok := s.folds[key]; ok {
		return outs, outs != nil
	}
	ext, err := s.Extractor(info, arg)
	if err != nil {
		return nil, false
	}
	ev := &event.Event{Type: code, Info: in}
	outs := make([]fields.Outcome, 0, 2)
	for _, t := range []*state.Thread{nil, {}} {
		v, ok := ext(&state.Context{Ev: ev, Thread: t, FDNum: -1})
		outs = append(outs, fields.Outcome{V: v, OK: ok})
	}
	// an fd field that reads the thread or the event as well (fd.uid is the tid and the fd
	// number) is not decided by the code: another thread and event must give the same
	if isFDField(name) {
		other := &state.Thread{TID: 7, PID: 7, ContainerID: "0123456789ab", Comm: "x"}
		oev := &event.Event{Type: code, Info: in, TID: 7, Num: 9, TS: 1e18, CPU: 1}
		v, ok := ext(&state.Context{Ev: oev, Thread: other, FDNum: -1})
		if o := outs[1]; ok != o.OK || v.S != o.V.S || v.N != o.V.N {
			outs = nil
		}
	}
	if s.folds == nil {
		s.folds = map[foldKey][]fields.Outcome{}
	}
	s.folds[key] = outs // nil: refused, and remembered as such
	return outs, outs != nil
}

// MayFold implements fields.Folder.
func (s *Source) MayFold(info fields.Info) bool {
	return !s.opts.Sysdig029 && (byCode[info.Name] || enterNone[info.Name] || isFDField(info.Name))
}

// isFDField reports whether a field is one of the fd.* class (the event's fd).
func isFDField(name string) bool { return strings.HasPrefix(name, "fd.") }

// foldKey is a field with its argument, in the events of one code.
type foldKey struct {
	name, arg string
	code      uint16
}
