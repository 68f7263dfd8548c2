package enforce

import (
	"os"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/probe"
)

func TestCompileRefusesWithPosition(t *testing.T) {
	cases := []struct {
		cond, want string
	}{
		{"evt.type = execve and proc.cmdline contains evil", "enf.yaml:4:36: rule \"R\": enforce: kill: `proc.cmdline contains evil` cannot run in the kernel: field proc.cmdline is not known"},
		{"evt.type = openat and tolower(fd.name) = /x", "enf.yaml:4:36: rule \"R\": enforce: kill: `tolower(fd.name) = /x`"},
		{"evt.type = openat and fd.name endswith .key", "operator 'endswith' is not evaluated in the kernel"},
		{"evt.type = unlink and fd.name = /x", "evt.type unlink cannot be enforced"},
		{"proc.name = evil", "must restrict evt.type"},
		{"evt.type = openat and proc.exepath = /x", "proc.exepath is known in the kernel for execve only"},
		{"evt.type = connect and container.id = abc", "only container.id = host"},
		{"evt.type = connect and fd.rip = ::1", "only IPv4"},
		{"evt.type = execve and evt.res != SUCCESS", "result is not known at entry"},
		{"evt.type = execve and bad_macro", "enf.yaml:4:36: rule \"R\": enforce: kill: `proc.cmdline contains x` (in macro 'bad_macro')"},
		{"evt.type = execve and proc.name exists", "'exists' is not tested"},
	}
	for _, c := range cases {
		rules := "- macro: bad_macro\n  condition: proc.cmdline contains x\n- rule: R\n  condition: " + c.cond + "\n  output: o\n  priority: WARNING\n  desc: d\n  enforce: kill\n"
		_, err := compileText(t, "enf.yaml", rules)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.cond, err, c.want)
		}
	}
}

func TestCompileShapes(t *testing.T) {
	rules := `
- list: bad_bins
  items: [nc, ncat]
- macro: spawned
  condition: (evt.type in (execve, execveat) and evt.dir = <)
- rule: A
  desc: d
  condition: spawned and proc.name in (bad_bins) and not proc.pname = bash and container.id != host and user.uid >= 1000
  output: o
  priority: WARNING
  enforce: kill
- rule: B
  desc: d
  condition: evt.type = connect and (fd.rport = 4444 or fd.rip = 10.0.0.1) and not proc.aname in (sshd, systemd)
  output: o
  priority: WARNING
  enforce: kill
- rule: C
  desc: d
  condition: evt.type = openat and fd.name = /x
  output: o
  priority: WARNING
`
	prog, err := compileText(t, "shapes.yaml", rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog.Rules) != 2 || prog.Rules[0] != "A" || prog.Rules[1] != "B" {
		t.Fatalf("rules %v (C has no enforce key)", prog.Rules)
	}
	var a, b []probe.EnforceClause
	for _, c := range prog.Clauses {
		if c.Rule == 0 {
			a = append(a, c)
		} else {
			b = append(b, c)
		}
	}
	// A: two names → two clauses of 4 predicates on execve and execveat
	if len(a) != 2 || len(a[0].Preds) != 4 || strings.Join(a[0].Syscalls, ",") != "execve,execveat" {
		t.Fatalf("A: %+v", a)
	}
	p := a[0].Preds
	if p[0].Field != probe.EnfName || p[0].Str != "nc" || p[0].Neg ||
		p[1].Field != probe.EnfName || p[1].Arg != 1 || !p[1].Neg ||
		p[2].Field != probe.EnfContainer || !p[2].Neg ||
		p[3].Field != probe.EnfUID || p[3].Op != probe.EnfLess || !p[3].Neg || p[3].Num != 1000 {
		t.Fatalf("A preds %+v", p)
	}
	// B: (port or ip) and not aname in (..) → 2 clauses, each with two negated ancestor checks
	if len(b) != 2 || len(b[0].Preds) != 3 || b[1].Preds[0].Num != 10<<24|1 || !b[0].Preds[1].Neg || b[0].Preds[1].Field != probe.EnfAncAny {
		t.Fatalf("B: %+v", b)
	}
}

// The example in deploy/ compiles whole (it is never loaded live here: its rules name real
// system paths).
func TestExampleRulesCompile(t *testing.T) {
	b, err := os.ReadFile("../../deploy/enforce-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	prog, err := compileText(t, "enforce-rules.yaml", string(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(prog.Rules) != 4 {
		t.Fatalf("rules %v", prog.Rules)
	}
}
