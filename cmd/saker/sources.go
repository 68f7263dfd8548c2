package main

import (
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/incident"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/sysfields"
)

// ruleSources returns the event sources rules are checked against (validate, list, describe):
// the same catalogues as the detection pipeline's sources.
func ruleSources(_ any) map[string]fields.Source {
	return map[string]fields.Source{
		"syscall": incident.NewFieldSource(&fields.CatalogSource{SourceName: "syscall", Catalog: sysfields.Catalog(),
			Codes: syscallCodes, NumCodes: event.NumEvents}, nil), // with the incident.* fields
		"k8s_audit": k8saudit.NewFieldSource(),
		"k8s_admission": &fields.CatalogSource{SourceName: "k8s_admission", Catalog: fields.K8sAuditCatalog(),
			Codes: func(string) ([]uint16, bool) { return nil, false }, NumCodes: 1},
	}
}

func syscallCodes(name string) ([]uint16, bool) {
	c := event.ByName(name)
	return c, len(c) > 0
}

func eventTypeName(source string, code uint16) string {
	if source == "syscall" && int(code) < len(event.Table) {
		return event.Table[code].Name
	}
	return source
}
