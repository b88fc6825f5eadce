// Package device is the broadcaster as an appliance: its configuration,
// state directory and identity, and the wiring of a capture source into the
// network services. It wires; it does not compute.
package device

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/web"
)

// maxNameBytes is the longest stream name: an mDNS instance name is one
// DNS label.
const maxNameBytes = 63

// checkName refuses a stream name that would do more than show itself in
// every picker that discovers it over mDNS: what textsafe refuses in a chat
// name, with the DNS label's limit. Empty means the camera's name.
func checkName(name string) error {
	if name == "" {
		return nil
	}
	return textsafe.CheckNameLen(name, maxNameBytes)
}

// Config is what lsbroadcast is told to do, from flags and an optional
// config file of `name = value` lines using the flag names.
type Config struct {
	Source    capture.Spec
	Size      capture.Size
	SizeSet   bool // Size was asked for; otherwise a camera keeps its native size
	FPS       int
	Quality   int
	Name      string // stream name; empty: the camera's name
	Listen    string // IP address to listen on; empty for all
	RTSPPort  int
	RTPPort   int
	ChatPort  int
	HTTPPort  int    // web viewer port; 0 when off
	Multicast string // multicast range, or empty when off
	// RTSP limits: readers in all, and readers from one address (an IPv4
	// address or an IPv6 /64).
	RTSPMaxReaders    int
	RTSPMaxPerAddress int
	MDNS              mdns.Interfaces
	StateDir          string
	LogLevel          string
	// Chat history retention; announcements are kept whatever their age.
	HistoryCount int
	HistoryAge   time.Duration
	// Relay publishing (relay.go); empty Relay is off.
	Relay RelayConfig
	// Ladder names the renditions made besides the full picture while
	// somebody watches them (ladder.go), largest first; none when off.
	Ladder []string
}

// UsageError is a problem with the arguments or the configuration; the
// command exits with status 2 on it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, a ...any) error { return &UsageError{fmt.Errorf(format, a...)} }

// Defaults.
const (
	DefaultFPS      = 30
	DefaultQuality  = 80
	DefaultChatPort = 4000
)

// DefaultSize is the test pattern's size and what cameras are asked for
// when --size is not given.
var DefaultSize = capture.Size{W: 1280, H: 720}

// ErrHelp is returned by ParseArgs for -h and --help.
var ErrHelp = flag.ErrHelp

// ErrVersion is returned by ParseArgs for --version: the caller, which
// knows the build, prints the version and exits 0.
var ErrVersion = errors.New("version asked for")

// ParseArgs reads the command line (without the program name) and the
// config file it names, the command line taking precedence. The usage text
// goes to usage on --help.
func ParseArgs(args []string, usage io.Writer) (*Config, error) {
	fs := flag.NewFlagSet("lsbroadcast", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		source     = fs.String("source", "auto", "auto, pattern, v4l2:/dev/videoN, gocv:INDEX, gocv:FILE, gocv:gst:PIPELINE or file:PATH (MJPEG, looped as is)")
		size       = fs.String("size", DefaultSize.String(), "frame size WxH (cameras: the size asked for)")
		fps        = fs.Int("fps", DefaultFPS, "frames per second, 1-120")
		quality    = fs.Int("quality", DefaultQuality, "JPEG quality 1-100 for encoded sources")
		name       = fs.String("name", "", "stream name (default: the camera's name)")
		listen     = fs.String("listen", "", "IP address to listen on (default: all)")
		rtspPort   = fs.Int("rtsp-port", rtsp.DefaultPort, "RTSP port (TCP)")
		rtpPort    = fs.Int("rtp-port", rtsp.DefaultRTPPort, "RTP port for UDP readers; RTCP is the next port")
		chatPort   = fs.Int("chat-port", DefaultChatPort, "chat port (TCP)")
		maxReaders = fs.Int("rtsp-max-readers", rtsp.DefaultMaxReaders, "RTSP readers in all; more are refused with 453")
		maxPerAddr = fs.Int("rtsp-max-per-address", rtsp.DefaultMaxReadersPerAddr,
			"RTSP readers from one address (IPv4 address or IPv6 /64); it may hold twice as many connections and sessions")
		httpPort  = fs.String("http-port", strconv.Itoa(web.DefaultPort), "web viewer port (TCP), or off")
		multicast = fs.String("multicast", rtsp.DefaultMulticastRange, "multicast range for UDP-multicast readers, or off")
		mdnsFlag  = fs.String("mdns", "all", "mDNS announcement: all, off, or interfaces IFACE[,IFACE]")
		stateDir  = fs.String("state-dir", defaultStateDir(), "directory for identity, keys and history")
		logLevel  = fs.String("log-level", "info", "debug, info, warn or error")
		histCount = fs.Int("history-count", 10000, "chat messages kept (0: no limit)")
		histAge   = fs.Duration("history-age", 90*24*time.Hour, "chat messages older than this are dropped (0: never)")
		ladder    = fs.String("ladder", DefaultLadder, "smaller renditions served besides the full picture, each at the RTSP path/NAME while watched: half, quarter, both comma-separated, or off")
		relay     = relayFlags(fs)
		cfgFile   = fs.String("config", "", "config file of `name = value` lines (flag names)")
		version   = fs.Bool("version", false, "print the version and exit")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(usage)
			fmt.Fprintln(usage, "usage: lsbroadcast [flags]")
			fs.PrintDefaults()
			return nil, ErrHelp
		}
		return nil, &UsageError{err}
	}
	// Before anything is checked: --version answers on a machine with no
	// camera, no state directory and no config file.
	if *version {
		return nil, ErrVersion
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	if *cfgFile != "" {
		if err := applyFile(fs, *cfgFile); err != nil {
			return nil, err
		}
	}

	c := &Config{FPS: *fps, Quality: *quality, Name: strings.TrimSpace(*name), RTSPPort: *rtspPort,
		RTPPort: *rtpPort, ChatPort: *chatPort, StateDir: *stateDir, LogLevel: *logLevel,
		HistoryCount: *histCount, HistoryAge: *histAge, RTSPMaxReaders: *maxReaders, RTSPMaxPerAddress: *maxPerAddr}
	if c.HistoryCount < 0 || c.HistoryAge < 0 {
		return nil, usagef("invalid history retention: count and age must not be negative")
	}
	var err error
	if c.Source, err = capture.ParseSpec(*source); err != nil {
		return nil, &UsageError{err}
	}
	if c.Size, err = capture.ParseSize(*size); err != nil {
		return nil, &UsageError{err}
	}
	fs.Visit(func(f *flag.Flag) { c.SizeSet = c.SizeSet || f.Name == "size" })
	if c.FPS < 1 || c.FPS > maxFPS {
		return nil, usagef("invalid fps %d: want 1 to %d", c.FPS, maxFPS)
	}
	if c.Quality < 1 || c.Quality > 100 {
		return nil, usagef("invalid quality %d: want 1 to 100", c.Quality)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"rtsp-port", c.RTSPPort}, {"rtp-port", c.RTPPort}, {"chat-port", c.ChatPort}} {
		if p.v < 1 || p.v > 65535 {
			return nil, usagef("invalid %s %d: want 1 to 65535", p.name, p.v)
		}
	}
	if c.RTSPMaxReaders < 1 || c.RTSPMaxPerAddress < 1 || c.RTSPMaxPerAddress > c.RTSPMaxReaders {
		return nil, usagef("invalid rtsp limits %d readers, %d per address: want at least 1, per address at most the total",
			c.RTSPMaxReaders, c.RTSPMaxPerAddress)
	}
	if *httpPort != "off" {
		if c.HTTPPort, err = strconv.Atoi(*httpPort); err != nil || c.HTTPPort < 1 || c.HTTPPort > 65535 {
			return nil, usagef("invalid http-port %q: want 1 to 65535, or off", *httpPort)
		}
	}
	if c.RTPPort%2 != 0 || c.RTPPort == 65535 {
		return nil, usagef("invalid rtp-port %d: RTP wants an even port with RTCP on the next one", c.RTPPort)
	}
	if *listen != "" {
		ip := net.ParseIP(*listen)
		if ip == nil {
			return nil, usagef("invalid listen address %q: want an IP address such as 127.0.0.1", *listen)
		}
		c.Listen = ip.String()
	}
	if *multicast != "off" {
		if _, ipnet, err := net.ParseCIDR(*multicast); err != nil || !ipnet.IP.IsMulticast() {
			return nil, usagef("invalid multicast range %q: want e.g. %s, or off", *multicast, rtsp.DefaultMulticastRange)
		}
		c.Multicast = *multicast
	}
	if c.MDNS, err = mdns.ParseInterfaces(*mdnsFlag); err != nil {
		return nil, &UsageError{err}
	}
	if len(c.Name) > maxNameBytes {
		return nil, usagef("invalid name: %d bytes, at most %d (an mDNS label)", len(c.Name), maxNameBytes)
	}
	if err := checkName(c.Name); err != nil {
		return nil, usagef("invalid name \"%s\": %v", textsafe.Terminal(c.Name), err)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, usagef("invalid log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.StateDir == "" {
		return nil, usagef("no state directory: set --state-dir")
	}
	if c.Relay, err = relay.config(); err != nil {
		return nil, &UsageError{err}
	}
	if c.Ladder, err = parseLadder(*ladder); err != nil {
		return nil, &UsageError{err}
	}
	return c, nil
}

// DefaultLadder is every rung there is.
const DefaultLadder = netio.Half + "," + netio.Quarter

// parseLadder reads --ladder: "off", or rung names, each once, put largest
// first whatever the order given.
func parseLadder(s string) ([]string, error) {
	if s == "off" {
		return nil, nil
	}
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if _, ok := rungDivisors[name]; !ok {
			return nil, fmt.Errorf("invalid ladder %q: %q is not a rendition (want %s, a part of it, or off)", s, name, DefaultLadder)
		}
		if slices.Contains(out, name) {
			return nil, fmt.Errorf("invalid ladder %q: %s twice", s, name)
		}
		out = append(out, name)
	}
	slices.SortFunc(out, func(a, b string) int { return rungDivisors[a] - rungDivisors[b] })
	return out, nil
}

// applyFile sets, from a config file, every flag the command line left alone.
func applyFile(fs *flag.FlagSet, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("config: %w", err)
	}
	defer f.Close()
	onCommandLine := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { onCommandLine[fl.Name] = true })
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		if !ok || k == "" {
			return usagef("config %s:%d: want name = value", path, n)
		}
		if k == "config" || fs.Lookup(k) == nil {
			return usagef("config %s:%d: unknown setting %q", path, n, k)
		}
		if onCommandLine[k] {
			continue
		}
		if err := fs.Set(k, v); err != nil {
			return usagef("config %s:%d: %s: %w", path, n, k, err)
		}
	}
	if err := sc.Err(); err != nil {
		return usagef("config %s: %w", path, err)
	}
	return nil
}

// defaultStateDir follows systemd's StateDirectory when it runs us, else
// the XDG state directory of the user.
func defaultStateDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return strings.Split(d, ":")[0]
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "lsbroadcast")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "lsbroadcast")
	}
	return ""
}
