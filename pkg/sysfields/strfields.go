package sysfields

import (
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// strField binds the string fields rules test most often as functions returning the string
// itself (nil for the other fields). StringExtractor hands them to comparisons as they are;
// bind wraps the same functions for Extractor, so each field has one extraction.
func (s *Source) strField(name, arg string) func(c *state.Context) (string, bool) {
	if arg != "" {
		return nil
	}
	switch name {
	case "proc.name":
		return func(c *state.Context) (string, bool) {
			if c.Thread == nil {
				return "", false
			}
			return comm(c.Thread), true
		}
	case "proc.pname":
		return func(c *state.Context) (string, bool) {
			t := s.parent(c.Thread)
			if t == nil {
				return "", false
			}
			return comm(t), true
		}
	case "proc.exe", "proc.pexe", "proc.exepath", "proc.pexepath":
		parent := name == "proc.pexe" || name == "proc.pexepath"
		path := name == "proc.exepath" || name == "proc.pexepath"
		return func(c *state.Context) (string, bool) {
			t := mainOf(c) // the process's (libsinsp: the main thread's)
			if parent {
				t = s.parent(c.Thread)
			}
			switch {
			case t == nil:
				return "", false
			case path:
				return t.ExePath, true
			}
			return exe(t), true
		}
	case "fd.name":
		return func(c *state.Context) (string, bool) {
			if n, ok := s.failedConnectName(c); ok {
				return n, true
			}
			f := s.ctxFD(c)
			if f == nil {
				if s.placeholderFD(c) {
					return "", true
				}
				v, ok := s.nullFDName(c)
				return v.S, ok
			}
			return f.Name, true
		}
	case "container.id":
		return func(c *state.Context) (string, bool) {
			if c.Thread == nil {
				return "", false
			}
			return containerID(c), true
		}
	}
	return nil
}

// strValue is a string function as a Value extraction.
func strValue(f func(c *state.Context) (string, bool)) func(c *state.Context) (fields.Value, bool) {
	return func(c *state.Context) (fields.Value, bool) {
		v, ok := f(c)
		return fields.Value{S: v}, ok
	}
}
