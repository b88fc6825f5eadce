//go:build checks

package checks

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// goCmd runs the go command in the module's root with extra environment
// and returns its output; it fails the test when go does.
func goCmd(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// moduleRoot is the folder of go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// prefix starts the import path of every package of this module.
const prefix = testenv.Module + "/"

// rel is an import path of this module without the module's prefix.
func rel(importPath string) string { return strings.TrimPrefix(importPath, prefix) }
