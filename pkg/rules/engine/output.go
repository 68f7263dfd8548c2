package engine

import (
	"strings"
	"unicode/utf8"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

// Output is a compiled output template: literal text and bound fields.
type Output struct {
	Template string
	parts    []outPart
	// Fields lists the distinct fields of the template by the name written ("proc.aname[2]"),
	// the keys of an alert's output_fields.
	Fields []string
}

type outPart struct {
	text  string
	name  string // field as written; "" for literal text
	ext   fields.Extractor
	typ   fields.Type
	list  bool
	width int // minimum width (`%10proc.name`), padded on the left like printf
}

type outputError struct {
	offset  int
	msg     string
	unknown bool // the template names a field the source does not have
}

// containerInfo is Falco's legacy output token, rendered as containerInfoFormat (what Falco
// printed for it before its container plugin: the container's name and id).
const (
	containerInfo       = "%container.info"
	containerInfoFormat = "%container.name (id=%container.id)"
)

func (e *outputError) Error() string { return e.msg }

// CompileOutput parses and binds a Falco output template against a source.
func CompileOutput(tmpl string, src fields.Source) (*Output, error) {
	return compileOutput(tmpl, src)
}

func compileOutput(tmpl string, src fields.Source) (*Output, error) {
	parts, err := parser.ParseOutput(tmpl)
	if err != nil {
		if pe, ok := err.(*parser.Error); ok {
			return nil, &outputError{offset: pe.Offset, msg: "invalid output: " + pe.Msg}
		}
		return nil, err
	}
	o := &Output{Template: tmpl}
	seen := map[string]bool{}
	if legacy, err := parser.ParseOutput(containerInfoFormat); err == nil {
		var out []parser.OutputPart
		for _, p := range parts {
			if f := p.Field; f != nil && f.Name == "container.info" && !f.HasArg && len(f.Transformers) == 0 {
				if _, known := src.Field("container.info"); !known {
					for _, q := range legacy {
						if q.Field != nil {
							q.Field.From, q.Field.To, q.Field.NamePos = f.From, f.To, f.NamePos // errors point at %container.info
						}
						out = append(out, q)
					}
					continue
				}
			}
			out = append(out, p)
		}
		parts = out
	}
	for _, p := range parts {
		if p.Field == nil {
			o.parts = append(o.parts, outPart{text: p.Text})
			continue
		}
		ext, typ, list, err := compiler.BindField(src, p.Field)
		if err != nil {
			msg := err.Error()
			unknown := false
			if ce, ok := err.(*compiler.Error); ok {
				msg = ce.Msg
				unknown = strings.HasPrefix(ce.Msg, "unknown field")
			}
			return nil, &outputError{offset: p.Field.Pos(), msg: "invalid output: " + msg, unknown: unknown}
		}
		name := p.Text
		o.parts = append(o.parts, outPart{name: name, ext: ext, typ: typ, list: list, width: p.Width})
		if !seen[name] {
			seen[name] = true
			o.Fields = append(o.Fields, name)
		}
	}
	return o, nil
}

// Render formats the template for an event; values holds each field's value for
// output_fields (nil when absent), keyed by the field as written.
func (o *Output) Render(ev fields.Event, values map[string]any) string {
	var b strings.Builder
	for _, p := range o.parts {
		if p.name == "" {
			b.WriteString(p.text)
			continue
		}
		var v fields.Value
		ok := false
		if p.ext != nil {
			v, ok = p.ext(ev)
		}
		if !ok {
			b.WriteString(fields.NA)
			if values != nil {
				values[p.name] = nil
			}
			continue
		}
		text := fields.Format(p.typ, p.list, v)
		for n := utf8.RuneCountInString(text); n < p.width; n++ {
			b.WriteByte(' ')
		}
		b.WriteString(text)
		if values != nil {
			values[p.name] = fields.JSON(p.typ, p.list, v)
		}
	}
	return b.String()
}
