package rulestest

import (
	"os"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/rules"
)

func TestSmoke(t *testing.T) {
	p := os.Getenv("SMOKE")
	if p == "" {
		t.Skip()
	}
	s, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	files := rules.Files()
	if r := os.Getenv("SMOKE_RULES"); r != "" {
		b, _ := os.ReadFile(r)
		files = []loader.File{{Name: r, Data: b}}
	}
	r, err := NewRunner(files)
	if err != nil {
		t.Fatal(err)
	}
	res := r.Run([]*Suite{s})
	WriteText(os.Stdout, res, os.Getenv("V") != "")
}
