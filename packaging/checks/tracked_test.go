//go:build checks

package checks

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// maxTracked is the largest file git may track: source, docs and small
// fixtures are far below it; a built binary or a recording is not.
const maxTracked = 2 << 20

// bigAllowed are the folders whose files may be larger: the plots that
// `make bench` writes for BENCHMARKS.md.
var bigAllowed = []string{"packaging/bench-plots/"}

func TestNothingBuiltIsTracked(t *testing.T) {
	root := moduleRoot(t)
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		testenv.Unavailable(t, "git ls-files in %s: %v (not a git checkout?)", root, err)
	}
	elf := []byte("\x7fELF")
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		f, err := os.Open(filepath.Join(root, name))
		if err != nil {
			continue // deleted in the work tree, not yet in the index
		}
		head := make([]byte, len(elf))
		n, _ := io.ReadFull(f, head)
		st, err := f.Stat()
		f.Close()
		if err != nil || st.IsDir() { // a submodule
			continue
		}
		if bytes.Equal(head[:n], elf) {
			t.Errorf("%s is an ELF binary: git rm --cached it and ignore it in .gitignore", name)
		}
		if st.Size() > maxTracked && !isUnder(name, bigAllowed) {
			t.Errorf("%s is %.1f MB, over %d MB: keep built or recorded files out of git", name, float64(st.Size())/(1<<20), maxTracked>>20)
		}
	}
}

func isUnder(name string, folders []string) bool {
	for _, f := range folders {
		if strings.HasPrefix(name, f) {
			return true
		}
	}
	return false
}
