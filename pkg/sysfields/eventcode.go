package sysfields

import (
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
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

// EventSerial returns the event's number (evt.num), which the rule compiler uses to evaluate
// a macro once per event (fields.EventSerialer).
func (s *Source) EventSerial(ev fields.Event) (uint64, bool) {
	c := contextOf(ev)
	if c == nil || c.Ev.Num == 0 {
		return 0, false
	}
	return c.Ev.Num, true
}
