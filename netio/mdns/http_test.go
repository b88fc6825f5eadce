package mdns

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/mdns/mdnstest"
)

// TestHTTPAvahi: with a web viewer, avahi-browse lists _http._tcp on its
// port with path=/, as any Bonjour or Avahi browser would show the page.
func TestHTTPAvahi(t *testing.T) {
	p := mdnstest.NewPair(t)
	avahi := mdnstest.StartAvahi(t, p.Pi, p.PiIf)
	svc := testService("Porch cam")
	svc.HTTPPort = 8080
	startHelper(t, p.Pi, "advertise", p.PiIf, svc)

	var resolved string
	var out []byte
	for try := 0; try < 5 && resolved == ""; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		out, _ = avahi.Command(ctx, "avahi-browse", "-rpt", HTTPType).CombinedOutput()
		cancel()
		for l := range strings.SplitSeq(string(out), "\n") {
			if strings.HasPrefix(l, "=") && strings.Contains(l, `Porch\032cam`) {
				resolved = l
			}
		}
	}
	if resolved == "" {
		t.Fatalf("avahi-browse did not resolve our _http._tcp service; it said:\n%s", out)
	}
	f := strings.Split(resolved, ";")
	// =;iface;proto;name;type;domain;host;address;port;txt
	if len(f) < 10 || f[7] != p.PiAddr || f[8] != "8080" || !strings.Contains(f[9], `"path=/"`) {
		t.Errorf("avahi resolved %q", resolved)
	}
}

func TestHTTPTXT(t *testing.T) {
	svc := testService("x")
	if txt := httpTXT(*svc); len(txt) != 2 || txt[0] != "path=/" || txt[1] != "id="+svc.Instance {
		t.Errorf("httpTXT = %q", txt)
	}
	svc.HTTPPort = 70000
	if validate(*svc) == nil {
		t.Error("http port 70000 accepted")
	}
}
