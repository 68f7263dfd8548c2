package agent

import "testing"

func TestWildcard(t *testing.T) {
	for _, tc := range []struct {
		p, n string
		ok   bool
	}{
		{"*", "anything", true}, {"Read *", "Read sensitive file", true}, {"Read *", "Write x", false},
		{"*shell*", "Terminal shell in container", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXcYb", false},
		{"exact", "exact", true}, {"exact", "exactly", false}, {"*x", "ax", true}, {"*x", "xa", false},
	} {
		if wildcard(tc.p, tc.n) != tc.ok {
			t.Errorf("wildcard(%q, %q) = %v", tc.p, tc.n, !tc.ok)
		}
	}
}
