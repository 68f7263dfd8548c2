package loader

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// rawPos finds the only occurrence of word in data and returns its 1-based line and column
// (in characters), computed directly from the bytes.
func rawPos(t *testing.T, data, word string) (int, int) {
	t.Helper()
	if strings.Count(data, word) != 1 {
		t.Fatalf("marker %q occurs %d times in the file", word, strings.Count(data, word))
	}
	i := strings.Index(data, word)
	line := strings.Count(data[:i], "\n") + 1
	ls := strings.LastIndex(data[:i], "\n") + 1
	return line, utf8.RuneCountInString(data[ls:i]) + 1
}

var reMarker = regexp.MustCompile(`[a-z]+[0-9]+`)

// Every marker word (letters followed by the scalar's number) in every condition and list
// item of testdata/locate.yaml must be located where it is in the raw file, whatever the
// scalar style.
func TestLocateMarkers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "locate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, errs, warns := Load([]File{{Name: "locate.yaml", Data: data}})
	if len(errs)+len(warns) > 0 {
		t.Fatal(errs, warns)
	}
	var all []Text
	for _, m := range c.Macros {
		all = append(all, m.Condition)
	}
	for _, l := range c.Lists {
		all = append(all, l.Items...)
	}
	n := 0
	for _, txt := range all {
		for _, loc := range reMarker.FindAllStringIndex(txt.Value, -1) {
			w := txt.Value[loc[0]:loc[1]]
			if w == "x41" || w == "u00e9" {
				continue
			}
			line, col := rawPos(t, string(data), w)
			if got := txt.Locate(loc[0]); got != (Pos{"locate.yaml", line, col}) {
				t.Errorf("%q at offset %d of %q: Locate = %v, want %d:%d", w, loc[0], txt.Value, got, line, col)
			}
			n++
		}
	}
	if n < 25 {
		t.Errorf("only %d markers checked", n)
	}
}

// Hand-checked positions for each style, including the first character (Pos), escapes and
// the end of the value.
func TestLocateStyles(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "locate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, errs, _ := Load([]File{{Name: "locate.yaml", Data: data}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	type check struct {
		macro  string
		value  string // expected decoded value (checks our reading of YAML folding)
		pos    Pos    // Text.Pos: first character
		substr string
		at     Pos
	}
	P := func(l, c int) Pos { return Pos{"locate.yaml", l, c} }
	checks := []check{
		{"plain_one", "evt.type = open and proc.name = bash1", P(2, 14), "proc.name", P(2, 34)},
		{"plain_multi", "evt.type = openat and proc.name = bash2 and  fd.name = tmp2\nand user.name = root2", P(5, 14), "and proc", P(6, 5)},
		// the fold between "bash2" (followed by trailing spaces) and the next line maps to the line end
		{"plain_multi", "", P(5, 14), " and  fd", P(6, 29)},
		{"dq", "proc.name = \"bash3\" and éx = y3 and fd.name = tmp3 and gid = AB and user.uid = zero3", P(12, 15), "\"bash3", P(12, 27)},
		{"dq", "", P(12, 15), "éx", P(12, 41)},     // \u00e9 escape: at the backslash
		{"dq", "", P(12, 15), "x = y3", P(12, 47)}, // just after the 6-character escape
		{"dq", "", P(12, 15), "AB", P(14, 15)},
		{"dq", "", P(12, 15), "B and", P(14, 19)},
		{"sq", "proc.name = 'bash4' and fd.name = tmp4", P(18, 15), "'bash4", P(18, 27)},
		{"sq", "", P(18, 15), "bash4' and", P(18, 29)},
		{"folded", "evt.type = open5 and proc.name = bash5\nand fd.name = tmp5\n  and more.indented = kept5\nand last = five5\n", P(23, 5), "evt", P(23, 5)},
		{"folded", "", P(23, 5), "  and more", P(27, 5)},
		{"literal", "evt.type = open6\n  and proc.name = bash6\n\nand fd.name = tmp6\n", P(32, 5), "  and proc", P(33, 5)},
		{"literal", "", P(32, 5), "\nand fd", P(34, 1)},
		{"literal_explicit", "   evt.type = open7\n and proc.name = bash7", P(39, 5), "evt", P(39, 8)},
		{"folded_strip", "évt.type = open8 and proc.name = bash8", P(44, 5), "vt.type", P(44, 6)},
		{"tagged", "evt.type = open9 and proc.name = bash9", P(48, 20), "evt", P(48, 20)},
	}
	for _, ck := range checks {
		m := c.Macro(ck.macro)
		if m == nil {
			t.Fatalf("macro %s missing", ck.macro)
		}
		txt := m.Condition
		if ck.value != "" && txt.Value != ck.value {
			t.Errorf("%s value %q, want %q", ck.macro, txt.Value, ck.value)
		}
		if txt.Pos != ck.pos || txt.Locate(0) != ck.pos {
			t.Errorf("%s Pos %v Locate(0) %v, want %v", ck.macro, txt.Pos, txt.Locate(0), ck.pos)
		}
		off := strings.Index(txt.Value, ck.substr)
		if off < 0 {
			t.Fatalf("%s: %q not in %q", ck.macro, ck.substr, txt.Value)
		}
		if got := txt.Locate(off); got != ck.at {
			t.Errorf("%s Locate(%q) = %v, want %v", ck.macro, ck.substr, got, ck.at)
		}
	}
	// end of value: just after the last character
	if got := c.Macro("plain_one").Condition.Locate(1 << 20); got != P(2, 51) {
		t.Errorf("end of plain_one = %v", got)
	}
	if got := c.Macro("sq").Condition.Locate(-5); got != P(18, 15) {
		t.Errorf("negative offset = %v", got)
	}
}

func TestLocateInMemoryText(t *testing.T) {
	txt := Text{Value: "a bc", Pos: Pos{"x", 3, 7}}
	if got := txt.Locate(2); got != (Pos{"x", 3, 9}) {
		t.Errorf("got %v", got)
	}
}

func TestConcatAndTrimText(t *testing.T) {
	c, errs, _ := Load([]File{
		{Name: "a", Data: []byte("- macro: m\n  condition: x = 1\n")},
		{Name: "b", Data: []byte("- macro: m\n  condition: |\n    or y = 2\n  append: true\n")},
		{Name: "c", Data: []byte("- macro: m\n  condition: or z = 3\n  override:\n    condition: append\n")},
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	txt := c.Macro("m").Condition
	if txt.Value != "x = 1 or y = 2\n or z = 3" {
		t.Fatalf("value %q", txt.Value)
	}
	for off, want := range map[int]Pos{
		0:  {"a", 2, 14},
		4:  {"a", 2, 18},
		5:  {"a", 2, 19}, // separator: end of the first piece
		6:  {"b", 3, 5},
		9:  {"b", 3, 8},
		15: {"b", 4, 1}, // separator after the literal's final newline: end of that piece
		16: {"c", 2, 14},
		19: {"c", 2, 17},
		24: {"c", 2, 22}, // end
	} {
		if got := txt.Locate(off); got != want {
			t.Errorf("Locate(%d %q) = %v, want %v", off, txt.Value[min(off, len(txt.Value)):], got, want)
		}
	}
	tr := trimText(Text{Value: "  ab  ", Pos: Pos{"f", 1, 1}})
	if tr.Value != "ab" {
		t.Errorf("trim %q", tr.Value)
	}
}
