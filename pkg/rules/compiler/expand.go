package compiler

import "github.com/saker-sec/saker/pkg/rules/ast"

// Expand returns a copy of e with every macro reference replaced by the macro's (expanded)
// condition in parentheses and every list name in a list operand replaced by the list's
// items, as `rules describe` shows a rule. Positions in the copy are meaningless.
func (env *Env) Expand(e ast.Expr) (ast.Expr, error) {
	c := &compiler{env: env}
	if env.usedMacros == nil {
		env.usedMacros = map[string]bool{}
		env.usedLists = map[string]bool{}
	}
	return c.expand(e)
}

func (c *compiler) expand(e ast.Expr) (ast.Expr, error) {
	switch n := e.(type) {
	case *ast.ParenExpr:
		x, err := c.expand(n.X)
		if err != nil {
			return nil, err
		}
		return &ast.ParenExpr{X: x}, nil
	case *ast.NotExpr:
		x, err := c.expand(n.X)
		if err != nil {
			return nil, err
		}
		return &ast.NotExpr{X: x}, nil
	case *ast.BinaryExpr:
		x, err := c.expand(n.X)
		if err != nil {
			return nil, err
		}
		y, err := c.expand(n.Y)
		if err != nil {
			return nil, err
		}
		return &ast.BinaryExpr{Op: n.Op, X: x, Y: y}, nil
	case *ast.MacroRef:
		m, ok := c.env.Macros[n.Name]
		if !ok {
			return nil, c.errf(n.NamePos, "undefined macro '%s'", n.Name)
		}
		for _, s := range c.stack {
			if s == n.Name {
				return nil, c.errf(n.NamePos, "macro cycle through '%s'", n.Name)
			}
		}
		c.env.usedMacros[n.Name] = true
		c.stack = append(c.stack, n.Name)
		saved := c.macro
		c.macro = n.Name
		x, err := c.expand(m.Expr)
		c.macro = saved
		c.stack = c.stack[:len(c.stack)-1]
		if err != nil {
			return nil, err
		}
		return &ast.ParenExpr{X: x}, nil
	case *ast.Compare:
		cp := *n
		switch v := n.Value.(type) {
		case *ast.ListLit, *ast.Literal:
			if lit, isLit := v.(*ast.Literal); isLit && !listOp(n.Op) {
				if _, named := c.env.Lists[lit.Value]; !named || lit.Quoted {
					break
				}
				vals, err := c.values(n.Op, v)
				if err != nil {
					return nil, err
				}
				cp.Value = &ast.Literal{Value: vals[0], Quoted: needsQuote(vals[0])}
				break
			}
			vals, err := c.values(n.Op, v)
			if err != nil {
				return nil, err
			}
			ll := &ast.ListLit{}
			for _, s := range vals {
				ll.Items = append(ll.Items, &ast.Literal{Value: s, Quoted: needsQuote(s)})
			}
			cp.Value = ll
		}
		return &cp, nil
	}
	return e, nil
}

func needsQuote(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '(', ')', ',', '"', '\'', '=', '<', '>', '!':
			return true
		}
	}
	return false
}
