package loader

import "strings"

// Priority is a rule's severity, in Falco's order (Emergency is the most severe).
type Priority int

// The priorities, with Falco's numbering.
const (
	Emergency Priority = iota
	Alert
	Critical
	Error
	Warning
	Notice
	Informational
	Debug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// ParsePriority parses a priority name case-insensitively, accepting "info" for
// Informational as Falco does.
func ParsePriority(s string) (Priority, bool) {
	for i, n := range priorityNames {
		if strings.EqualFold(s, n) {
			return Priority(i), true
		}
	}
	if strings.EqualFold(s, "info") {
		return Informational, true
	}
	return 0, false
}

// String returns Falco's full name of the priority ("Emergency" … "Debug").
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return "Priority(" + itoa(int(p)) + ")"
	}
	return priorityNames[p]
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
