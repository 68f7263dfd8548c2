package config

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// RulesPaths expands rules_files: files as given, directories to their *.yaml and *.yml
// files in name order. Missing entries are returned as warnings.
func (c *Config) RulesPaths() (paths, missing []string, err error) {
	for _, p := range c.RulesFiles {
		st, err := os.Stat(p)
		if err != nil {
			if os.IsNotExist(err) {
				missing = append(missing, p)
				continue
			}
			return nil, nil, err
		}
		if !st.IsDir() {
			paths = append(paths, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, nil, err
		}
		var names []string
		for _, e := range ents {
			if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			paths = append(paths, filepath.Join(p, n))
		}
	}
	return paths, missing, nil
}
