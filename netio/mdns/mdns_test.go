package mdns

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns/mdnstest"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// The test binary doubles as the advertiser and the browser that run
// inside the namespaces: TestMain turns into one when this variable names it.
const helperEnv = "LSVIEW_MDNS_HELPER"

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Children{helperEnv: func(mode string) int {
		switch mode {
		case "advertise":
			return helperAdvertise()
		case "browse":
			return helperBrowse()
		}
		fmt.Fprintf(os.Stderr, "no helper %q\n", mode)
		return 2
	}})
}

func helperContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}

// helperAdvertise announces the stream in $LSVIEW_MDNS_SERVICE, takes
// "viewers N" lines on stdin, and says goodbye on SIGTERM or end of stdin.
func helperAdvertise() int {
	ctx, cancel := helperContext()
	defer cancel()
	var svc netio.Stream
	if err := json.Unmarshal([]byte(os.Getenv("LSVIEW_MDNS_SERVICE")), &svc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ifs, err := ParseInterfaces(os.Getenv("LSVIEW_MDNS_IFACES"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var viewers atomic.Int64
	a := &Advertiser{Interfaces: ifs, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Stream: func() netio.Stream {
			s := svc
			s.Viewers = int(viewers.Load())
			return s
		}}
	if err := a.Listen(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx) }()
	fmt.Println("ready")
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			<-served
			return 0
		case l, ok := <-lines:
			if !ok {
				cancel()
				<-served
				return 0
			}
			if n, found := strings.CutPrefix(l, "viewers "); found {
				v, _ := strconv.Atoi(n)
				viewers.Store(int64(v))
				fmt.Println("updated")
			}
		}
	}
}

// helperBrowse prints every event as a JSON line until SIGTERM.
func helperBrowse() int {
	ctx, cancel := helperContext()
	defer cancel()
	ifs, err := ParseInterfaces(os.Getenv("LSVIEW_MDNS_IFACES"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	enc := json.NewEncoder(os.Stdout)
	b := &Browser{Interfaces: ifs}
	err = b.Run(ctx, func(e Event) {
		enc.Encode(jsonEvent{Kind: e.Kind.String(), Entry: e.Entry})
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

type jsonEvent struct {
	Kind  string `json:"kind"`
	Entry Entry  `json:"entry"`
	at    time.Time
}

// helper is a child test binary running in a namespace.
type helper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // stdout, one line each
	unread []string    // lines read but not yet matched, oldest first
	stderr *testenv.SyncBuffer
	done   chan struct{}
}

func startHelper(t testing.TB, ns, mode, ifaces string, svc *netio.Stream) *helper {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := mdnstest.Command(ctx, ns, exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "LSVIEW_MDNS_IFACES="+ifaces)
	if svc != nil {
		js, _ := json.Marshal(svc)
		cmd.Env = append(cmd.Env, "LSVIEW_MDNS_SERVICE="+string(js))
	}
	h := &helper{cmd: cmd, lines: make(chan string, 256), stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = h.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if h.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case h.lines <- sc.Text():
			default: // a test that stopped reading doesn't block the child
			}
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		h.stop()
		cancel()
		<-h.done
		if t.Failed() {
			t.Logf("%s helper stderr:\n%s", mode, h.stderr.String())
		}
	})
	return h
}

// stop asks the child to end (SIGTERM reaches it through ip netns exec,
// which execs it) and waits at most 5 s.
func (h *helper) stop() {
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(5 * time.Second):
		h.cmd.Process.Kill()
	}
}

func (h *helper) line(t testing.TB, within time.Duration, want func(string) bool) string {
	t.Helper()
	for i, l := range h.unread {
		if want(l) {
			h.unread = slices.Delete(h.unread, i, i+1)
			return l
		}
	}
	deadline := time.After(within)
	for {
		select {
		case l := <-h.lines:
			if want(l) {
				return l
			}
			h.unread = append(h.unread, l)
		case <-h.done:
			t.Fatalf("helper exited: %s", h.stderr.String())
		case <-deadline:
			t.Fatalf("no matching line within %v", within)
		}
	}
}

// event waits for an event of kind about the named instance of typ.
func (h *helper) event(t testing.TB, within time.Duration, kind EventKind, typ, name string, also func(Entry) bool) jsonEvent {
	t.Helper()
	var ev jsonEvent
	h.line(t, within, func(l string) bool {
		ev = jsonEvent{}
		if json.Unmarshal([]byte(l), &ev) != nil {
			return false
		}
		return ev.Kind == kind.String() && ev.Entry.Type == typ && ev.Entry.Instance == name && (also == nil || also(ev.Entry))
	})
	ev.at = time.Now()
	return ev
}

func testService(name string) *netio.Stream {
	return &netio.Stream{Name: name, Instance: "0123456789abcdef", ChatPort: 4000, Proto: 1,
		RTSPPort: 8554, RTSPPath: "/live", Width: 1280, Height: 720, FPS: 30, Codec: "jpeg", Viewers: 0,
		Renditions: []netio.Rendition{{Name: netio.Half, Path: "/live/half", Width: 640, Height: 360},
			{Name: netio.Quarter, Path: "/live/quarter", Width: 320, Height: 184}}}
}

func TestDiscoveryAcrossNamespaces(t *testing.T) {
	p := mdnstest.NewPair(t)
	browser := startHelper(t, p.Laptop, "browse", "all", nil)
	// Give the browser a moment to join the group, as a picker already open would be.
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	svc := testService("Kitchen cam ünïcode")
	adv := startHelper(t, p.Pi, "advertise", p.PiIf, svc)
	ev := browser.event(t, 10*time.Second, Appeared, LsviewType, svc.Name, nil)
	t.Logf("appeared %v after the advertiser started", ev.at.Sub(start).Round(time.Millisecond))
	e := ev.Entry
	if !slices.ContainsFunc(e.Addrs, func(ip net.IP) bool { return ip.String() == p.PiAddr }) || e.Port != svc.ChatPort {
		t.Errorf("entry %+v: want address %s port %d", e, p.PiAddr, svc.ChatPort)
	}
	want := map[string]string{KeyProto: "1", KeyRTSPPort: "8554", KeyRTSPPath: "/live", KeySize: "1280x720",
		KeyFPS: "30", KeyCodec: "jpeg", KeyViewers: "0", KeyID: svc.Instance, KeyLadder: "half:640x360,quarter:320x184"}
	for k, v := range want {
		if e.TXT[k] != v {
			t.Errorf("TXT %s=%q, want %q (all: %v)", k, e.TXT[k], v, e.TXT)
		}
	}
	if got := e.Renditions(); !slices.Equal(got, svc.Renditions) {
		t.Errorf("renditions %+v, want %+v", got, svc.Renditions)
	}
	if got, url := e.RTSPURL(), "rtsp://"+p.PiAddr+":8554/live"; got != url {
		t.Errorf("RTSPURL %q, want %q", got, url)
	}
	rt := browser.event(t, 5*time.Second, Appeared, RTSPType, svc.Name, nil)
	if rt.Entry.Port != svc.RTSPPort || rt.Entry.TXT[KeyPath] != "/live" || rt.Entry.TXT[KeyID] != svc.Instance {
		t.Errorf("rtsp entry %+v", rt.Entry)
	}

	fmt.Fprintln(adv.stdin, "viewers 3")
	browser.event(t, 10*time.Second, Changed, LsviewType, svc.Name, func(e Entry) bool { return e.TXT[KeyViewers] == "3" })

	stop := time.Now()
	adv.stop()
	gone := browser.event(t, 10*time.Second, Gone, LsviewType, svc.Name, nil)
	t.Logf("gone %v after the advertiser was told to stop", gone.at.Sub(stop).Round(time.Millisecond))
}

func TestAvahiInterop(t *testing.T) {
	p := mdnstest.NewPair(t)
	avahi := mdnstest.StartAvahi(t, p.Pi, p.PiIf)
	svc := testService("Garden cam")
	startHelper(t, p.Pi, "advertise", p.PiIf, svc)

	// avahi-browse resolves our service: -r resolve, -p parsable (names
	// escaped as in DNS), -t stop once the cache is listed. Each try is
	// bounded: -t can wait on a resolve that never finishes.
	var resolved string
	var out []byte
	for try := 0; try < 5 && resolved == ""; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		out, _ = avahi.Command(ctx, "avahi-browse", "-rpt", LsviewType).CombinedOutput()
		cancel()
		for l := range strings.SplitSeq(string(out), "\n") {
			if strings.HasPrefix(l, "=") && strings.Contains(l, `Garden\032cam`) {
				resolved = l
			}
		}
	}
	if resolved == "" {
		t.Fatalf("avahi-browse did not resolve our _lsview._tcp service; it said:\n%s", out)
	}
	f := strings.Split(resolved, ";")
	// =;iface;proto;name;type;domain;host;address;port;txt
	if len(f) < 10 || f[7] != p.PiAddr || f[8] != "4000" || !strings.Contains(f[9], `"rtspport=8554"`) {
		t.Errorf("avahi resolved %q", resolved)
	}

	// Our browser, in the laptop namespace, lists what avahi publishes.
	pub := avahi.Command(context.Background(), "avahi-publish", "-s", "Avahi camera", RTSPType, "8554", "path=/cam")
	var pubLog testenv.SyncBuffer
	pub.Stdout, pub.Stderr = &pubLog, &pubLog
	if err := pub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Process.Kill(); pub.Wait() })
	browser := startHelper(t, p.Laptop, "browse", "all", nil)
	ev := browser.event(t, 15*time.Second, Appeared, RTSPType, "Avahi camera", nil)
	if got, url := ev.Entry.RTSPURL(), "rtsp://"+p.PiAddr+":8554/cam"; got != url {
		t.Errorf("avahi camera at %q, want %q", got, url)
	}
}

func TestParseInterfaces(t *testing.T) {
	cases := []struct {
		in   string
		want Interfaces
		bad  bool
	}{
		{in: "all", want: Interfaces{}},
		{in: "off", want: Interfaces{Off: true}},
		{in: "eth0", want: Interfaces{Names: []string{"eth0"}}},
		{in: "eth0,wlan0,eth0", want: Interfaces{Names: []string{"eth0", "wlan0"}}},
		{in: "", bad: true},
		{in: "eth0,", bad: true},
		{in: ",", bad: true},
		{in: "eth0,all", bad: true},
		{in: "a/b", bad: true},
		{in: "sixteen-bytes-xx", bad: true},
		{in: "eth 0", bad: true},
	}
	for _, tc := range cases {
		got, err := ParseInterfaces(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error", tc.in)
			}
			continue
		}
		if err != nil || got.Off != tc.want.Off || !slices.Equal(got.Names, tc.want.Names) {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if again, _ := ParseInterfaces(got.String()); !slices.Equal(again.Names, got.Names) || again.Off != got.Off {
			t.Errorf("%q does not round-trip through %q", tc.in, got.String())
		}
	}
	if _, err := (Interfaces{Names: []string{"nosuchif0"}}).Resolve(); err == nil {
		t.Error("Resolve of a missing interface: no error")
	}
}

func FuzzParseInterfaces(f *testing.F) {
	for _, s := range []string{"all", "off", "eth0", "eth0,wlan0", "", ",,", "a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ifs, err := ParseInterfaces(s)
		if err != nil {
			return
		}
		again, err := ParseInterfaces(ifs.String())
		if err != nil || again.Off != ifs.Off || !slices.Equal(again.Names, ifs.Names) {
			t.Fatalf("%q -> %q does not round-trip: %v", s, ifs.String(), err)
		}
	})
}

func TestParseTXT(t *testing.T) {
	got := ParseTXT([]string{"Proto=1", "proto=2", "flag", "=x", "path=/a=b", "empty="})
	want := map[string]string{"proto": "1", "flag": "", "path": "/a=b", "empty": ""}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
}

func FuzzParseTXT(f *testing.F) {
	f.Add("proto=1", "viewers=x", "=")
	f.Add("ladder=half:640x360,quarter:320x180", "rtsppath=/live", "")
	f.Add("ladder=a:1x1,a:2x2,b:0x1,c:1x,full:8x8,d:9x9,e:7x7,f:6x6", "rtsppath=", "ladder=x:1x1")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		m := ParseTXT([]string{a, b, c})
		for k := range m {
			if k == "" || k != strings.ToLower(k) {
				t.Fatalf("key %q kept", k)
			}
		}
		if m[KeyViewers] != "" {
			Entry{TXT: m}.Int(KeyViewers)
		}
		// Whatever the ladder says, what comes out is what an
		// advertiser would say again, word for word.
		rungs := Entry{Type: LsviewType, TXT: m}.Renditions()
		again := Entry{Type: LsviewType, TXT: map[string]string{KeyRTSPPath: m[KeyRTSPPath],
			KeyLadder: ladderTXT(netio.Stream{RTSPPath: m[KeyRTSPPath], Renditions: rungs})}}.Renditions()
		if len(rungs) > maxRungs || !slices.Equal(rungs, again) {
			t.Fatalf("ladder %q: %+v, advertised again %+v", m[KeyLadder], rungs, again)
		}
	})
}

func TestUnescapeInstance(t *testing.T) {
	for in, want := range map[string]string{
		`Kitchen\032cam`: "Kitchen cam", `a\.b`: "a.b", `plain`: "plain", `trail\`: `trail\`, `\999x`: "999x",
	} {
		if got := unescapeInstance(in); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}

func TestHostLabel(t *testing.T) {
	for _, tc := range []struct{ name, id, want string }{
		{"Kitchen cam", "ABCDEF0123456789", "kitchen-cam-abcdef01"},
		{"ünï", "", "n"},
		{"!!!", "x", "lsbroadcast-x"},
	} {
		if got := hostLabel(netio.Stream{Name: tc.name, Instance: tc.id}); got != tc.want {
			t.Errorf("hostLabel(%q, %q) = %q, want %q", tc.name, tc.id, got, tc.want)
		}
	}
}

// BenchmarkDiscovery measures, across two namespaces, how long a browser
// takes to see a new advertiser and to drop a stopped one.
func BenchmarkDiscovery(b *testing.B) {
	p := mdnstest.NewPair(b)
	browser := startHelper(b, p.Laptop, "browse", "all", nil)
	time.Sleep(300 * time.Millisecond)
	var appear, gone time.Duration
	for i := 0; b.Loop(); i++ {
		svc := testService(fmt.Sprintf("bench %d", i))
		start := time.Now()
		adv := startHelper(b, p.Pi, "advertise", p.PiIf, svc)
		ev := browser.event(b, 10*time.Second, Appeared, LsviewType, svc.Name, nil)
		appear += ev.at.Sub(start)
		stop := time.Now()
		adv.stop()
		ev = browser.event(b, 10*time.Second, Gone, LsviewType, svc.Name, nil)
		gone += ev.at.Sub(stop)
	}
	b.ReportMetric(float64(appear.Milliseconds())/float64(b.N), "appear-ms")
	b.ReportMetric(float64(gone.Milliseconds())/float64(b.N), "gone-ms")
}
