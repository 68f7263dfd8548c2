package compiler

import (
	"strings"
	"testing"
)

// FuzzContainsFoldASCII: the byte-wise icontains of an ASCII operand agrees with the
// strings.EqualFold one on any subject, UTF-8 or not.
func FuzzContainsFoldASCII(f *testing.F) {
	for _, s := range [][2]string{
		{"PATH=/bin HTTP_PROXY=x", "http_proxy"}, {"ſ\u212a", "sk"}, {"\u212aelvin", "kelvin"},
		{"abc", "abcd"}, {"xx\xffAB", "ab"}, {"", "a"}, {"GLIBC_TUNABLES=1", "GLIBC_TUNABLES"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if b == "" || !isASCII(b) {
			return
		}
		if got, want := containsFoldASCII(a, strings.ToLower(b)), containsFold(a, b); got != want {
			t.Fatalf("containsFoldASCII(%q, %q) = %v, containsFold %v", a, b, got, want)
		}
	})
}
