package fields

// CatalogSource is a Source that knows a catalogue and event types but extracts nothing: the
// rule compiler can type-check and index rules against it (e.g. `saker rules validate` for a
// source whose events this process will not read), and every field is absent at evaluation.
type CatalogSource struct {
	SourceName string
	Catalog    *Catalog
	Codes      func(evtType string) ([]uint16, bool)
	NumCodes   int
}

func (s *CatalogSource) Name() string                              { return s.SourceName }
func (s *CatalogSource) Field(name string) (Info, bool)            { return s.Catalog.Field(name) }
func (s *CatalogSource) Extractor(Info, string) (Extractor, error) { return nil, nil }
func (s *CatalogSource) NumEventCodes() int                        { return s.NumCodes }
func (s *CatalogSource) EventCodes(t string) ([]uint16, bool) {
	if s.Codes == nil {
		return nil, false
	}
	return s.Codes(t)
}
