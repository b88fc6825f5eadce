package viewer

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestAbsorbDropsKnownIDs(t *testing.T) {
	s := newChatSession("x", chat.Hello{}, quietLog())
	n := 0
	for _, id := range []uint64{1, 2, 3, 2, 3, 4} {
		n += len(s.absorb(chat.Msg{Type: chat.TypeChat, ID: id, Text: strconv.FormatUint(id, 10)}))
	}
	if n != 4 || s.hello.Since != 4 {
		t.Fatalf("%d lines, since %d; want 4, 4", n, s.hello.Since)
	}
	s.absorb(chat.Msg{Type: chat.TypeAnnouncement, Op: "post", ID: 5, Text: "a"})
	s.absorb(chat.Msg{Type: chat.TypeAnnouncement, Op: "post", ID: 6, Text: "b"})
	s.absorb(chat.Msg{Type: chat.TypeAnnouncement, Op: "edit", ID: 7, Target: 5, Text: "a2"})
	if got := NewestAnnouncement(s.ann); got != "b" {
		t.Fatalf("banner %q, want b", got)
	}
	s.absorb(chat.Msg{Type: chat.TypeAnnouncement, Op: "delete", ID: 8, Target: 6})
	if got := NewestAnnouncement(s.ann); got != "a2" {
		t.Fatalf("banner after delete %q, want a2", got)
	}
}

func TestDirectoryFoldsOwnRTSP(t *testing.T) {
	d := NewDirectory()
	ip := []byte{10, 0, 0, 1}
	own := mdns.Entry{Instance: "cam", Type: mdns.LsviewType, Addrs: []net.IP{ip}, Port: 4000,
		TXT: map[string]string{mdns.KeyID: "x", mdns.KeyRTSPPort: "8554", mdns.KeyRTSPPath: "/live", mdns.KeyProto: "1"}}
	d.Apply(mdns.Event{Kind: mdns.Appeared, Entry: own})
	d.Apply(mdns.Event{Kind: mdns.Appeared, Entry: mdns.Entry{Instance: "cam", Type: mdns.RTSPType, Addrs: []net.IP{ip}, Port: 8554,
		TXT: map[string]string{mdns.KeyID: "x", mdns.KeyPath: "/live"}}})
	d.Apply(mdns.Event{Kind: mdns.Appeared, Entry: mdns.Entry{Instance: "other", Type: mdns.RTSPType, Addrs: []net.IP{ip}, Port: 554,
		TXT: map[string]string{mdns.KeyPath: "/h264"}}})
	got := d.Streams()
	if len(got) != 2 || got[0].Name != "cam" || got[0].Kind != KindLsview || got[0].URL != "rtsp://10.0.0.1:8554/live" ||
		got[1].Name != "other" || got[1].URL != "rtsp://10.0.0.1:554/h264" {
		t.Fatalf("streams %+v", got)
	}
	d.Apply(mdns.Event{Kind: mdns.Gone, Entry: own})
	if got := d.Streams(); len(got) != 2 || got[0].Kind != KindRTSP {
		t.Fatalf("after the lsview entry went: %+v", got)
	}
}

func TestFromEntry(t *testing.T) {
	e := mdns.Entry{Instance: "Kitchen cam", Type: mdns.LsviewType, Addrs: []net.IP{{10, 0, 0, 1}}, Port: 4100,
		TXT: map[string]string{mdns.KeyID: "0123", mdns.KeyRTSPPort: "8554", mdns.KeyRTSPPath: "live", mdns.KeyProto: "1",
			mdns.KeySize: "640x360", mdns.KeyFPS: "15", mdns.KeyCodec: "jpeg", mdns.KeyViewers: "3",
			mdns.KeyLadder: "half:320x184"}}
	want := Stream{Stream: netio.Stream{Name: "Kitchen cam", Instance: "0123", ChatPort: 4100, Proto: 1, RTSPPort: 8554,
		RTSPPath: "live", Width: 640, Height: 360, FPS: 15, Codec: "jpeg", Viewers: 3,
		Renditions: []netio.Rendition{{Name: netio.Half, Path: "/live/half", Width: 320, Height: 184}}},
		Kind: KindLsview, Chat: "10.0.0.1:4100", URL: "rtsp://10.0.0.1:8554/live"}
	if got := FromEntry(e); !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	e.TXT[mdns.KeySize] = "big"
	if got := FromEntry(e); got.Size() != "" {
		t.Errorf("size %q from a bad TXT size", got.Size())
	}
}

func TestStreamUsable(t *testing.T) {
	lsview := func(proto int, codec string) Stream {
		return Stream{Stream: netio.Stream{Name: "x", Proto: proto, Codec: codec}, Kind: KindLsview}
	}
	if err := lsview(chat.Version+1, "").Usable(); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("protocol version %d", chat.Version+1)) {
		t.Errorf("protocol %d: %v", chat.Version+1, err)
	}
	if err := lsview(chat.Version, "h264").Usable(); err == nil || !strings.Contains(err.Error(), "JPEG only") {
		t.Errorf("h264: %v", err)
	}
	if err := lsview(chat.Version, "jpeg").Usable(); err != nil {
		t.Errorf("jpeg: %v", err)
	}
}

func TestURLStream(t *testing.T) {
	s, err := URLStream("rtsp://cam:8554/live")
	if err != nil || s.Name != "cam" || s.Kind != KindRTSP || s.URL != "rtsp://cam:8554/live" || s.HasChat() {
		t.Fatalf("%+v, %v", s, err)
	}
	if _, err := URLStream("http://cam/live"); err == nil {
		t.Error("an http URL was taken")
	}
}
