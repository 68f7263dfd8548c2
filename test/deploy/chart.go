package deploy

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/saker-sec/saker/internal/testshared"
)

// Release is the release name and namespace the plain manifests are rendered for.
const (
	ReleaseName      = "saker"
	ReleaseNamespace = "saker"
)

// Rendered is the chart rendered as `helm template` does: the manifests in template file order,
// and the objects they hold.
type Rendered struct {
	Text    string // every document, each after "---" and a "# Source:" line
	Objects []*unstructured.Unstructured
}

// Render renders deploy/helm/saker for release saker in namespace saker with values (YAML, over
// the chart's values.yaml; empty for the defaults).
func Render(values string) (*Rendered, error) {
	root, err := testshared.RepoRoot()
	if err != nil {
		return nil, err
	}
	ch, err := loader.Load(filepath.Join(root, "deploy", "helm", "saker"))
	if err != nil {
		return nil, err
	}
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		return nil, fmt.Errorf("values: %v", err)
	}
	rv, err := chartutil.ToRenderValues(ch, vals, chartutil.ReleaseOptions{Name: ReleaseName, Namespace: ReleaseNamespace,
		Revision: 1, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		if strings.HasSuffix(n, ".yaml") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	r := &Rendered{}
	var b strings.Builder
	for _, n := range names {
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(files[n], -1) {
			doc = strings.TrimSpace(doc)
			if doc == "" || strings.Trim(strings.TrimSpace(stripComments(doc)), "-") == "" {
				continue
			}
			fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", n, doc)
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				return nil, fmt.Errorf("%s: %v\n%s", n, err, doc)
			}
			r.Objects = append(r.Objects, &unstructured.Unstructured{Object: m})
		}
	}
	r.Text = b.String()
	return r, nil
}

func stripComments(doc string) string {
	var out []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Find returns the rendered object of kind and name (nil when there is none).
func (r *Rendered) Find(kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// generated are the values the chart makes at each render (the self-signed CA and certificate,
// the admission token): Normalize replaces them so that two renders compare equal.
var generated = regexp.MustCompile(`(?m)^(\s*(?:tls\.crt|tls\.key|ca\.crt|caBundle|token): )"[^"]*"$`)

// Placeholder stands for a generated value in the plain manifests.
const Placeholder = `"GENERATED-AT-INSTALL"`

// Normalize replaces the generated values of a rendering by Placeholder.
func Normalize(text string) string { return generated.ReplaceAllString(text, "${1}"+Placeholder) }
