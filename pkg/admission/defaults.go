package admission

import (
	_ "embed"

	"github.com/saker-sec/saker/pkg/rules/loader"
)

//go:embed default_rules.yaml
var defaultRules []byte

// DefaultRulesName is the name the built-in admission rules load under.
const DefaultRulesName = "saker_admission.yaml"

// DefaultRules returns the built-in admission rules file (privileged containers, sensitive
// hostPath mounts, root pods in the host PID namespace and, disabled until configured,
// unapproved image repositories are denied; exec is alerted).
func DefaultRules() loader.File { return loader.File{Name: DefaultRulesName, Data: defaultRules} }
