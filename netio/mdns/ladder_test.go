package mdns

import (
	"slices"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio"
)

func TestLadderTXT(t *testing.T) {
	half := netio.Rendition{Name: netio.Half, Path: "/live/half", Width: 640, Height: 360}
	quarter := netio.Rendition{Name: netio.Quarter, Path: "/live/quarter", Width: 320, Height: 184}
	long := func(c string) netio.Rendition {
		name := strings.Repeat(c, maxRungName)
		return netio.Rendition{Name: name, Path: "/live/" + name, Width: maxSide, Height: maxSide}
	}
	for _, tc := range []struct {
		name  string
		rungs []netio.Rendition
		want  string
	}{
		{"none", nil, ""},
		{"two", []netio.Rendition{half, quarter}, "half:640x360,quarter:320x184"},
		{"elsewhere", []netio.Rendition{{Name: "half", Path: "/other/half", Width: 640, Height: 360}, quarter}, "quarter:320x184"},
		{"bad name", []netio.Rendition{{Name: "Half", Path: "/live/Half", Width: 640, Height: 360}}, ""},
		{"main", []netio.Rendition{{Name: netio.Full, Path: "/live/full", Width: 640, Height: 360}}, ""},
		{"no size", []netio.Rendition{{Name: "half", Path: "/live/half"}}, ""},
		{"five", []netio.Rendition{long("a"), long("b"), long("c"), long("d"), long("e")},
			strings.Repeat("a", 16) + ":65535x65535," + strings.Repeat("b", 16) + ":65535x65535," +
				strings.Repeat("c", 16) + ":65535x65535," + strings.Repeat("d", 16) + ":65535x65535"},
	} {
		s := netio.Stream{Name: "cam", RTSPPath: "/live", Renditions: tc.rungs}
		got := ""
		for _, kv := range lsviewTXT(s) {
			if k, v, _ := strings.Cut(kv, "="); k == KeyLadder {
				got = v
			}
			if len(kv) > 255 {
				t.Errorf("%s: TXT string of %d bytes", tc.name, len(kv))
			}
		}
		if got != tc.want {
			t.Errorf("%s: ladder=%q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEntryRenditions(t *testing.T) {
	for _, tc := range []struct {
		path, ladder string
		want         []netio.Rendition
	}{
		{"/live", "half:640x360,quarter:320x180", []netio.Rendition{
			{Name: "half", Path: "/live/half", Width: 640, Height: 360}, {Name: "quarter", Path: "/live/quarter", Width: 320, Height: 180}}},
		{"cam/", "half:640x360", []netio.Rendition{{Name: "half", Path: "/cam/half", Width: 640, Height: 360}}},
		// A bad item costs itself only; a repeated name keeps the first.
		{"/live", "half:640x360,bad,x:0x9,Up:1x1,x:1x99999,half:1x1,q:1x1", []netio.Rendition{
			{Name: "half", Path: "/live/half", Width: 640, Height: 360}, {Name: "q", Path: "/live/q", Width: 1, Height: 1}}},
		{"/live", "a:1x1,b:1x1,c:1x1,d:1x1,e:1x1", []netio.Rendition{
			{Name: "a", Path: "/live/a", Width: 1, Height: 1}, {Name: "b", Path: "/live/b", Width: 1, Height: 1},
			{Name: "c", Path: "/live/c", Width: 1, Height: 1}, {Name: "d", Path: "/live/d", Width: 1, Height: 1}}},
		{"/live", "", nil},
		{"/live", "full:1280x720", nil},
	} {
		e := Entry{Type: LsviewType, TXT: map[string]string{KeyRTSPPath: tc.path, KeyLadder: tc.ladder}}
		if got := e.Renditions(); !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: %+v, want %+v", tc.path, tc.ladder, got, tc.want)
		}
	}
	rtsp := Entry{Type: RTSPType, TXT: map[string]string{KeyPath: "/live", KeyLadder: "half:640x360"}}
	if got := rtsp.Renditions(); got != nil {
		t.Errorf("an _rtsp._tcp entry has renditions %+v", got)
	}
}
