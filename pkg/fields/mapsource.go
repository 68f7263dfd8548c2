package fields

// MapEvent is an event given as field values, keyed by field name with its argument in
// brackets ("proc.name", "proc.aname[2]", "evt.arg[flags]").
type MapEvent map[string]Value

// MapSource is a Source whose events are MapEvents: a catalogue's fields read from the map.
// It serves tests of the rule language and rule tests that describe events by their fields.
type MapSource struct {
	CatalogSource
	Extra map[string]Info // fields beyond the catalogue
}

// Field looks a field up in Extra, then in the catalogue.
func (s *MapSource) Field(name string) (Info, bool) {
	if f, ok := s.Extra[name]; ok {
		return f, true
	}
	return s.Catalog.Field(name)
}

// Extractor reads the field (with its argument) from a MapEvent.
func (s *MapSource) Extractor(info Info, arg string) (Extractor, error) {
	key := info.Name
	if arg != "" {
		key += "[" + arg + "]"
	}
	return func(ev Event) (Value, bool) {
		m, ok := ev.(MapEvent)
		if !ok {
			return Value{}, false
		}
		v, ok := m[key]
		return v, ok
	}, nil
}
