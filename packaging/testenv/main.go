package testenv

import (
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Module is this module's path; Build takes command folders relative to it.
const Module = "github.com/lsbroadcast/lsbroadcast"

// Children names the roles a test binary can re-execute itself as (a
// server to kill -9, a farm of readers whose CPU is not the server's, an
// advertiser inside a network namespace): when the environment variable
// named by a key is set, Main runs that function with the variable's value
// instead of the tests, and the process exits with what it returns.
type Children map[string]func(value string) int

// Child is a command that runs this test binary as the child role env
// (a key of the Children given to Main) with value.
func Child(env, value string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), env+"="+value)
	return cmd
}

// built is what Build made for this test binary; Main removes it.
var built struct {
	sync.Mutex
	main bool              // Main runs the tests
	dir  string            // where every command was built
	bins map[string]string // command folder → binary
}

// Main is a TestMain: it runs the child a variable of children names, or
// else the tests, and then removes the binaries Build made.
func Main(m *testing.M, children Children) {
	for env, child := range children {
		if v := os.Getenv(env); v != "" {
			os.Exit(child(v))
		}
	}
	built.Lock()
	built.main = true
	built.Unlock()
	code := m.Run()
	built.Lock()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	built.Unlock()
	os.Exit(code)
}

// Build builds the module's commands (folders such as "cmd/lsview") once
// per test binary and returns their paths, in order. They all go into one
// directory, so a command finds its helper beside it (lsbroadcast looks
// for lsbroadcast-cv there). The package's TestMain must call Main, which
// removes them when the tests end.
func Build(t testing.TB, cmds ...string) []string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if !built.main {
		t.Fatal("testenv.Build: the package's TestMain must call testenv.Main, which removes what Build makes")
	}
	if built.dir == "" {
		dir, err := os.MkdirTemp("", "lsbroadcast-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		built.dir, built.bins = dir, map[string]string{}
	}
	var missing []string
	for _, c := range cmds {
		if _, ok := built.bins[c]; !ok {
			missing = append(missing, Module+"/"+c)
		}
	}
	if len(missing) > 0 {
		args := append([]string{"build", "-o", built.dir + string(filepath.Separator)}, missing...)
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", strings.Join(missing, " "), err, out)
		}
		for _, c := range cmds {
			built.bins[c] = filepath.Join(built.dir, exe(path.Base(c)))
		}
	}
	paths := make([]string, len(cmds))
	for i, c := range cmds {
		paths[i] = built.bins[c]
	}
	return paths
}

// exe is the file name go build gives command name on this system.
func exe(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}
