package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run under CI (CI=true, as .ci/run sets).
func CI() bool { return os.Getenv("CI") == "true" }

// Unavailable stops a test that cannot run on this machine: it skips
// locally, so a developer without root or a tool still runs the rest, and
// fails under CI, where a skipped test would hide that nothing was tested.
func Unavailable(t testing.TB, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	if CI() {
		t.Fatalf("cannot run under CI: %s", msg)
	}
	t.Skip(msg)
}

// NeedTools stops the test (see Unavailable) unless every tool is on PATH.
func NeedTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Unavailable(t, "needs %s (make deps installs it)", tool)
		}
	}
}

// NeedRoot stops the test (see Unavailable) unless it runs as root, as
// network namespaces, chroots and nftables need.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root for %s", why)
	}
}

// SkipShort skips a test that go test -short asks to leave out (CI runs
// everything): the one other reason a test does not run.
func SkipShort(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip(why)
	}
}
