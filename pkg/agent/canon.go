package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

// canonFields are the fields whose compared paths name the sensitive files fd.canonical
// finds by identity.
var canonFields = map[string]bool{"fd.name": true, "fd.realpath": true, "fd.canonical": true}

// maxDirEntries bounds the files taken from one directory a rule matches by prefix; a larger
// directory (a binary directory, /etc itself) is left out.
const maxDirEntries = 256

// SensitivePaths returns the paths the enabled syscall rules of rs compare fd.name,
// fd.realpath or fd.canonical with, for the state's sensitive-file index (fd.canonical): the
// absolute paths given to `=` and `in` (list items, list references expanded), and the
// regular files directly in a directory given to `startswith` with a trailing slash (at
// least two levels deep, at most maxDirEntries entries). Nothing when no rule reads
// fd.canonical.
func SensitivePaths(rs *Rules) []string {
	if rs == nil || rs.Ruleset == nil || !readsCanonical(rs) {
		return nil
	}
	c := pathCollector{rs: rs, seen: map[string]bool{}, macros: map[string]bool{}}
	for _, r := range rs.Ruleset.Enabled() {
		if r.Source != "syscall" || r.Def == nil {
			continue
		}
		e, err := parser.ParseCondition(r.Def.Condition.Value)
		if err != nil {
			continue
		}
		c.walk(e)
	}
	for _, d := range c.dirs {
		ents, err := os.ReadDir(d)
		if err != nil || len(ents) > maxDirEntries {
			continue
		}
		for _, en := range ents {
			if en.Type().IsRegular() {
				c.add(filepath.Join(d, en.Name()))
			}
		}
	}
	slices.Sort(c.out)
	return c.out
}

// readsCanonical reports whether a rule or macro of rs reads fd.canonical.
func readsCanonical(rs *Rules) bool {
	for _, r := range rs.Ruleset.Rules {
		if d := r.Def; d != nil && strings.Contains(d.Condition.Value, "fd.canonical") {
			return true
		}
	}
	for _, m := range rs.Ruleset.Macros {
		if readsField(m.Expr, "fd.canonical") {
			return true
		}
	}
	return false
}

type pathCollector struct {
	rs     *Rules
	seen   map[string]bool
	macros map[string]bool
	out    []string
	dirs   []string
}

func (c *pathCollector) add(p string) {
	if !c.seen[p] {
		c.seen[p] = true
		c.out = append(c.out, p)
	}
}

func (c *pathCollector) walk(e ast.Expr) {
	switch x := e.(type) {
	case *ast.BinaryExpr:
		c.walk(x.X)
		c.walk(x.Y)
	case *ast.NotExpr:
		c.walk(x.X)
	case *ast.ParenExpr:
		c.walk(x.X)
	case *ast.MacroRef:
		if c.macros[x.Name] {
			return
		}
		c.macros[x.Name] = true
		if m := c.rs.Ruleset.Macros[x.Name]; m != nil {
			c.walk(m.Expr)
		}
	case *ast.Compare:
		if x.Field == nil || !canonFields[x.Field.Name] || len(x.Field.Transformers) > 0 {
			return
		}
		var vals []string
		switch v := x.Value.(type) {
		case *ast.Literal:
			vals = []string{v.Value}
		case *ast.ListLit:
			for _, it := range v.Items {
				vals = append(vals, c.expand(it.Value, 0)...)
			}
		}
		for _, v := range vals {
			switch x.Op {
			case "=", "in":
				if isPlainPath(v) && !strings.HasSuffix(v, "/") {
					c.add(filepath.Clean(v))
				}
			case "startswith":
				if isPlainPath(v) && strings.HasSuffix(v, "/") && strings.Count(filepath.Clean(v), "/") >= 2 {
					d := filepath.Clean(v)
					if !slices.Contains(c.dirs, d) {
						c.dirs = append(c.dirs, d)
					}
				}
			}
		}
	}
}

// expand resolves a list item that names a list into its items (recursively, bounded).
func (c *pathCollector) expand(item string, depth int) []string {
	l, ok := c.rs.Ruleset.Lists[item]
	if !ok || depth > 8 {
		return []string{item}
	}
	var out []string
	for _, it := range l {
		out = append(out, c.expand(it, depth+1)...)
	}
	return out
}

// isPlainPath reports whether v is an absolute path without glob characters.
func isPlainPath(v string) bool {
	return strings.HasPrefix(v, "/") && !strings.ContainsAny(v, "*?[]")
}
