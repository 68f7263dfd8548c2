package main

import (
	"encoding/json"
	"fmt"
	"github.com/saker-sec/saker/pkg/enforce"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/rules/parser"
	defaultrules "github.com/saker-sec/saker/rules"
)

func init() {
	rules := &cobra.Command{Use: "rules", Short: "Validate, list and describe Falco-language rules files"}
	var files []string
	var asJSON bool

	validate := &cobra.Command{
		Use:   "validate [-r FILE...]",
		Short: "Check rules files; print every error as FILE:LINE:COL: message",
		RunE: func(cmd *cobra.Command, args []string) error {
			_, ok := loadRules(cmd, append(files, args...), true)
			if !ok {
				return exitError{1}
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list [-r FILE...] [--json]",
		Short: "List the enabled rules: name, priority, source, tags",
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, ok := loadRules(cmd, append(files, args...), false)
			if !ok {
				return exitError{1}
			}
			return listRules(cmd.OutOrStdout(), rs, asJSON)
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	describe := &cobra.Command{
		Use:   "describe [-r FILE...] NAME",
		Short: "Show a rule with its macros and lists expanded",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, ok := loadRules(cmd, files, false)
			if !ok {
				return exitError{1}
			}
			return describeRule(cmd.OutOrStdout(), rs, args[0])
		},
	}
	for _, c := range []*cobra.Command{validate, list, describe} {
		c.Flags().StringArrayVarP(&files, "rules", "r", nil, "rules file (repeatable; loaded in order); none: the built-in rules")
		rules.AddCommand(c)
	}
	rootCmd.AddCommand(rules)
}

// loadRules loads and compiles rules files (none: the built-in rules), printing errors (and,
// when verbose, warnings) to stderr. It returns false when there were errors.
func loadRules(cmd *cobra.Command, paths []string, verbose bool) (*engine.Ruleset, bool) {
	stderr := cmd.ErrOrStderr()
	var rs *engine.Ruleset
	var errs, warns []loader.Message
	if len(paths) == 0 { // the built-in rules, as `saker run` without -r
		rs, errs, warns = engine.Load(defaultrules.Files(), engine.Options{Sources: ruleSources(nil)})
	} else {
		rs, errs, warns = engine.LoadFiles(paths, engine.Options{Sources: ruleSources(nil)})
	}
	if verbose {
		for _, w := range warns {
			fmt.Fprintf(stderr, "%s: warning: %s\n", w.Pos, messageText(w))
		}
	}
	for _, e := range errs {
		fmt.Fprintf(stderr, "%s: %s\n", e.Pos, messageText(e))
	}
	if rs != nil && len(errs) == 0 {
		if _, err := enforce.Compile(rs); err != nil { // `enforce: kill` conditions the kernel cannot run
			fmt.Fprintf(stderr, "%v\n", err)
			return rs, false
		}
	}
	return rs, len(errs) == 0
}

func messageText(m loader.Message) string {
	if m.Item != "" {
		return m.Msg + " (" + m.Item + ")"
	}
	return m.Msg
}

type ruleJSON struct {
	Name     string   `json:"name"`
	Priority string   `json:"priority"`
	Source   string   `json:"source"`
	Tags     []string `json:"tags"`
}

func listRules(w io.Writer, rs *engine.Ruleset, asJSON bool) error {
	var out []ruleJSON
	for _, r := range rs.Enabled() {
		tags := r.Tags
		if tags == nil {
			tags = []string{}
		}
		out = append(out, ruleJSON{r.Name, r.Priority.String(), r.Source, tags})
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if out == nil {
			out = []ruleJSON{}
		}
		return enc.Encode(out)
	}
	for _, r := range out {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Name, r.Priority, r.Source, strings.Join(r.Tags, ","))
	}
	return nil
}

func describeRule(w io.Writer, rs *engine.Ruleset, name string) error {
	for _, r := range rs.Rules {
		if r.Name != name {
			continue
		}
		e, err := parser.ParseCondition(r.Def.Condition.Value)
		if err != nil {
			return err
		}
		env := &compiler.Env{Macros: rs.Macros, Lists: rs.Lists}
		x, err := env.Expand(e)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "rule: %s\n", r.Name)
		fmt.Fprintf(w, "desc: %s\n", strings.TrimSpace(r.Desc))
		fmt.Fprintf(w, "priority: %s\nsource: %s\nenabled: %v\n", r.Priority, r.Source, r.Enabled)
		fmt.Fprintf(w, "tags: [%s]\n", strings.Join(r.Tags, ", "))
		fmt.Fprintf(w, "condition: %s\n", ast.Print(x))
		for _, ex := range r.Def.Exceptions {
			fmt.Fprintf(w, "exception: %s (fields: %s)\n", ex.Name, strings.Join(ex.Fields, ", "))
		}
		fmt.Fprintf(w, "output: %s\n", strings.TrimSpace(r.Output.Template))
		if r.AllTypes {
			fmt.Fprintln(w, "event types: all")
		} else {
			names := map[string]bool{}
			for _, c := range r.EventTypes {
				names[eventTypeName(r.Source, c)] = true
			}
			var list []string
			for n := range names {
				list = append(list, n)
			}
			sort.Strings(list)
			fmt.Fprintf(w, "event types: %s\n", strings.Join(list, " "))
		}
		return nil
	}
	return fmt.Errorf("no rule named %q", name)
}
