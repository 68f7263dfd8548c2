package sysfields

import (
	"strings"
	"unsafe"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// joinMemo keeps the last few strings joined from a thread's string slices (proc.cmdline,
// proc.args, proc.env and their parent and ancestor forms). The state engine never changes
// a thread's Args or Env in place (state.Engine.pStrings: a new exec gets new slices, and a
// process's threads and children share theirs), so a slice's first element, its length and
// the prefix identify the joined value. The rules of one exec ask for the same join many
// times (upstream's execve rules read proc.cmdline and proc.env over and over, and a process
// environment runs to kilobytes); one Source serves one goroutine, as its other per-event
// memories do.
type joinMemo struct {
	ent  [4]joinEntry
	next int
}

type joinEntry struct {
	head   *string
	n      int
	lead   bool // the value starts with prefix and a space
	prefix string
	s      string
}

// join returns parts joined by spaces, after prefix and a space when lead is set.
func (m *joinMemo) join(lead bool, prefix string, parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	head := unsafe.SliceData(parts)
	for i := range m.ent {
		if e := &m.ent[i]; e.head == head && e.n == len(parts) && e.lead == lead && e.prefix == prefix {
			return e.s
		}
	}
	s := strings.Join(parts, " ")
	if lead {
		s = prefix + " " + s
	}
	m.ent[m.next] = joinEntry{head: head, n: len(parts), lead: lead, prefix: prefix, s: s}
	m.next = (m.next + 1) % len(m.ent)
	return s
}

// cmdline is proc.cmdline for t: the comm, a space and the args (the comm alone without args).
func (s *Source) cmdline(t *state.Thread) string {
	c := comm(t)
	if len(t.Args) == 0 {
		return c
	}
	return s.joins.join(true, c, t.Args)
}

func (s *Source) getCmdline(t *state.Thread) (fields.Value, bool) { return str(s.cmdline(t)) }
func (s *Source) getArgs(t *state.Thread) (fields.Value, bool) {
	return str(s.joins.join(false, "", t.Args))
}
func (s *Source) getEnvAll(t *state.Thread) (fields.Value, bool) {
	return str(s.joins.join(false, "", t.Env))
}
