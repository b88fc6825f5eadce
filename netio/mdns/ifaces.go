// Package mdns announces a broadcaster on the local network and finds
// broadcasters there, with multicast DNS service discovery (RFC 6762/6763)
// on grandcat/zeroconf. A broadcaster is announced twice: as _lsview._tcp on
// its chat port, with a TXT record lsview reads, and as _rtsp._tcp on its
// RTSP port so any RTSP-aware tool finds the camera. It knows nothing of
// cameras or chat: it is handed ports and numbers.
package mdns

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Interfaces is where mDNS runs, as the --mdns flag says: all multicast
// interfaces, none, or the named ones.
type Interfaces struct {
	Off   bool
	Names []string // empty with Off false means all
}

// ParseInterfaces reads the --mdns value: "all", "off" or IFACE[,IFACE].
func ParseInterfaces(s string) (Interfaces, error) {
	switch s {
	case "all":
		return Interfaces{}, nil
	case "off":
		return Interfaces{Off: true}, nil
	case "":
		return Interfaces{}, errors.New(`empty mdns value: want all, off or IFACE[,IFACE]`)
	}
	var names []string
	seen := map[string]bool{}
	for n := range strings.SplitSeq(s, ",") {
		if !validIfaceName(n) {
			return Interfaces{}, fmt.Errorf("mdns value %q: %q is no interface name (want all, off or IFACE[,IFACE])", s, n)
		}
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return Interfaces{Names: names}, nil
}

// validIfaceName follows Linux's rules (dev_valid_name): 1 to 15 bytes,
// not . or .., no slash, colon or white space.
func validIfaceName(n string) bool {
	if n == "" || len(n) > 15 || n == "." || n == ".." || n == "all" || n == "off" {
		return false
	}
	for _, r := range n {
		if r <= ' ' || r == '/' || r == ':' || r == ',' || r > '~' {
			return false
		}
	}
	return true
}

// String gives the value back as the flag takes it.
func (i Interfaces) String() string {
	switch {
	case i.Off:
		return "off"
	case len(i.Names) == 0:
		return "all"
	}
	return strings.Join(i.Names, ",")
}

// Resolve finds the interfaces to use: the named ones, which must exist,
// be up and do multicast; or, for all, every such interface except
// loopback. Off resolves to none.
func (i Interfaces) Resolve() ([]net.Interface, error) {
	if i.Off {
		return nil, nil
	}
	if len(i.Names) == 0 {
		all, err := net.Interfaces()
		if err != nil {
			return nil, fmt.Errorf("list interfaces: %w", err)
		}
		var out []net.Interface
		for _, ifi := range all {
			if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 && ifi.Flags&net.FlagLoopback == 0 {
				out = append(out, ifi)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("no interface is up with multicast")
		}
		return out, nil
	}
	out := make([]net.Interface, 0, len(i.Names))
	for _, n := range i.Names {
		ifi, err := net.InterfaceByName(n)
		if err != nil {
			return nil, fmt.Errorf("mdns interface %s: %w", n, err)
		}
		if ifi.Flags&net.FlagUp == 0 {
			return nil, fmt.Errorf("mdns interface %s is down", n)
		}
		if ifi.Flags&net.FlagMulticast == 0 {
			return nil, fmt.Errorf("mdns interface %s does not do multicast", n)
		}
		out = append(out, *ifi)
	}
	return out, nil
}

// names lists interface names for messages.
func names(ifs []net.Interface) string {
	n := make([]string, len(ifs))
	for i, ifi := range ifs {
		n[i] = ifi.Name
	}
	return strings.Join(n, ",")
}
