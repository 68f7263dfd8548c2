package engine

import "github.com/saker-sec/saker/pkg/rules/loader"

// LoadFiles reads, collects and compiles rules files in order (later files append to,
// override or disable items of earlier ones). The ruleset is nil when there were errors.
func LoadFiles(paths []string, opts Options) (*Ruleset, []loader.Message, []loader.Message) {
	coll, errs, warns := loader.LoadFiles(paths...)
	return compileLoaded(coll, errs, warns, opts)
}

// Load is LoadFiles for rules held in memory.
func Load(files []loader.File, opts Options) (*Ruleset, []loader.Message, []loader.Message) {
	coll, errs, warns := loader.Load(files)
	return compileLoaded(coll, errs, warns, opts)
}

func compileLoaded(coll *loader.Collection, errs, warns []loader.Message, opts Options) (*Ruleset, []loader.Message, []loader.Message) {
	if coll == nil {
		return nil, errs, warns
	}
	rs, cerrs, cwarns := Compile(coll, opts)
	errs = append(errs, cerrs...)
	warns = append(warns, cwarns...)
	if len(errs) > 0 {
		return nil, errs, warns
	}
	return rs, nil, warns
}
