// Package netio is everything on the wire: rtsp (server and client), chat
// (server, client, protocol, store), mdns (advertise, browse) and viewer (the
// session a viewer keeps with one broadcaster). It knows nothing of cameras.
//
// This package itself holds only what every protocol says of a stream.
package netio

import "strconv"

// Stream describes one broadcaster: what mDNS announces, what the chat
// welcome says and what a viewer lists. The JSON names are the chat
// protocol's (see chat/PROTOCOL.md).
type Stream struct {
	Name     string `json:"name"`               // what people see in pickers, e.g. "Kitchen camera"
	Instance string `json:"instance,omitempty"` // stable across restarts: 32 hex digits
	ChatPort int    `json:"chat_port,omitempty"`
	Proto    int    `json:"proto,omitempty"` // chat protocol version
	RTSPPort int    `json:"rtsp_port"`
	RTSPPath string `json:"rtsp_path"`
	HTTPPort int    `json:"http_port,omitempty"` // the web viewer's port; 0: no web viewer
	Width    int    `json:"width,omitempty"`
	Height   int    `json:"height,omitempty"`
	FPS      int    `json:"fps,omitempty"`
	Codec    string `json:"codec,omitempty"` // "jpeg"
	Viewers  int    `json:"viewers,omitempty"`
	// RTPEpoch is when the video's RTP time was 0, in Unix microseconds
	// (the broadcaster's clock; 90 kHz, wrapping every 13.25 hours): a
	// viewer maps any frame to its capture time with it, through a relay
	// that keeps the timestamps and before the first RTCP sender report.
	RTPEpoch int64 `json:"rtp_epoch_us,omitempty"`
	// RelayURL is where a relay (MediaMTX) re-serves the same stream,
	// without credentials; "" when there is none.
	RelayURL string `json:"relay_url,omitempty"`
	// Renditions are the smaller versions of the same picture the
	// broadcaster serves besides the full one (its quality ladder),
	// largest first; none when it serves only the full stream.
	Renditions []Rendition `json:"renditions,omitempty"`
}

// Rendition is one rung of a broadcaster's quality ladder: the same
// pictures, scaled down, on an RTSP path of their own. A rendition is
// encoded only while somebody watches it.
type Rendition struct {
	Name   string `json:"name"` // stable across restarts and size changes: "half", "quarter"
	Path   string `json:"path"` // its RTSP path, e.g. /live/half
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
}

// Ladder names, each a fraction of the full picture's sides: libjpeg-turbo
// decodes at these scales in its IDCT, so a rung costs a fraction of a
// full decode.
const (
	Full    = "full" // the stream at Stream.RTSPPath itself
	Half    = "half"
	Quarter = "quarter"
)

// Size is WxH, or "" when unknown.
func (s Stream) Size() string {
	if s.Width <= 0 || s.Height <= 0 {
		return ""
	}
	return strconv.Itoa(s.Width) + "x" + strconv.Itoa(s.Height)
}
