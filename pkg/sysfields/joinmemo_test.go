package sysfields

import "testing"

func TestJoinMemo(t *testing.T) {
	var m joinMemo
	a := []string{"-c", "echo hi"}
	b := []string{"-c", "echo hi"}
	if got := m.join(true, "sh", a); got != "sh -c echo hi" {
		t.Fatalf("cmdline %q", got)
	}
	// the same slice asked as args (no comm) is another value
	if got := m.join(false, "", a); got != "-c echo hi" {
		t.Fatalf("args %q", got)
	}
	// another comm with the same args
	if got := m.join(true, "bash", a); got != "bash -c echo hi" {
		t.Fatalf("cmdline with another comm %q", got)
	}
	// a shorter view of the same array is another value
	if got := m.join(false, "", a[:1]); got != "-c" {
		t.Fatalf("prefix of the args %q", got)
	}
	// an equal slice elsewhere, then many others: each answer is its own join
	for i := 0; i < 10; i++ {
		c := []string{"x", string(rune('a' + i))}
		if got, want := m.join(false, "", c), "x "+string(rune('a'+i)); got != want {
			t.Fatalf("join %d: %q, want %q", i, got, want)
		}
	}
	if got := m.join(true, "sh", b); got != "sh -c echo hi" {
		t.Fatalf("equal slice %q", got)
	}
	if got := m.join(false, "", nil); got != "" {
		t.Fatalf("no parts %q", got)
	}
}
