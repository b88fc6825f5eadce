package main

import (
	"io"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

func TestParseTarget(t *testing.T) {
	cases := []struct {
		in   string
		want target
		bad  bool
	}{
		{in: "Kitchen", want: target{kind: byName, name: "Kitchen"}},
		{in: "10.0.0.5", want: target{kind: byHost, host: "10.0.0.5", port: 4000, bare: true}},
		{in: "pi.local:4100", want: target{kind: byHost, host: "pi.local", port: 4100}},
		{in: "[fe80::1]:4000", want: target{kind: byHost, host: "fe80::1", port: 4000}},
		{in: "::1", want: target{kind: byHost, host: "::1", port: 4000, bare: true}},
		{in: "rtsp://cam:8554/live", want: target{kind: byURL, url: "rtsp://cam:8554/live", host: "cam"}},
		{in: "", bad: true},
		{in: " padded", bad: true},
		{in: "http://cam/live", bad: true},
		{in: "rtsp:///live", bad: true},
		{in: "rtsp://cam:99999/live", bad: true},
		{in: "host:0", bad: true},
		{in: "host:x", bad: true},
		{in: ":4000", bad: true},
		{in: "a/b", bad: true},
	}
	for _, tc := range cases {
		got, err := parseTarget(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: no error, got %+v", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"Kitchen", "10.0.0.5", "pi.local:4100", "rtsp://cam:8554/live", "[::1]:1", "rtsp://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := parseTarget(s)
		if err != nil {
			return
		}
		switch tg.kind {
		case byName:
			if tg.name != s {
				t.Fatalf("%q: name %q", s, tg.name)
			}
		case byHost:
			if tg.host == "" || tg.port < 1 || tg.port > 65535 {
				t.Fatalf("%q: host %q port %d", s, tg.host, tg.port)
			}
		case byURL:
			if !strings.HasPrefix(tg.url, "rtsp://") || tg.host == "" {
				t.Fatalf("%q: url %q host %q", s, tg.url, tg.host)
			}
		default:
			t.Fatalf("%q: kind %d", s, tg.kind)
		}
	})
}

func TestParseArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--frames", "3"},                 // needs --headless
		{"--json"},                        // needs --list
		{"--list", "cam"},                 // --list takes no target
		{"a", "b"},                        // two targets
		{"--mdns", "eth0,"},               // bad interface list
		{"--transport", "carrier-pigeon"}, // unknown transport
		{"--quality", "best"},             // not a rung
		{"--window", "10x10"},             // too small
		{"--wait", "-1s"},
		{"--headless", "--frames", "-1"},
		{"--no-such-flag"},
	} {
		if _, err := parseArgs(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if o, err := parseArgs([]string{"--quality", "Quarter", "cam"}, io.Discard); err != nil || o.quality != netio.Quarter {
		t.Errorf("--quality Quarter: %+v, %v", o, err)
	}
	if o, err := parseArgs([]string{"cam"}, io.Discard); err != nil || o.quality != viewer.QualityAuto {
		t.Errorf("default quality: %+v, %v", o, err)
	}
	o, err := parseArgs([]string{"--mdns", "off", "cam"}, io.Discard)
	if err != nil || o.target.kind != byHost || o.target.host != "cam" {
		t.Errorf("a name without discovery should be a host: %+v, %v", o, err)
	}
}

func TestParseKey(t *testing.T) {
	cases := []struct {
		in   string
		want keyEvent
		used int
	}{
		{"\r", keyEvent{k: keyEnter}, 1},
		{"\x1b[A", keyEvent{k: keyUp}, 3},
		{"\x1b[B", keyEvent{k: keyDown}, 3},
		{"\x1bOA", keyEvent{k: keyUp}, 3},
		{"\x1b[", keyEvent{}, 0}, // incomplete: wait
		{"\x1b", keyEvent{k: keyQuit}, 1},
		{"7", keyEvent{k: keyDigit, digit: 7}, 1},
		{"\x7f", keyEvent{k: keyBackspace}, 1},
		{"q", keyEvent{k: keyQuit}, 1},
		{"x", keyEvent{}, 1},
	}
	for _, tc := range cases {
		got, used := parseKey([]byte(tc.in))
		if got != tc.want || used != tc.used {
			t.Errorf("%q: %+v %d, want %+v %d", tc.in, got, used, tc.want, tc.used)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add([]byte("\x1b[A12\r"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			_, used := parseKey(b)
			if used < 0 || used > len(b) {
				t.Fatalf("used %d of %d", used, len(b))
			}
			if used == 0 {
				return
			}
			b = b[used:]
		}
	})
}

func TestPickerKeys(t *testing.T) {
	list := []viewer.Stream{
		{Stream: netio.Stream{Name: "a", Proto: chat.Version, Codec: "jpeg"}, Kind: viewer.KindLsview},
		{Stream: netio.Stream{Name: "b", Proto: 99}, Kind: viewer.KindLsview},
		{Stream: netio.Stream{Name: "c"}, Kind: viewer.KindRTSP},
	}
	p := &pickerView{out: io.Discard}
	press := func(k keyEvent) (viewer.Stream, bool, error) { return p.press(k, list) }
	press(keyEvent{k: keyDown})
	if _, done, _ := press(keyEvent{k: keyEnter}); done || !strings.Contains(p.msg, "protocol version 99") {
		t.Fatalf("an incompatible broadcaster was picked or not explained: %q", p.msg)
	}
	press(keyEvent{k: keyDigit, digit: 3})
	if s, done, err := press(keyEvent{k: keyEnter}); !done || err != nil || s.Name != "c" {
		t.Fatalf("number 3 then Enter: %+v %v %v", s, done, err)
	}
	p = &pickerView{out: io.Discard}
	press(keyEvent{k: keyUp})
	if s, done, _ := press(keyEvent{k: keyEnter}); !done || s.Name != "a" {
		t.Fatalf("Up at the top, then Enter: %+v", s)
	}
	if _, done, err := press(keyEvent{k: keyQuit}); !done || err != errQuit {
		t.Fatal("q does not quit")
	}
}
