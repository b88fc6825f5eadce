package testenv

import (
	"testing"

	"github.com/lsbroadcast/lsbroadcast/packaging/netlab"
)

// NetPair is two network namespaces joined by veth (see netlab), removed
// when the test ends, failed or not. It needs root and ip, nft and tc.
func NetPair(t testing.TB) *netlab.Pair {
	t.Helper()
	NeedRoot(t, "network namespaces")
	NeedTools(t, "ip", "nft", "tc")
	p, err := netlab.New("lsbt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Remove)
	return p
}
