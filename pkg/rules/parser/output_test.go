package parser_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

func TestParseOutput(t *testing.T) {
	lit := func(text string, off int) parser.OutputPart { return parser.OutputPart{Text: text, Offset: off} }
	field := func(text string, f *ast.FieldRef, width, off int) parser.OutputPart {
		return parser.OutputPart{Text: text, Field: f, Width: width, Offset: off}
	}
	tests := []struct {
		src  string
		want []parser.OutputPart
	}{
		{"", nil},
		{"no fields here", []parser.OutputPart{lit("no fields here", 0)}},
		{"%proc.name", []parser.OutputPart{
			field("proc.name", &ast.FieldRef{Name: "proc.name", From: 1, To: 10, NamePos: 1}, 0, 0)}},
		{"user=%user.name cmd=%proc.cmdline", []parser.OutputPart{
			lit("user=", 0),
			field("user.name", &ast.FieldRef{Name: "user.name", From: 6, To: 15, NamePos: 6}, 0, 5),
			lit(" cmd=", 15),
			field("proc.cmdline", &ast.FieldRef{Name: "proc.cmdline", From: 21, To: 33, NamePos: 21}, 0, 20)}},
		{"gparent=%proc.aname[2])", []parser.OutputPart{
			lit("gparent=", 0),
			field("proc.aname[2]", &ast.FieldRef{Name: "proc.aname", Arg: "2", HasArg: true, From: 9, To: 22, NamePos: 9}, 0, 8),
			lit(")", 22)}},
		{"%ka.target.name/%ka.target.resource", []parser.OutputPart{
			field("ka.target.name", &ast.FieldRef{Name: "ka.target.name", From: 1, To: 15, NamePos: 1}, 0, 0),
			lit("/", 15),
			field("ka.target.resource", &ast.FieldRef{Name: "ka.target.resource", From: 17, To: 35, NamePos: 17}, 0, 16)}},
		{"flags=%evt.arg.flags.", []parser.OutputPart{
			lit("flags=", 0),
			field("evt.arg.flags", &ast.FieldRef{Name: "evt.arg.flags", From: 7, To: 20, NamePos: 7}, 0, 6),
			lit(".", 20)}},
		{"v=%jevt.value[/requestObject/spec/volumes]", []parser.OutputPart{
			lit("v=", 0),
			field("jevt.value[/requestObject/spec/volumes]", &ast.FieldRef{Name: "jevt.value", Arg: "/requestObject/spec/volumes", HasArg: true, From: 3, To: 42, NamePos: 3}, 0, 2)}},
		{"%10proc.name|", []parser.OutputPart{
			field("proc.name", &ast.FieldRef{Name: "proc.name", From: 3, To: 12, NamePos: 3}, 10, 0),
			lit("|", 12)}},
		{"%tolower(proc.name)x", []parser.OutputPart{
			field("tolower(proc.name)", &ast.FieldRef{Name: "proc.name", Transformers: []string{"tolower"}, From: 1, To: 19, NamePos: 9}, 0, 0),
			lit("x", 19)}},
		{"100%% sure %%s", []parser.OutputPart{lit("100% sure %s", 0)}},
		{"a%%%proc.pid", []parser.OutputPart{
			lit("a%", 0),
			field("proc.pid", &ast.FieldRef{Name: "proc.pid", From: 4, To: 12, NamePos: 4}, 0, 3)}},
		{"%proc.name[x y]", []parser.OutputPart{ // not an argument: '[' stays literal
			field("proc.name", &ast.FieldRef{Name: "proc.name", From: 1, To: 10, NamePos: 1}, 0, 0),
			lit("[x y]", 10)}},
		{`%proc.env["A B"]`, []parser.OutputPart{
			field(`proc.env["A B"]`, &ast.FieldRef{Name: "proc.env", Arg: "A B", HasArg: true, From: 1, To: 16, NamePos: 1}, 0, 0)}},
		{"*%proc.name", []parser.OutputPart{
			lit("*", 0),
			field("proc.name", &ast.FieldRef{Name: "proc.name", From: 2, To: 11, NamePos: 2}, 0, 1)}},
		{"line1\n%fd.name\n", []parser.OutputPart{
			lit("line1\n", 0),
			field("fd.name", &ast.FieldRef{Name: "fd.name", From: 7, To: 14, NamePos: 7}, 0, 6),
			lit("\n", 14)}},
	}
	for _, tt := range tests {
		got, err := parser.ParseOutput(tt.src)
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.src, got, tt.want)
		}
	}
}

func TestParseOutputErrors(t *testing.T) {
	tests := []struct {
		src    string
		offset int
		msg    string
	}{
		{"cmd=%", 4, "output cannot end with '%'"},
		{"x %12", 2, "output cannot end with a field width"},
		{"100% sure", 3, "expected a field name after '%', found ' '"},
		{"%name", 0, "expected a field name after '%', found 'name'"},
		{"%lower(proc.name)", 1, "unknown field transformer 'lower'"},
		{"%tolower(proc.name", 8, "unbalanced parenthesis: missing ')' closing 'tolower('"},
		{"%tolower(x)", 9, "unexpected 'x', expected a field or a transformer inside 'tolower('"},
		{"%tolower(", 9, "unexpected end of output, expected a field or a transformer inside 'tolower('"},
		{"%99999999proc.name", 1, "field width too large (max 65536)"},
	}
	for _, tt := range tests {
		_, err := parser.ParseOutput(tt.src)
		var pe *parser.Error
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %v, want *parser.Error", tt.src, err)
			continue
		}
		if pe.Offset != tt.offset || pe.Msg != tt.msg {
			t.Errorf("%q:\n got offset %d: %s\nwant offset %d: %s", tt.src, pe.Offset, pe.Msg, tt.offset, tt.msg)
		}
	}
}
