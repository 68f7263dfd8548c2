package loader

import (
	"strconv"
	"strings"
)

// EngineVersion is the Falco rules engine version Saker implements: rules files whose
// required_engine_version is greater (or has another major version) are rejected, as Falco
// does. 0.57.0 is what the upstream rules files in shared/falco-rules require.
const EngineVersion = "0.57.0"

// semver is a parsed "x.y.z" version.
type semver struct{ major, minor, patch uint64 }

// parseSemver parses "x.y.z", tolerating a "-pre" or "+build" suffix after the patch number.
func parseSemver(s string) (semver, bool) {
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return semver{}, false
	}
	var n [3]uint64
	for i, p := range parts {
		if p == "" {
			return semver{}, false
		}
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return semver{}, false
		}
		n[i] = v
	}
	return semver{n[0], n[1], n[2]}, true
}

func (a semver) less(b semver) bool {
	if a.major != b.major {
		return a.major < b.major
	}
	if a.minor != b.minor {
		return a.minor < b.minor
	}
	return a.patch < b.patch
}

func (a semver) String() string {
	return strconv.FormatUint(a.major, 10) + "." + strconv.FormatUint(a.minor, 10) + "." + strconv.FormatUint(a.patch, 10)
}

// compatibleWith reports whether an engine of version a can load rules requiring r: same
// major version and a >= r (libsinsp's sinsp_version::compatible_with).
func (a semver) compatibleWith(r semver) bool {
	return a.major == r.major && !a.less(r)
}

var engineSemver, _ = parseSemver(EngineVersion)
