package viewer

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// DefaultChatPort is where a broadcaster's chat listens unless told
// otherwise (DESIGN.md's default ports).
const DefaultChatPort = 4000

// Kind says what a stream offers.
type Kind string

// Kinds of stream.
const (
	KindLsview Kind = "lsview" // an lsbroadcast: video and chat
	KindRTSP   Kind = "rtsp"   // any other RTSP camera: video only
)

// Stream is one broadcaster, or a plain RTSP camera, as a viewer finds it:
// the description every protocol shares, plus where to reach it.
type Stream struct {
	netio.Stream
	Kind Kind
	Chat string // host:port of the chat service; "" for video only
	URL  string // rtsp:// where the video plays
	// GuessedURL says URL is the default address: a Session asks the
	// chat's welcome for the real one before it plays.
	GuessedURL bool
}

// PageURL is the broadcaster's web viewer, on the chat's host, or "" when
// it has none.
func (s Stream) PageURL() string {
	host, _, err := net.SplitHostPort(s.Chat)
	if s.HTTPPort <= 0 || err != nil {
		return ""
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(s.HTTPPort)) + "/"
}

// HasChat says whether the stream has a chat to join.
func (s Stream) HasChat() bool { return s.Kind == KindLsview && s.Chat != "" }

// Usable says why a viewer of this package can't play s, or nil.
func (s Stream) Usable() error {
	if s.Kind != KindLsview {
		return nil
	}
	if s.Proto < chat.MinVersion || s.Proto > chat.Version {
		return fmt.Errorf("%q speaks protocol version %d; this lsview speaks %d to %d: install matching versions", s.Name, s.Proto, chat.MinVersion, chat.Version)
	}
	if s.Codec != "" && !strings.EqualFold(s.Codec, "jpeg") {
		return fmt.Errorf("%q sends %s video; lsview shows JPEG only", s.Name, s.Codec)
	}
	return nil
}

// FromEntry is the stream an mDNS entry announces.
func FromEntry(e mdns.Entry) Stream {
	s := Stream{Stream: netio.Stream{Name: e.Instance, Instance: e.TXT[mdns.KeyID]}, URL: e.RTSPURL()}
	if e.Type == mdns.RTSPType {
		s.Kind, s.RTSPPort, s.RTSPPath = KindRTSP, e.Port, e.TXT[mdns.KeyPath]
		return s
	}
	s.Kind, s.Chat, s.ChatPort = KindLsview, e.Addr(), e.Port
	s.RTSPPort, s.RTSPPath = e.Int(mdns.KeyRTSPPort), e.TXT[mdns.KeyRTSPPath]
	s.Width, s.Height = parseSize(e.TXT[mdns.KeySize])
	s.FPS, s.Codec = e.Int(mdns.KeyFPS), e.TXT[mdns.KeyCodec]
	s.Viewers, s.Proto = e.Int(mdns.KeyViewers), e.Int(mdns.KeyProto)
	s.HTTPPort = e.Int(mdns.KeyHTTPPort)
	s.RelayURL = e.TXT[mdns.KeyRelay]
	s.Renditions = e.Renditions()
	return s
}

// parseSize reads WxH, or gives 0, 0.
func parseSize(s string) (w, h int) {
	ws, hs, ok := strings.Cut(s, "x")
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if !ok || errW != nil || errH != nil || w <= 0 || h <= 0 {
		return 0, 0
	}
	return w, h
}

// HostStream is a broadcaster reached by address, its chat on chatPort.
// Its RTSP URL is the default until a Session learns the real one from
// the chat's welcome.
func HostStream(host string, chatPort int) Stream {
	return Stream{
		Stream: netio.Stream{Name: host, ChatPort: chatPort, Proto: chat.Version,
			RTSPPort: rtsp.DefaultPort, RTSPPath: rtsp.DefaultPath},
		Kind:       KindLsview,
		Chat:       net.JoinHostPort(host, strconv.Itoa(chatPort)),
		URL:        rtspURL(host, rtsp.DefaultPort, rtsp.DefaultPath),
		GuessedURL: true,
	}
}

// URLStream is a camera reached by its rtsp:// URL: video only, named
// after its host.
func URLStream(rawURL string) (Stream, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return Stream{}, fmt.Errorf("stream url %q: %w", rawURL, err)
	}
	if u.Scheme != "rtsp" || u.Hostname() == "" {
		return Stream{}, fmt.Errorf("stream url %q: want rtsp://HOST[:PORT]/PATH", rawURL)
	}
	return Stream{Stream: netio.Stream{Name: u.Hostname()}, Kind: KindRTSP, URL: rawURL}, nil
}

func rtspURL(host string, port int, path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "rtsp://" + net.JoinHostPort(host, strconv.Itoa(port)) + path
}
