package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// Defaults of the broadcaster, as DESIGN.md fixes them.
const (
	defaultChatPort = viewer.DefaultChatPort
	defaultRTSPPort = rtsp.DefaultPort
	defaultRTSPPath = rtsp.DefaultPath
)

// options are lsview's parsed command line.
type options struct {
	version   bool
	list      bool
	json      bool
	headless  bool
	stats     bool
	frames    int
	seconds   float64
	name      string // chat name
	hostKey   string // file holding the host key
	mdns      mdns.Interfaces
	transport rtsp.Transport
	via       viewer.Via
	nack      bool
	quality   viewer.Quality
	wait      time.Duration // how long --list and name lookups browse
	size      [2]int        // window canvas
	logLevel  string
	target    target
}

// target is what the positional argument names.
type target struct {
	kind targetKind
	name string // instance name for byName
	host string // for byHost
	port int    // for byHost: a chat or RTSP port; the chat's default when bare
	bare bool   // byHost without a port: the chat's default port is asked, then RTSP's
	url  string // for byURL
}

type targetKind int

const (
	pickOne targetKind = iota // no argument: discover and pick
	byName
	byHost
	byURL
)

// errHelp says -h was asked for; usage went to the output.
var errHelp = errors.New("help requested")

func parseArgs(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("lsview", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, `usage:
  lsview                                  discover, pick, watch
  lsview --list [--json]                  print discovered streams and exit
  lsview NAME|HOST[:PORT]|rtsp://URL      connect directly (PORT: the chat's or the RTSP port; default 4000, then 8554)
  lsview --version                        print the version and exit
  lsview --headless [--frames N] [--seconds S] [target]   no window; print stats as JSON
flags:
`)
		fs.PrintDefaults()
	}
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.list, "list", false, "print discovered streams and exit")
	fs.BoolVar(&o.json, "json", false, "with --list: print JSON")
	fs.BoolVar(&o.headless, "headless", false, "no window: receive, then print stats as JSON")
	fs.BoolVar(&o.stats, "stats", false, "window: print the stats as JSON on exit")
	fs.IntVar(&o.frames, "frames", 0, "headless: stop after N frames (0: no limit)")
	fs.Float64Var(&o.seconds, "seconds", 0, "headless: stop after S seconds (0: no limit)")
	fs.StringVar(&o.name, "name", "", "chat name (default: your user name)")
	fs.StringVar(&o.hostKey, "host-key", "", "file with the broadcaster's host key: join as host")
	mdnsFlag := fs.String("mdns", "all", "discovery: all, off, or interfaces IFACE[,IFACE]")
	fs.BoolVar(&o.nack, "nack", true, "over UDP, ask the broadcaster again for lost packets (RTCP NACK)")
	transport := fs.String("transport", "auto", "RTP transport: auto, udp, tcp or multicast")
	quality := fs.String("quality", string(viewer.QualityAuto),
		"picture size: auto (what the link carries), or hold full, half or quarter (the broadcaster's quality ladder)")
	via := fs.String("via", string(viewer.ViaAuto),
		"where the video comes from: pi (the broadcaster), relay (the relay it names; the chat stays with the broadcaster) or auto (the broadcaster)")
	wait := fs.Duration("wait", 3*time.Second, "how long --list and name lookups look for broadcasters")
	size := fs.String("window", "1280x720", "window size WxH")
	fs.StringVar(&o.logLevel, "log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if o.version {
		return o, nil
	}
	var err error
	if o.mdns, err = mdns.ParseInterfaces(*mdnsFlag); err != nil {
		return nil, err
	}
	if o.via, err = viewer.ParseVia(*via); err != nil {
		return nil, err
	}
	if o.transport, err = rtsp.ParseTransport(*transport); err != nil {
		return nil, err
	}
	if o.quality, err = viewer.ParseQuality(*quality); err != nil {
		return nil, err
	}
	if *wait <= 0 || *wait > time.Minute {
		return nil, fmt.Errorf("--wait %v: want between 0 and 1m", *wait)
	}
	o.wait = *wait
	if _, err := fmt.Sscanf(*size, "%dx%d", &o.size[0], &o.size[1]); err != nil ||
		o.size[0] < 320 || o.size[1] < 240 || o.size[0] > 7680 || o.size[1] > 4320 {
		return nil, fmt.Errorf("--window %q: want WxH between 320x240 and 7680x4320", *size)
	}
	if o.frames < 0 || o.seconds < 0 {
		return nil, errors.New("--frames and --seconds must not be negative")
	}
	if (o.frames > 0 || o.seconds > 0) && !o.headless {
		return nil, errors.New("--frames and --seconds need --headless")
	}
	if o.json && !o.list {
		return nil, errors.New("--json needs --list")
	}
	switch fs.NArg() {
	case 0:
	case 1:
		if o.list {
			return nil, errors.New("--list takes no target")
		}
		if o.target, err = parseTarget(fs.Arg(0)); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("one target at most, got %d: %s", fs.NArg(), strings.Join(fs.Args(), " "))
	}
	if o.target.kind == byName && o.mdns.Off {
		// Without discovery a name can only be a host name.
		o.target = target{kind: byHost, host: o.target.name, port: defaultChatPort, bare: true}
	}
	return o, nil
}

// parseTarget reads NAME, HOST[:PORT] or rtsp://URL. A bare word is a
// broadcaster's name; it is tried as a host name only when discovery does
// not find it. An IP address, or anything with a port, is a host.
func parseTarget(s string) (target, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return target{}, fmt.Errorf("target %q: empty or padded with spaces", s)
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return target{}, fmt.Errorf("target %q: %w", s, err)
		}
		if u.Scheme != "rtsp" {
			return target{}, fmt.Errorf("target %q: only rtsp:// URLs are played", s)
		}
		if u.Hostname() == "" {
			return target{}, fmt.Errorf("target %q: no host", s)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return target{}, fmt.Errorf("target %q: bad port", s)
			}
		}
		return target{kind: byURL, url: s, host: u.Hostname()}, nil
	}
	if ip := net.ParseIP(s); ip != nil {
		return target{kind: byHost, host: s, port: defaultChatPort, bare: true}, nil
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return target{}, fmt.Errorf("target %q: port %q is not 1-65535", s, port)
		}
		if host == "" {
			return target{}, fmt.Errorf("target %q: no host", s)
		}
		return target{kind: byHost, host: host, port: n}, nil
	}
	if strings.ContainsAny(s, "/:") {
		return target{}, fmt.Errorf("target %q: want NAME, HOST[:PORT] or rtsp://URL", s)
	}
	return target{kind: byName, name: s}, nil
}
