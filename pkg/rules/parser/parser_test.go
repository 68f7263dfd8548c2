package parser_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

// Builders for expected trees (positions zero).
func fld(name string) *ast.FieldRef { return &ast.FieldRef{Name: name} }
func fa(name, arg string) *ast.FieldRef {
	return &ast.FieldRef{Name: name, Arg: arg, HasArg: true}
}
func tf(f *ast.FieldRef, ts ...string) *ast.FieldRef { f.Transformers = ts; return f }
func cmp(f *ast.FieldRef, op string, v ast.Operand) *ast.Compare {
	return &ast.Compare{Field: f, Op: op, Value: v}
}
func exists(f *ast.FieldRef) *ast.UnaryCheck { return &ast.UnaryCheck{Field: f, Op: "exists"} }
func bare(v string) *ast.Literal             { return &ast.Literal{Value: v} }
func quo(v string) *ast.Literal              { return &ast.Literal{Value: v, Quoted: true} }
func list(items ...*ast.Literal) *ast.ListLit {
	if items == nil {
		items = []*ast.Literal{}
	}
	return &ast.ListLit{Items: items}
}
func val(f *ast.FieldRef) *ast.FieldValue { return &ast.FieldValue{Field: f} }
func and(x, y ast.Expr) ast.Expr          { return &ast.BinaryExpr{Op: ast.And, X: x, Y: y} }
func or(x, y ast.Expr) ast.Expr           { return &ast.BinaryExpr{Op: ast.Or, X: x, Y: y} }
func not(x ast.Expr) ast.Expr             { return &ast.NotExpr{X: x} }
func paren(x ast.Expr) ast.Expr           { return &ast.ParenExpr{X: x} }
func macro(n string) ast.Expr             { return &ast.MacroRef{Name: n} }

func TestParseTable(t *testing.T) {
	pn := fld("proc.name")
	_ = pn
	tests := []struct {
		src  string
		want ast.Expr
	}{
		// Macros and boolean structure.
		{"spawned_process", macro("spawned_process")},
		{"spawned_process and not shell_procs", and(macro("spawned_process"), not(macro("shell_procs")))},
		{"a or b and c", or(macro("a"), and(macro("b"), macro("c")))},
		{"a and b or c", or(and(macro("a"), macro("b")), macro("c"))},
		{"a and b and c", and(and(macro("a"), macro("b")), macro("c"))},
		{"a or b or c", or(or(macro("a"), macro("b")), macro("c"))},
		{"not a and b", and(not(macro("a")), macro("b"))},
		{"not a or not b and c", or(not(macro("a")), and(not(macro("b")), macro("c")))},
		{"not not a", not(not(macro("a")))},
		{"not (a or b)", not(paren(or(macro("a"), macro("b"))))},
		{"not(a)", not(paren(macro("a")))},
		{"a and(b)", and(macro("a"), paren(macro("b")))},
		{"a or(b)", or(macro("a"), paren(macro("b")))},
		{"(a or b) and c", and(paren(or(macro("a"), macro("b"))), macro("c"))},
		{"((a))", paren(paren(macro("a")))},
		{" \t\n a \r\n and\tb ", and(macro("a"), macro("b"))},
		{"notx and andy or oryx", or(and(macro("notx"), macro("andy")), macro("oryx"))},
		{"exists", macro("exists")},
		{"in_list_macro", macro("in_list_macro")},
		{"a_1 and B2", and(macro("a_1"), macro("B2"))},

		// Each operator.
		{"proc.name exists", exists(fld("proc.name"))},
		{"proc.name = sh", cmp(fld("proc.name"), "=", bare("sh"))},
		{"proc.name == sh", cmp(fld("proc.name"), "==", bare("sh"))},
		{"proc.name != sh", cmp(fld("proc.name"), "!=", bare("sh"))},
		{"fd.num < 3", cmp(fld("fd.num"), "<", bare("3"))},
		{"fd.num <= 3", cmp(fld("fd.num"), "<=", bare("3"))},
		{"fd.num > 3", cmp(fld("fd.num"), ">", bare("3"))},
		{"fd.num >= 3", cmp(fld("fd.num"), ">=", bare("3"))},
		{"proc.cmdline contains x", cmp(fld("proc.cmdline"), "contains", bare("x"))},
		{"proc.cmdline icontains X", cmp(fld("proc.cmdline"), "icontains", bare("X"))},
		{"evt.buffer bcontains 2f62696e", cmp(fld("evt.buffer"), "bcontains", bare("2f62696e"))},
		{"fd.name startswith /etc/", cmp(fld("fd.name"), "startswith", bare("/etc/"))},
		{"evt.buffer bstartswith 7f454c46", cmp(fld("evt.buffer"), "bstartswith", bare("7f454c46"))},
		{"fd.name endswith .conf", cmp(fld("fd.name"), "endswith", bare(".conf"))},
		{"fd.name glob /usr/bin/*", cmp(fld("fd.name"), "glob", bare("/usr/bin/*"))},
		{"fd.name iglob /USR/*", cmp(fld("fd.name"), "iglob", bare("/USR/*"))},
		{"fd.name pmatch (/etc, /usr)", cmp(fld("fd.name"), "pmatch", list(bare("/etc"), bare("/usr")))},
		{"proc.name in (sh, bash)", cmp(fld("proc.name"), "in", list(bare("sh"), bare("bash")))},
		{"ka.req.pod.volumes.hostpath intersects (/proc, /var/run/docker.sock)",
			cmp(fld("ka.req.pod.volumes.hostpath"), "intersects", list(bare("/proc"), bare("/var/run/docker.sock")))},
		{`proc.name regex "^ba?sh$"`, cmp(fld("proc.name"), "regex", quo("^ba?sh$"))},

		// Operators without blanks where Falco allows it.
		{"proc.name=sh", cmp(fld("proc.name"), "=", bare("sh"))},
		{"fd.num>=0", cmp(fld("fd.num"), ">=", bare("0"))},
		{"fd.num<-1", cmp(fld("fd.num"), "<", bare("-1"))},
		{"proc.name!=sh", cmp(fld("proc.name"), "!=", bare("sh"))},
		{"proc.name in(sh)", cmp(fld("proc.name"), "in", list(bare("sh")))},
		{"(proc.name exists)", paren(exists(fld("proc.name")))},

		// Values.
		{"proc.pid = -1", cmp(fld("proc.pid"), "=", bare("-1"))},
		{"evt.is_open_write = true", cmp(fld("evt.is_open_write"), "=", bare("true"))},
		{"fd.num > 0x1F", cmp(fld("fd.num"), ">", bare("0x1F"))},
		{"fd.num > +1.5e+3", cmp(fld("fd.num"), ">", bare("+1.5e+3"))},
		{"fd.num > 2.", cmp(fld("fd.num"), ">", bare("2."))},
		{"proc.name = <NA>", cmp(fld("proc.name"), "=", bare("<NA>"))},
		{"proc.name = a!b<c>[d]", cmp(fld("proc.name"), "=", bare("a!b<c>[d]"))},
		{`proc.name = "a b"`, cmp(fld("proc.name"), "=", quo("a b"))},
		{`proc.name = 'a b'`, cmp(fld("proc.name"), "=", quo("a b"))},
		{`proc.name = ""`, cmp(fld("proc.name"), "=", quo(""))},
		{`proc.name = "it's"`, cmp(fld("proc.name"), "=", quo("it's"))},
		{`proc.name = 'say "hi"'`, cmp(fld("proc.name"), "=", quo(`say "hi"`))},
		{`proc.name = "a\"b"`, cmp(fld("proc.name"), "=", quo(`a"b`))},
		{`proc.name = 'a\'b'`, cmp(fld("proc.name"), "=", quo(`a'b`))},
		{`proc.name = "a\\b"`, cmp(fld("proc.name"), "=", quo(`a\b`))},
		{`proc.name = "a\\"`, cmp(fld("proc.name"), "=", quo(`a\`))},
		{`proc.name = "\n\t\r\b\f\/"`, cmp(fld("proc.name"), "=", quo("\n\t\r\b\f/"))},
		{`proc.name = "\x41\x7e\x00\xff"`, cmp(fld("proc.name"), "=", quo("A~\x00\xff"))},
		{`proc.args contains "\ "`, cmp(fld("proc.args"), "contains", quo(`\`))},
		{`proc.name = "é ü"`, cmp(fld("proc.name"), "=", quo("é ü"))},
		{"proc.args endswith \\", cmp(fld("proc.args"), "endswith", bare(`\`))},
		{"(proc.args endswith \\)", paren(cmp(fld("proc.args"), "endswith", bare(`\`)))},
		{"proc.name = and", cmp(fld("proc.name"), "=", bare("and"))},

		// Lists.
		{"proc.name in ()", cmp(fld("proc.name"), "in", list())},
		{"proc.name in ( )", cmp(fld("proc.name"), "in", list())},
		{"proc.name in (a)", cmp(fld("proc.name"), "in", list(bare("a")))},
		{`proc.name in (a, "b c", 1, some_list, 'd')`,
			cmp(fld("proc.name"), "in", list(bare("a"), quo("b c"), bare("1"), bare("some_list"), quo("d")))},
		{"proc.name in ( a ,b\n,\tc )", cmp(fld("proc.name"), "in", list(bare("a"), bare("b"), bare("c")))},
		{`proc.name in ("<NA>","N/A")`, cmp(fld("proc.name"), "in", list(quo("<NA>"), quo("N/A")))},
		{"proc.name in (shell_binaries, /bin/*)", cmp(fld("proc.name"), "in", list(bare("shell_binaries"), bare("/bin/*")))},
		{"proc.name in shell_binaries", cmp(fld("proc.name"), "in", bare("shell_binaries"))},
		{"fd.name pmatch allowed_paths", cmp(fld("fd.name"), "pmatch", bare("allowed_paths"))},
		{"proc.name intersects my_list and a", and(cmp(fld("proc.name"), "intersects", bare("my_list")), macro("a"))},

		// Field arguments.
		{"proc.aname[2] = yum", cmp(fa("proc.aname", "2"), "=", bare("yum"))},
		{"evt.arg[0] = x", cmp(fa("evt.arg", "0"), "=", bare("x"))},
		{"proc.env[HOME] = /root", cmp(fa("proc.env", "HOME"), "=", bare("/root"))},
		{"jevt.value[/user/username] = admin", cmp(fa("jevt.value", "/user/username"), "=", bare("admin"))},
		{"ka.req.pod.containers.image[0] exists", exists(fa("ka.req.pod.containers.image", "0"))},
		{`proc.env["MY VAR"] = 1`, cmp(fa("proc.env", "MY VAR"), "=", bare("1"))},
		{`proc.env['a]b'] = 1`, cmp(fa("proc.env", "a]b"), "=", bare("1"))},
		{"proc.env[a(b)=c,d] = 1", cmp(fa("proc.env", "a(b)=c,d"), "=", bare("1"))},
		{"evt.arg.flags contains O_CREAT", cmp(fld("evt.arg.flags"), "contains", bare("O_CREAT"))},
		{"proc.aname[2]=yum", cmp(fa("proc.aname", "2"), "=", bare("yum"))},

		// Transformers.
		{"tolower(fd.name) = /etc", cmp(tf(fld("fd.name"), "tolower"), "=", bare("/etc"))},
		{"toupper(proc.name) = SH", cmp(tf(fld("proc.name"), "toupper"), "=", bare("SH"))},
		{"b64(evt.buffer) contains x", cmp(tf(fld("evt.buffer"), "b64"), "contains", bare("x"))},
		{"basename(proc.exe) = sh", cmp(tf(fld("proc.exe"), "basename"), "=", bare("sh"))},
		{"len(proc.args) > 100", cmp(tf(fld("proc.args"), "len"), ">", bare("100"))},
		{"tolower(basename(proc.exe)) = sh", cmp(tf(fld("proc.exe"), "tolower", "basename"), "=", bare("sh"))},
		{"tolower( basename( proc.aname[1] ) ) in (sh)", cmp(tf(fa("proc.aname", "1"), "tolower", "basename"), "in", list(bare("sh")))},
		{"tolower(proc.name) exists", exists(tf(fld("proc.name"), "tolower"))},

		// Field values.
		{"proc.name = val(proc.pname)", cmp(fld("proc.name"), "=", val(fld("proc.pname")))},
		{"proc.name=val( proc.aname[2] )", cmp(fld("proc.name"), "=", val(fa("proc.aname", "2")))},
		{"fd.num > val(proc.pid)", cmp(fld("fd.num"), ">", val(fld("proc.pid")))},
		{"proc.name in val(proc.pname)", cmp(fld("proc.name"), "in", val(fld("proc.pname")))},
		{"proc.name = tolower(proc.pname)", cmp(fld("proc.name"), "=", val(tf(fld("proc.pname"), "tolower")))},
		{"tolower(proc.name) = toupper(basename(proc.exe))",
			cmp(tf(fld("proc.name"), "tolower"), "=", val(tf(fld("proc.exe"), "toupper", "basename")))},
		{"len(proc.args) >= len(proc.env)", cmp(tf(fld("proc.args"), "len"), ">=", val(tf(fld("proc.env"), "len")))},
		{"proc.name = val", cmp(fld("proc.name"), "=", bare("val"))},
		{"proc.name = tolower", cmp(fld("proc.name"), "=", bare("tolower"))},
		{"proc.name in val", cmp(fld("proc.name"), "in", bare("val"))},
	}
	for _, tt := range tests {
		got, err := parser.ParseCondition(tt.src)
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		checkPositions(t, tt.src, got)
		printed := ast.Print(got)
		if !reflect.DeepEqual(zeroPos(got), tt.want) {
			t.Errorf("%q:\n got %s\nwant %s", tt.src, printed, ast.Print(tt.want))
			continue
		}
		again, err := parser.ParseCondition(printed)
		if err != nil {
			t.Errorf("%q: printed %q does not parse: %v", tt.src, printed, err)
			continue
		}
		if !reflect.DeepEqual(zeroPos(again), tt.want) {
			t.Errorf("%q: printed %q parses differently: %s", tt.src, printed, ast.Print(again))
		}
	}
}

// TestPositions checks exact offsets of every node of a few conditions.
func TestPositions(t *testing.T) {
	src := `not (proc.aname[2] in (a, "b")) or tolower(fd.name) = val(proc.name)`
	//       0123456789012345678901234567890123456789012345678901234567890123456789
	e, err := parser.ParseCondition(src)
	if err != nil {
		t.Fatal(err)
	}
	want := &ast.BinaryExpr{Op: ast.Or, OpPos: 32,
		X: &ast.NotExpr{NotPos: 0, X: &ast.ParenExpr{Lparen: 4, Rparen: 30,
			X: &ast.Compare{
				Field: &ast.FieldRef{Name: "proc.aname", Arg: "2", HasArg: true, From: 5, To: 18, NamePos: 5},
				Op:    "in", OpPos: 19,
				Value: &ast.ListLit{Lparen: 22, Rparen: 29, Items: []*ast.Literal{
					{Value: "a", From: 23, To: 24},
					{Value: "b", Quoted: true, From: 26, To: 29 - 0},
				}},
			}}},
		Y: &ast.Compare{
			Field: &ast.FieldRef{Name: "fd.name", Transformers: []string{"tolower"}, From: 35, To: 51, NamePos: 43},
			Op:    "=", OpPos: 52,
			Value: &ast.FieldValue{From: 54, To: 68,
				Field: &ast.FieldRef{Name: "proc.name", From: 58, To: 67, NamePos: 58}},
		},
	}
	// "b" spans 26..29 (quotes included), the list's ')' is at 29? No: check by hand below.
	if src[26:29] != `"b"` || src[29] != ')' || src[30] != ')' {
		t.Fatalf("test offsets wrong: %q %q", src[26:29], src[29:31])
	}
	if !reflect.DeepEqual(e, ast.Expr(want)) {
		t.Errorf("positions differ:\n got %#v\nwant %#v", e, want)
		ast.Walk(e, func(n ast.Node) bool { t.Logf("%T [%d,%d) %q", n, n.Pos(), n.End(), src[n.Pos():n.End()]); return true })
	}
	if e.Pos() != 0 || e.End() != len(src) {
		t.Errorf("root span [%d,%d), want [0,%d)", e.Pos(), e.End(), len(src))
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		src    string
		offset int
		msg    string
	}{
		{"", 0, "empty condition"},
		{"   ", 0, "empty condition"},
		{"proc.name =", 11, "unexpected end of condition, expected a value after '='"},
		{"proc.name = ", 12, "unexpected end of condition, expected a value after '='"},
		{"proc.name", 9, "unexpected end of condition, expected an operator after field 'proc.name'"},
		{"proc.name and a", 10, "expected an operator after field 'proc.name', found 'and'"},
		{"proc.name equals sh", 10, "unknown operator 'equals'"},
		{"proc.name IN (sh)", 10, "unknown operator 'IN'"},
		{"proc.name inx", 10, "unknown operator 'inx'"},
		{"proc.name ! sh", 10, "unexpected '!', expected an operator after field 'proc.name'"},
		{"proc.name ) sh", 10, "unexpected ')', expected an operator after field 'proc.name'"},
		{`proc.name = "abc`, 12, "unterminated string"},
		{`proc.name in ('abc)`, 14, "unterminated string"},
		{`proc.name = "a\qb"`, 14, `unsupported escape sequence '\q' in string`},
		{`proc.name = 'a\"b'`, 14, `invalid \" escape in '-quoted string`},
		{`proc.name = "a\'b"`, 14, `invalid \' escape in "-quoted string`},
		{`proc.name = "\x4"`, 13, `invalid \x escape: expected two hexadecimal digits`},
		{"(proc.name = sh", 0, "unbalanced parenthesis: missing ')'"},
		{"a and (b or (c)", 6, "unbalanced parenthesis: missing ')'"},
		{"proc.name = sh)", 14, "unbalanced parenthesis: unexpected ')'"},
		{"proc.name in (a, b", 13, "unbalanced parenthesis: missing ')' closing the list"},
		{"proc.name in (a b)", 16, "unexpected 'b', expected ',' or ')' in list"},
		{"proc.name in (a,)", 16, "unexpected ')', expected a list item after ','"},
		{"proc.name in (,a)", 14, "unexpected ',', expected a list item"},
		{"proc.name in", 12, "unexpected end of condition, expected a list '(...)' or a list name after 'in'"},
		{"proc.name in proc.pname", 13, "unexpected 'proc.pname', expected a list '(...)' or a list name after 'in'"},
		{"proc.name in 'x'", 13, `unexpected ''x'', expected a list '(...)' or a list name after 'in'`},
		{"fd.num > abc", 9, "expected a number after '>', found 'abc'"},
		{"fd.num > 1.2.3", 9, "expected a number after '>', found '1.2.3'"},
		{`fd.num > "1"`, 9, `unexpected '"1"', expected a number after '>'`},
		{"fd.num >", 8, "unexpected end of condition, expected a number after '>'"},
		{"proc.name contains(x)", 18, "expected a blank after operator 'contains', found '('"},
		{`proc.name contains"x"`, 18, `expected a blank after operator 'contains', found '"x"'`},
		{"proc.name = sh bash", 15, "unexpected 'bash', expected 'and', 'or' or end of condition"},
		{"(proc.name = sh bash)", 16, "unexpected 'bash', expected 'and', 'or' or ')'"},
		{"a and", 5, "unexpected end of condition, expected a field check, a macro name, 'not' or '('"},
		{"a or or b", 5, "unexpected 'or', expected a field check, a macro name, 'not' or '('"},
		{"not", 3, "unexpected end of condition, expected a field check, a macro name, 'not' or '('"},
		{"()", 1, "unexpected ')', expected a field check, a macro name, 'not' or '('"},
		{"= sh", 0, "unexpected '=', expected a field check, a macro name, 'not' or '('"},
		{"a and 'x'", 6, `unexpected ''x'', expected a field check, a macro name, 'not' or '('`},
		{"proc = sh", 0, "'proc' is not a field name (field names contain a dot, e.g. 'proc.name'), it cannot be compared"},
		{"proc.aname[2 = sh", 12, "expected ']' closing the argument of field 'proc.aname', found ' '"},
		{"proc.aname[", 10, "unterminated argument of field 'proc.aname': missing ']'"},
		{"proc.aname[2", 10, "unterminated argument of field 'proc.aname': missing ']'"},
		{"proc.aname[] = sh", 11, "empty argument of field 'proc.aname'"},
		{"proc.aname[[2]] = sh", 11, "unexpected '[' in argument of field 'proc.aname'"},
		{"lower(proc.name) = sh", 0, "unknown field transformer 'lower'"},
		{"val(proc.name) = sh", 0, "val() can only be used on the right-hand side of a comparison"},
		{"tolower(sh) = sh", 8, "unexpected 'sh', expected a field or a transformer inside 'tolower('"},
		{"tolower() = sh", 8, "unexpected ')', expected a field or a transformer inside 'tolower('"},
		{"tolower(proc.name = sh", 18, "unexpected '=', expected ')' closing 'tolower('"},
		{"tolower(proc.name", 7, "unbalanced parenthesis: missing ')' closing 'tolower('"},
		{"tolower(val(proc.name)) = x", 8, "val() cannot be used inside 'tolower()'"},
		{"proc.name = val(sh)", 16, "unexpected 'sh', expected a field inside 'val('"},
		{"proc.name = val(proc.pname", 15, "unbalanced parenthesis: missing ')' closing 'val('"},
		{"proc.name = val(tolower(proc.pname))", 16, "unexpected 'tolower', expected a field inside 'val('"},
		{"proc.name = foo(proc.pname)", 12, "unknown field transformer 'foo'"},
		{"proc.name = a=b", 13, "unexpected '=', expected 'and', 'or' or end of condition"},
		{"proc.name = sh,", 14, "unexpected ',', expected 'and', 'or' or end of condition"},
		{"proc.name = (x)", 12, "unexpected '(', expected a value after '='"},
		{"a and \x01", 6, "unexpected '\\x01', expected a field check, a macro name, 'not' or '('"},
	}
	if len(tests) < 25 {
		t.Fatalf("only %d error cases", len(tests))
	}
	for _, tt := range tests {
		e, err := parser.ParseCondition(tt.src)
		if err == nil {
			t.Errorf("%q: no error, got %s", tt.src, ast.Print(e))
			continue
		}
		var pe *parser.Error
		if !errors.As(err, &pe) {
			t.Errorf("%q: error %T, want *parser.Error", tt.src, err)
			continue
		}
		if pe.Offset != tt.offset || pe.Msg != tt.msg {
			t.Errorf("%q:\n got offset %d: %s\nwant offset %d: %s", tt.src, pe.Offset, pe.Msg, tt.offset, tt.msg)
		}
		if e != nil {
			t.Errorf("%q: non-nil tree with an error", tt.src)
		}
	}
	if got := (&parser.Error{Offset: 7, Msg: "boom"}).Error(); got != "offset 7: boom" {
		t.Errorf("Error() = %q", got)
	}
}

func TestDepthLimit(t *testing.T) {
	deep := ""
	for i := 0; i < parser.MaxDepth+1; i++ {
		deep += "("
	}
	_, err := parser.ParseCondition(deep + "a")
	var pe *parser.Error
	if !errors.As(err, &pe) || pe.Offset != parser.MaxDepth || pe.Msg != "expression nested too deeply (more than 1000 levels)" {
		t.Errorf("deep parens: %v", err)
	}
	nots := ""
	for i := 0; i < parser.MaxDepth; i++ {
		nots += "not "
	}
	if _, err := parser.ParseCondition(nots + "a"); err != nil {
		t.Errorf("%d nots: %v", parser.MaxDepth, err)
	}
	if _, err := parser.ParseCondition(nots + "not a"); err == nil {
		t.Errorf("%d nots: no error", parser.MaxDepth+1)
	}
}
