package sysfields

import (
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// EventCode returns the code of the event a context holds (fields.EventCoder), so the rule
// compiler tests `evt.type` with a table lookup.
func (s *Source) EventCode(ev fields.Event) (uint16, bool) {
	c := contextOf(ev)
	if c == nil || c.Ev.Info == nil || c.Ev.Info.Name == "syscall" {
		return 0, false
	}
	return c.Ev.Type, true
}

// CodesExact reports whether name has event codes of its own: a syscall served by the
// generic event (clock_gettime, madvise, ...) shares its codes with every other such syscall.
func (s *Source) CodesExact(name string) bool {
	codes := event.ByName(name)
	if len(codes) == 0 {
		return false
	}
	for _, c := range codes {
		if event.Table[c].Name != name {
			return false
		}
	}
	return true
}

// Remember keeps f's result in m for the rest of an event (fields.Memoizer), which the rule
// compiler uses to evaluate a macro once per event: the event's number (evt.num) is read from
// the state context directly, a type check where fields.EventSerialer costs an interface call
// per use of a memorized macro (open_read and the others, many per open event).
func (s *Source) Remember(f func(ev fields.Event) bool, m *fields.Memo) (func(ev fields.Event) bool, bool) {
	return func(ev fields.Event) bool {
		c, ok := ev.(*state.Context)
		if !ok || c == nil || c.Ev == nil || c.Ev.Num == 0 {
			return f(ev)
		}
		if c.Ev.Num == m.Serial {
			return m.Val
		}
		v := f(ev)
		m.Serial, m.Val = c.Ev.Num, v
		return v
	}, true
}

// EventSerial is the event's number (evt.num; fields.EventSerialer), the serial Remember
// keeps results under; false for an unnumbered event.
func (s *Source) EventSerial(ev fields.Event) (uint64, bool) {
	c, ok := ev.(*state.Context)
	if !ok || c == nil || c.Ev == nil || c.Ev.Num == 0 {
		return 0, false
	}
	return c.Ev.Num, true
}
