package loader

import "go.yaml.in/yaml/v3"

// exEntry is a decoded fields/comps/values entry: a scalar or a (possibly nested) sequence,
// like Falco's rule_exception_info::entry.
type exEntry struct {
	valid  bool
	isList bool
	item   Text
	items  []exEntry
	node   *yaml.Node
}

// exDecl is an exception as written in one item, before validation against a rule.
type exDecl struct {
	name   string
	node   *yaml.Node
	fields exEntry
	comps  exEntry
	values []exEntry
}

const maxExceptionDepth = 3

// entry decodes a scalar or a sequence of entries (what names the value in messages).
func (c *itemCtx) entry(n *yaml.Node, what string, depth int) exEntry {
	n = c.l.deref(n)
	if n == nil {
		c.bad = true
		return exEntry{}
	}
	e := exEntry{node: n}
	switch {
	case n.Kind == yaml.ScalarNode && !isNull(n):
		if n.Value == "" {
			c.errorf(n, what+" must be non-empty")
			return e
		}
		e.valid = true
		e.item = newText(c.l.f, n)
	case n.Kind == yaml.SequenceNode:
		if depth >= maxExceptionDepth {
			c.errorf(n, what+" is nested too deeply")
			return e
		}
		e.valid, e.isList = true, true
		for _, s := range n.Content {
			e.items = append(e.items, c.entry(s, what, depth+1))
		}
	case isNull(n):
		// Falco leaves such an entry undefined; callers report it where it matters
	default:
		c.errorf(n, what+" must be a string or a sequence")
	}
	return e
}

var exceptionKeys = set("name", "fields", "comps", "values")

// readExceptions decodes a rule's `exceptions`. In append mode fields are optional (only
// values may be appended to an existing exception).
func (c *itemCtx) readExceptions(m *mapping, appendMode bool) ([]exDecl, bool) {
	v := m.val["exceptions"]
	if isNull(v) {
		return nil, true
	}
	if v.Kind != yaml.SequenceNode {
		c.errorf(v, "Rule exceptions must be a sequence")
		return nil, false
	}
	before := c.bad
	c.bad = false
	var out []exDecl
	for _, e := range v.Content {
		e = c.l.deref(e)
		if e == nil {
			c.bad = true
			break
		}
		if e.Kind != yaml.MappingNode {
			c.errorf(e, "Rule exception must be a mapping")
			continue
		}
		em := c.asMapping(e)
		name, ok := c.str(em, "name", true)
		if !ok {
			continue
		}
		for _, k := range em.keys {
			if !exceptionKeys[k] {
				c.warnf(em.key[k], "Unknown key '"+k+"' in exception '"+name.Value+"'")
			}
		}
		for _, prev := range out {
			if prev.name == name.Value {
				c.warnf(e, "Multiple definitions of exception '"+name.Value+"' in the same rule")
			}
		}
		d := exDecl{name: name.Value, node: e}
		done := c.inException(name.Value)
		if f, ok := em.val["fields"]; ok {
			d.fields = c.entry(f, "Value for key 'fields'", 1)
		} else if !appendMode {
			c.errorf(e, "Item has no mapping for key 'fields'")
		}
		if f, ok := em.val["comps"]; ok {
			d.comps = c.entry(f, "Value for key 'comps'", 1)
		}
		if vals, ok := em.val["values"]; ok {
			if vals.Kind != yaml.SequenceNode {
				c.errorf(vals, "Rule exception values must be a sequence")
			} else {
				for _, val := range vals.Content {
					d.values = append(d.values, c.entry(val, "Exception value", 1))
				}
			}
		} else if appendMode {
			c.warnf(e, "Overriding/appending exception with no values")
		}
		done()
		out = append(out, d)
	}
	ok := !c.bad
	c.bad = c.bad || before
	return out, ok
}

// buildException validates an exception declaration as Falco's collector does and applies
// the comps defaults.
func (c *itemCtx) buildException(d *exDecl) (Exception, bool) {
	defer c.inException(d.name)()
	ex := Exception{Name: d.name, Pos: c.l.pos(d.node)}
	if !d.fields.valid {
		c.errorf(d.node, "Rule exception item must have fields property with a list of fields")
		return ex, false
	}
	if d.fields.isList {
		ex.FieldsIsList = true
		for _, f := range d.fields.items {
			if !f.valid || f.isList {
				c.errorf(f.node, "Exception fields must be a string or a list of strings")
				return ex, false
			}
			ex.Fields = append(ex.Fields, f.item.Value)
		}
		if !d.comps.valid {
			for range ex.Fields {
				ex.Comps = append(ex.Comps, "=")
			}
		} else {
			for _, cp := range d.comps.items {
				if !cp.valid || cp.isList {
					c.errorf(cp.node, "Exception comps must be a string or a list of strings")
					return ex, false
				}
				ex.Comps = append(ex.Comps, cp.item.Value)
			}
			if !d.comps.isList || len(ex.Comps) != len(ex.Fields) {
				c.errorf(d.node, "Fields and comps lists must have equal length")
				return ex, false
			}
		}
		for i, op := range ex.Comps {
			if !supportedOps[op] {
				n := d.node
				if d.comps.valid && i < len(d.comps.items) {
					n = d.comps.items[i].node
				}
				c.errorf(n, "'"+op+"' is not a supported comparison operator")
				return ex, false
			}
		}
	} else {
		ex.Fields = []string{d.fields.item.Value}
		op := "in"
		if d.comps.valid {
			if d.comps.isList {
				c.errorf(d.comps.node, "Fields and comps must both be strings")
				return ex, false
			}
			op = d.comps.item.Value
		}
		if op != "in" && op != "pmatch" && op != "intersects" {
			c.errorf(d.comps.node, "When fields is a single value, comps must be one of (in, pmatch, intersects)")
			return ex, false
		}
		ex.Comps = []string{op}
	}
	vals, ok := c.buildValues(d, ex.FieldsIsList, len(ex.Fields))
	ex.Values = vals
	return ex, ok
}

// buildValues validates the values of d against an exception of that shape.
func (c *itemCtx) buildValues(d *exDecl, fieldsIsList bool, nfields int) ([][]ExceptionValue, bool) {
	defer c.inException(d.name)()
	var out [][]ExceptionValue
	ok := true
	for _, v := range d.values {
		if !v.valid {
			c.errorf(v.node, "Exception value must be non-empty")
			ok = false
			continue
		}
		if !fieldsIsList {
			if v.isList {
				c.errorf(v.node, "Expected values array to contain a list of strings")
				ok = false
				continue
			}
			out = append(out, []ExceptionValue{{Text: v.item}})
			continue
		}
		if !v.isList || len(v.items) != nfields {
			c.errorf(v.node, "Fields and values lists must have equal length")
			ok = false
			continue
		}
		tuple := make([]ExceptionValue, 0, nfields)
		for _, e := range v.items {
			switch {
			case !e.valid:
				c.errorf(e.node, "Exception value must be non-empty")
				ok = false
			case !e.isList:
				tuple = append(tuple, ExceptionValue{Text: e.item})
			default:
				ev := ExceptionValue{Text: Text{Pos: c.l.pos(e.node)}, IsList: true}
				for _, s := range e.items {
					if !s.valid || s.isList {
						c.errorf(s.node, "Exception value lists must contain only strings")
						ok = false
						continue
					}
					ev.Items = append(ev.Items, s.item)
				}
				tuple = append(tuple, ev)
			}
		}
		out = append(out, tuple)
	}
	return out, ok
}
