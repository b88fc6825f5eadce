// Package version says which build of lsbroadcast and lsview is running,
// for their --version.
package version

import (
	"cmp"
	"runtime/debug"
	"strings"
)

// release is the version a package build stamps in, with
//
//	-ldflags "-X github.com/lsbroadcast/lsbroadcast/cmd/internal/version.release=1.2.3"
//
// (packaging/deb/build.sh does). Empty in a plain go build, which falls
// back on what the Go toolchain recorded.
var release string

// String is the version, e.g. "0.1.0+git42 (rev 0123456789ab)", or
// "(devel) (rev 0123456789ab, modified)" for a build from a work tree, or
// "unknown" when the binary carries no build information.
func String() string {
	v := release
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return cmp.Or(v, "unknown")
	}
	v = cmp.Or(v, bi.Main.Version, "unknown")
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return v
	}
	extra := []string{"rev " + rev[:min(12, len(rev))]}
	if modified == "true" {
		extra = append(extra, "modified")
	}
	return v + " (" + strings.Join(extra, ", ") + ")"
}
