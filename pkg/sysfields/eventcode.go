package sysfields

import (
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// EventCode returns the code of the event a context holds (fields.EventCoder), so the rule
// compiler tests `evt.type` with a table lookup.
func (s *Source) EventCode(ev fields.Event) (uint16, bool) {
	c, ok := ev.(*state.Context)
	if !ok || c == nil || c.Ev == nil {
		return 0, false
	}
	return c.Ev.Type, true
}
