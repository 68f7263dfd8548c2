package compiler

import (
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/fields"
)

// BenchmarkChain compares, in one run, a rule shaped like the upstream ones (a macro that is
// false for most events, then 20 `and not ...` exceptions) compiled as the parser nests it
// (left-deep binary closures: the false first operand is reached through 20 calls) and as
// one n-ary chain (chainFilter). The ratio nested/chain is what the flattening saves.
func BenchmarkChain(b *testing.B) {
	calls := 0
	f := func(fields.Event) bool { calls++; return false }
	t := func(fields.Event) bool { calls++; return true }
	ops := []Filter{f}
	for i := 0; i < 20; i++ {
		ops = append(ops, t)
	}
	nested := ops[0]
	for _, y := range ops[1:] {
		x, y := nested, y
		nested = func(ev fields.Event) bool { return x(ev) && y(ev) }
	}
	chain := chainFilter(true, ops)
	for _, c := range []struct {
		name string
		f    Filter
	}{{"nested", nested}, {"chain", chain}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if c.f(nil) {
					b.Fatal("matched")
				}
			}
		})
	}
}

// BenchmarkIcontains compares, in one run, icontains on a 2 KiB environment (the upstream
// HTTP_PROXY rule on proc.env) with strings.EqualFold per position and byte by byte.
func BenchmarkIcontains(b *testing.B) {
	env := strings.Repeat("LC_ALL=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin ", 32)
	for _, c := range []struct {
		name string
		f    func() bool
	}{
		{"equalfold", func() bool { return containsFold(env, "HTTP_PROXY") }},
		{"ascii", func() bool { return containsFoldASCII(env, "http_proxy") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if c.f() {
					b.Fatal("found")
				}
			}
		})
	}
}
