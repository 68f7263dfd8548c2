package state

// UsesFDParam reports whether events of code name the fd they use in a parameter: for the
// enter events of the others (an open's, a socket's), Context.FDNum is -1.
func UsesFDParam(code uint16) bool {
	return int(code) < len(codes) && codes[code].fdIdx >= 0
}
