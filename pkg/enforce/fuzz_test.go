package enforce

import (
	"testing"

	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/state"
)

// FuzzCompile: any condition of an `enforce: kill` rule compiles or is refused with an
// error; it never panics, and what compiles fits the probe's limits.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"evt.type = execve and proc.name = x",
		"evt.type in (open, openat) and (fd.name startswith /etc/ or not proc.aname[2] in (a, b, c))",
		"evt.type = connect and not (fd.rport in (1, 2) and fd.rip = 10.0.0.1) and user.uid >= 1000",
		"not not (evt.type != execve or container.id = host)",
		"evt.type = execve and m and proc.exepath = /bin/x",
	} {
		f.Add(s)
	}
	d := detect.New(state.Options{})
	f.Fuzz(func(t *testing.T, cond string) {
		text := "- macro: m\n  condition: proc.pname = sh\n- rule: R\n  desc: d\n  output: o\n  priority: WARNING\n  enforce: kill\n  condition: " + quoteYAML(cond) + "\n"
		rs, _, _ := engine.Load([]loader.File{{Name: "f.yaml", Data: []byte(text)}}, engine.Options{Sources: d.Sources()})
		if rs == nil {
			return
		}
		prog, err := Compile(rs)
		if err != nil {
			_ = err.Error()
			return
		}
		for _, c := range prog.Clauses {
			if len(c.Preds) > probe.EnfMaxPreds || len(c.Syscalls) == 0 {
				t.Fatalf("clause %+v", c)
			}
		}
	})
}

func quoteYAML(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20 || r == 0x7f:
			b = append(b, ' ')
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}
