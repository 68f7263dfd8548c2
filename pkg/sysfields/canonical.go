package sysfields

import (
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// Saker's fields over the state's sensitive-file index and deletion counters
// (pkg/state canon.go, deletions.go).

// canonicalField is fd.canonical: the watched path of the fd's file by identity (a hard
// link to a sensitive file gives that file's path), else fd.realpath (else fd.name).
func (s *Source) canonicalField() func(c *state.Context) (fields.Value, bool) {
	return func(c *state.Context) (fields.Value, bool) {
		f := s.ctxFD(c)
		if f == nil {
			return fields.Value{}, false
		}
		if s.st != nil && f.Ino != 0 && isFileLike(f.Type) {
			if p, ok := s.st.Canon().Lookup(f.Dev, f.Ino); ok {
				return str(p)
			}
		}
		if f.RealPath != "" {
			return str(f.RealPath)
		}
		return str(f.Name)
	}
}

// deletionsField is proc.deletions (state.Engine.Deletions at the event's time) or, for
// parent, proc.pdeletions (ParentDeletions).
func (s *Source) deletionsField(parent bool) func(c *state.Context) (fields.Value, bool) {
	return func(c *state.Context) (fields.Value, bool) {
		if s.st == nil || c.Thread == nil {
			return fields.Value{}, false
		}
		if parent {
			return num(s.st.ParentDeletions(c.Thread, c.Ev.TS))
		}
		return num(s.st.Deletions(c.Thread, c.Ev.TS))
	}
}

// linkCanonicalField is fs.path.canonical: for a link or linkat, the watched file the new
// name shares its inode with (state.Canon.Linked).
func (s *Source) linkCanonicalField() func(c *state.Context) (fields.Value, bool) {
	return func(c *state.Context) (fields.Value, bool) {
		if s.st == nil || c.Ev.Info == nil || c.Ev.Info.Dir != 'X' {
			return fields.Value{}, false
		}
		if p, ok := s.st.Canon().Linked(c.Ev.Num); ok {
			return str(p)
		}
		return fields.Value{}, false
	}
}
