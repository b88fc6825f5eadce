//go:build checks

package checks

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// notPortable are the packages that need not build for macOS and Windows,
// each with why. Every other package must, with CGO_ENABLED=0, so that
// the viewer's pure-Go parts stay portable; a package whose files are all
// tagged for Linux (`//go:build linux`, *_linux.go) says so itself and
// needs no entry here.
var notPortable = map[string]string{
	"capture/cvsource":   "OpenCV (gocv, cgo)",
	"cmd/lsbroadcast-cv": "OpenCV (gocv, cgo)",
	"cmd/lsview":         "its window is OpenCV's highgui (gocv, cgo)",
	"device":             "the Pi appliance: systemd, V4L2 hotplug, capture/encode",
	"cmd/lsbroadcast":    "the Pi appliance's main: wires device",
	"cmd/lsbench":        "a Linux benchmark driver: network namespaces, /proc, capture/encode",
}

func TestPortableWithoutCgo(t *testing.T) {
	all := strings.Fields(goCmd(t, nil, "list", "./..."))
	known := map[string]bool{}
	for _, p := range all {
		known[rel(p)] = true
	}
	for p := range notPortable {
		if !known[p] {
			t.Errorf("notPortable names %s, which is no package of the module: remove it", p)
		}
	}
	for _, goos := range []string{"darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			env := []string{"GOOS=" + goos, "GOARCH=amd64", "CGO_ENABLED=0"}
			// Packages with no Go file for goos are tagged for Linux.
			out := goCmd(t, env, "list", "-e", "-f", "{{.ImportPath}} {{len .GoFiles}}", "./...")
			var build []string
			for line := range strings.Lines(out) {
				var p string
				var files int
				if _, err := fmt.Sscan(line, &p, &files); err != nil || files == 0 || notPortable[rel(p)] != "" {
					continue
				}
				build = append(build, p)
			}
			// Several packages: go build compiles them and keeps nothing.
			cmd := exec.Command("go", append([]string{"build"}, build...)...)
			cmd.Dir = moduleRoot(t)
			cmd.Env = append(cmd.Environ(), env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("GOOS=%s CGO_ENABLED=0 go build: %v\n%s\nEvery package not in notPortable (portable_test.go) must build here: "+
					"tag Linux-only files (_linux.go), or add the package to notPortable with the reason.", goos, err, out)
			}
		})
	}
}
