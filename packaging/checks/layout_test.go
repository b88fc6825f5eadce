//go:build checks

package checks

import (
	"slices"
	"strings"
	"testing"
)

// The layout rule of DESIGN.md: data flows down, so the wire (netio/) and
// the frames (capture/) never reach up into the appliance (device/) or a
// command (cmd/). Test imports count too little to matter here and are
// left out: `go list -deps` without -test.
var (
	lower  = []string{"netio/", "capture/"}
	higher = []string{"device/", "cmd/"}
)

func under(p string, tops []string) bool {
	return slices.ContainsFunc(tops, func(top string) bool {
		return p == strings.TrimSuffix(top, "/") || strings.HasPrefix(p, top)
	})
}

func TestImportsGoDown(t *testing.T) {
	// Every package the module's lower packages need, each with its imports.
	out := goCmd(t, nil, "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./netio/...", "./capture/...")
	imports := map[string][]string{}
	var roots []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], prefix) {
			continue
		}
		p := rel(f[0])
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, prefix) {
				imports[p] = append(imports[p], rel(imp))
			}
		}
		if under(p, lower) {
			roots = append(roots, p)
		}
	}
	if len(roots) == 0 {
		t.Fatal("go list found no package under netio/ or capture/")
	}
	for _, root := range roots {
		if chain := upward(root, imports); chain != nil {
			t.Errorf("%s reaches up to %s: %s; netio/ and capture/ must not import device/ or cmd/",
				root, chain[len(chain)-1], strings.Join(chain, " imports "))
		}
	}
}

// upward is the shortest import chain from root to a package under
// device/ or cmd/, or nil; breadth first, so the chain is the shortest.
func upward(root string, imports map[string][]string) []string {
	from := map[string]string{root: ""}
	queue := []string{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if under(p, higher) {
			var chain []string
			for q := p; q != ""; q = from[q] {
				chain = append(chain, q)
			}
			slices.Reverse(chain)
			return chain
		}
		for _, imp := range imports[p] {
			if _, seen := from[imp]; !seen {
				from[imp] = p
				queue = append(queue, imp)
			}
		}
	}
	return nil
}

func TestUpwardNamesTheChain(t *testing.T) {
	imports := map[string][]string{
		"netio/chat":   {"netio", "device/store"},
		"device/store": {"device/atomicfile"},
		"capture/x":    {"capture"},
	}
	if got := upward("netio/chat", imports); !slices.Equal(got, []string{"netio/chat", "device/store"}) {
		t.Errorf("chain %v", got)
	}
	if got := upward("capture/x", imports); got != nil {
		t.Errorf("capture/x: chain %v, want none", got)
	}
}
