package mdns

import (
	"strconv"
	"strings"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

// The ladder TXT value lists a broadcaster's renditions, largest first, as
// name:WxH separated by commas: ladder=half:640x360,quarter:320x180. Each
// plays at the stream's RTSP path plus /name, so paths take no room.
const (
	maxRungs       = 4  // what an RTSP server serves besides the main stream
	maxRungName    = 16 // bytes; names are [a-z0-9-]
	maxSide        = 65535
	ladderSep      = ","
	ladderFieldSep = ":"
)

// A TXT string holds 255 bytes: the longest ladder fits, with key and =,
// or this does not compile.
const _ = uint(255 - (len(KeyLadder) + 1 + maxRungs*(maxRungName+len(":65535x65535,"))))

// ladderTXT is the ladder value for s, or "" when it has no rendition
// this record can say: one on a path other than RTSPPath/name, or that the
// browse side would refuse, is left to the chat welcome.
func ladderTXT(s netio.Stream) string {
	var items []string
	for _, r := range s.Renditions {
		if len(items) < maxRungs && validRungName(r.Name) && r.Path == rungPath(s.RTSPPath, r.Name) && validSize(r.Width, r.Height) {
			items = append(items, r.Name+ladderFieldSep+strconv.Itoa(r.Width)+"x"+strconv.Itoa(r.Height))
		}
	}
	return strings.Join(items, ladderSep)
}

// Renditions are the rungs the entry's ladder TXT value announces, on
// paths below its RTSP path; entries that don't parse, repeat a name or
// come after the fourth are skipped, so a bad value costs only itself.
func (e Entry) Renditions() []netio.Rendition {
	v := e.TXT[KeyLadder]
	if v == "" || e.Type != LsviewType {
		return nil
	}
	var out []netio.Rendition
	for item := range strings.SplitSeq(v, ladderSep) {
		if len(out) == maxRungs {
			break
		}
		name, size, ok := strings.Cut(item, ladderFieldSep)
		w, h, sizeOK := parseWxH(size)
		if !ok || !sizeOK || !validRungName(name) {
			continue
		}
		dup := false
		for _, r := range out {
			dup = dup || r.Name == name
		}
		if !dup {
			out = append(out, netio.Rendition{Name: name, Path: rungPath(e.TXT[KeyRTSPPath], name), Width: w, Height: h})
		}
	}
	return out
}

// rungPath is where rendition name plays beside the main stream's path.
func rungPath(main, name string) string {
	if !strings.HasPrefix(main, "/") {
		main = "/" + main
	}
	return strings.TrimSuffix(main, "/") + "/" + name
}

// validRungName: what an RTSP server accepts as a rendition's name, so it
// is a path segment as it stands; "full" names the main stream.
func validRungName(name string) bool {
	if name == "" || len(name) > maxRungName || name == netio.Full {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseWxH reads a WxH validSize accepts.
func parseWxH(s string) (w, h int, ok bool) {
	ws, hs, found := strings.Cut(s, "x")
	w, errW := strconv.Atoi(ws)
	h, errH := strconv.Atoi(hs)
	if !found || errW != nil || errH != nil || !validSize(w, h) {
		return 0, 0, false
	}
	return w, h, true
}

// validSize: positive and at most 65535 a side, what a JPEG header
// carries at most.
func validSize(w, h int) bool { return w > 0 && h > 0 && w <= maxSide && h <= maxSide }
