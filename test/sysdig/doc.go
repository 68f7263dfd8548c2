// Package sysdig holds the all-fields differential test against Debian's sysdig 0.29.3: for
// every field of sysdig 0.29's field list that Saker serves and every shared capture, the
// events printed with the field and the events a filter on the field selects must be byte for
// byte what sysdig gives, except for the divergences listed (with their reason) in the test,
// each of which must still differ. It builds the saker binary and runs `saker events
// --sysdig-029`; sysdig's outputs are cached per run in a temporary directory.
package sysdig
