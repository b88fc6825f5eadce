package viewer

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// probeWait bounds one look at a port: a LAN peer answers in milliseconds,
// and a port that says nothing for this long is not one of ours.
const probeWait = 2 * time.Second

// rtspDefaultPort is RTSP's own port (RFC 2326), for rtsp:// URLs without
// one.
const rtspDefaultPort = 554

// speaker is what answered a probe.
type speaker int

const (
	speaksChat speaker = iota + 1 // an lsbroadcast chat
	speaksRTSP                    // an RTSP server, ours or not
)

// probeResult is what a port said to a DESCRIBE.
type probeResult struct {
	speaks   speaker
	status   int    // RTSP status code
	reason   string // RTSP reason phrase
	chatPort int    // from rtsp.ChatHeader; 0 when not an lsbroadcast
	instance string // from rtsp.InstanceHeader
}

// probe sends one RTSP DESCRIBE for path to addr and reads the first
// answer. One request tells both protocols apart without joining anything:
// an RTSP server answers with a status line, and the chat, for which any
// first line but a hello is a bad request, with a JSON error. Nobody sees a
// viewer join and leave.
func probe(ctx context.Context, addr, path string) (probeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return probeResult{}, err
	}
	defer nc.Close()
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	defer stop()
	req := fmt.Sprintf("DESCRIBE rtsp://%s%s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\nUser-Agent: lsview\r\n\r\n", addr, path)
	if _, err := nc.Write([]byte(req)); err != nil {
		return probeResult{}, err
	}
	r := bufio.NewReaderSize(nc, 4096)
	first, err := r.ReadString('\n')
	if err != nil {
		if first == "" {
			return probeResult{}, fmt.Errorf("no answer: %w", err)
		}
		return probeResult{}, fmt.Errorf("answers neither chat nor RTSP (%q)", clip(first))
	}
	if rest, ok := strings.CutPrefix(first, "RTSP/1.0 "); ok {
		return readRTSP(r, strings.TrimSpace(rest))
	}
	var m struct{ Type string }
	if json.Unmarshal([]byte(first), &m) == nil && (m.Type == "error" || m.Type == "bye") {
		return probeResult{speaks: speaksChat}, nil
	}
	return probeResult{}, fmt.Errorf("answers neither chat nor RTSP (%q)", clip(first))
}

// readRTSP reads an RTSP answer's status and the headers that name a
// broadcaster.
func readRTSP(r *bufio.Reader, status string) (probeResult, error) {
	code, reason, _ := strings.Cut(status, " ")
	res := probeResult{speaks: speaksRTSP, reason: reason}
	var err error
	if res.status, err = strconv.Atoi(code); err != nil {
		return probeResult{}, fmt.Errorf("bad RTSP status %q", clip(status))
	}
	for range 64 { // headers of an answer to DESCRIBE are few
		line, err := r.ReadString('\n')
		if err != nil {
			return probeResult{}, fmt.Errorf("RTSP answer cut short: %w", err)
		}
		line = strings.TrimSpace(line)
		if line == "" {
			return res, nil
		}
		key, value, _ := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(key, rtsp.ChatHeader):
			if n, err := strconv.Atoi(value); err == nil && n > 0 && n < 65536 {
				res.chatPort = n
			}
		case strings.EqualFold(key, rtsp.InstanceHeader):
			res.instance = value
		}
	}
	return probeResult{}, errors.New("RTSP answer with too many headers")
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// ResolveHost finds what HOST or HOST:PORT names, asking the port itself
// which protocol it speaks: an lsbroadcast's chat port or its RTSP port
// both lead to the same broadcaster, with its chat. Without a port (0) the
// chat's default port is asked, then RTSP's. A port that answers neither
// is an error naming it: lsview never plays another address instead.
func ResolveHost(ctx context.Context, host string, port int) (Stream, error) {
	if port != 0 {
		return resolvePort(ctx, host, port, rtsp.DefaultPath)
	}
	return resolveBare(ctx, host, DefaultChatPort, rtsp.DefaultPort)
}

// resolveBare asks chatPort, then rtspPort, of host.
func resolveBare(ctx context.Context, host string, chatPort, rtspPort int) (Stream, error) {
	st, errChat := resolvePort(ctx, host, chatPort, rtsp.DefaultPath)
	var dns *net.DNSError
	if errChat == nil || errors.As(errChat, &dns) {
		return st, errChat
	}
	st, errRTSP := resolvePort(ctx, host, rtspPort, rtsp.DefaultPath)
	if errRTSP == nil {
		return st, nil
	}
	return Stream{}, fmt.Errorf("%s: no lsbroadcast on the default ports: %w; %w", host, errChat, errRTSP)
}

// resolvePort asks host:port, as RTSP with path, what it is.
func resolvePort(ctx context.Context, host string, port int, path string) (Stream, error) {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	r, err := probe(ctx, addr, path)
	if err != nil {
		return Stream{}, fmt.Errorf("%s (port %d): %w", addr, port, err)
	}
	if r.speaks == speaksChat {
		return HostStream(host, port), nil
	}
	if r.chatPort > 0 {
		return viaRTSP(host, port, path, r), nil
	}
	if r.status != 200 {
		return Stream{}, fmt.Errorf("%s (port %d): an RTSP server that is not an lsbroadcast answers %s %d %s: give its rtsp:// URL",
			addr, port, rtspURL(host, port, path), r.status, r.reason)
	}
	return URLStream(rtspURL(host, port, path))
}

// viaRTSP is the broadcaster whose RTSP server at host:port named its chat.
// The session still joins the chat first, for the name and the path the
// welcome gives; the video is where we asked when the path was right.
func viaRTSP(host string, port int, path string, r probeResult) Stream {
	st := HostStream(host, r.chatPort)
	st.Instance = r.instance
	if r.status == 200 {
		st.RTSPPort, st.RTSPPath, st.URL = port, path, rtspURL(host, port, path)
	}
	return st
}

// ResolveURL finds what an rtsp:// URL plays: an lsbroadcast's (then with
// its chat, which its RTSP server names) or any other camera's, video only.
func ResolveURL(ctx context.Context, rawURL string) (Stream, error) {
	plain, err := URLStream(rawURL)
	if err != nil {
		return Stream{}, err
	}
	host, port, path, err := splitURL(rawURL)
	if err != nil {
		return Stream{}, err
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	r, err := probe(ctx, addr, path)
	switch {
	case err != nil:
		return Stream{}, fmt.Errorf("%s (port %d): %w", addr, port, err)
	case r.speaks == speaksChat:
		return HostStream(host, port), nil
	case r.chatPort > 0:
		st := viaRTSP(host, port, path, r)
		if r.status == 200 {
			st.URL = rawURL // as given: its query, if any, is the user's
		}
		return st, nil
	}
	return plain, nil
}

// splitURL is an rtsp:// URL's host, port (RTSP's default when it has
// none) and path.
func splitURL(rawURL string) (host string, port int, path string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0, "", fmt.Errorf("stream url %q: %w", rawURL, err)
	}
	host, port = u.Hostname(), rtspDefaultPort
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return "", 0, "", fmt.Errorf("stream url %q: bad port", rawURL)
		}
	}
	path = u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return host, port, path, nil
}

// confirmVideo checks, when the chat gave no welcome, that the RTSP URL a
// session would play belongs to the broadcaster whose chat it dialled: its
// RTSP server must name that chat port (and instance, when known). A
// guessed default address may be another broadcaster's on the same host.
func confirmVideo(ctx context.Context, st Stream) error {
	host, port, path, err := splitURL(st.URL)
	if err != nil {
		return err
	}
	_, chatPort, _ := net.SplitHostPort(st.Chat)
	r, err := probe(ctx, net.JoinHostPort(host, strconv.Itoa(port)), path)
	switch {
	case err != nil:
		return fmt.Errorf("video at %s: %w", st.URL, err)
	case r.speaks != speaksRTSP || r.status != 200:
		return fmt.Errorf("no video at %s", st.URL)
	case strconv.Itoa(r.chatPort) != chatPort || (st.Instance != "" && r.instance != st.Instance):
		return fmt.Errorf("the video at %s is not this broadcaster's (its chat is on port %d, not %s)", st.URL, r.chatPort, chatPort)
	}
	return nil
}
