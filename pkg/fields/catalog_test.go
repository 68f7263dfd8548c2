package fields

import "testing"

func TestCatalogLookupAndResolve(t *testing.T) {
	c := SyscallCatalog()
	for _, tc := range []struct {
		name, base, arg string
		typ             Type
		ok              bool
	}{
		{"proc.name", "proc.name", "", String, true},
		{"evt.arg.flags", "evt.arg", "flags", String, true},
		{"evt.rawarg.res", "evt.rawarg", "res", Dyn, true},
		{"fd.sport", "fd.sport", "", Port, true},
		{"fd.net", "fd.net", "", IPNet, true},
		{"container.privileged", "container.privileged", "", Bool, true},
		{"proc.name.x", "", "", 0, false}, // proc.name takes no argument
		{"nope.field", "", "", 0, false},
	} {
		f, arg, ok := Resolve(c.Field, tc.name)
		if ok != tc.ok || f.Name != tc.base || arg != tc.arg || (ok && f.Type != tc.typ) {
			t.Errorf("Resolve(%q) = %q %q %v (type %v), want %q %q %v (type %v)", tc.name, f.Name, arg, ok, f.Type, tc.base, tc.arg, tc.ok, tc.typ)
		}
	}
	if f, _ := c.Field("proc.aname"); f.Arg != ArgAllowed || !f.NoTransformer {
		t.Errorf("proc.aname flags wrong: %+v", f)
	}
	k := K8sAuditCatalog()
	if f, ok := k.Field("ka.req.pod.containers.image"); !ok || !f.List || !f.ArgIndex {
		t.Errorf("ka.req.pod.containers.image: %+v %v", f, ok)
	}
	if f, ok := k.Field("jevt.value"); !ok || f.Arg != ArgRequired {
		t.Errorf("jevt.value: %+v %v", f, ok)
	}
}

func TestFormatCandidates(t *testing.T) {
	v := Value{S: "bash", L: ListOf([]Value{{S: "bash"}, {S: "sshd"}, {S: "systemd"}})}
	if got := Format(String, false, v); got != "bash sshd systemd" {
		t.Errorf("Format = %q", got)
	}
	if got := JSON(String, false, v); got != "bash sshd systemd" {
		t.Errorf("JSON = %v", got)
	}
	if got := Format(String, true, Value{L: ListOf([]Value{{S: "a"}, {S: "b"}})}); got != "(a,b)" {
		t.Errorf("list Format = %q", got)
	}
	if got := Format(Int64, false, Value{N: 7}); got != "7" {
		t.Errorf("scalar Format = %q", got)
	}
}
