package capture

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Spec
		err  string
	}{
		{"auto", Spec{Kind: KindAuto}, ""},
		{"pattern", Spec{Kind: KindPattern}, ""},
		{"v4l2:/dev/video0", Spec{KindV4L2, "/dev/video0"}, ""},
		{"gocv:0", Spec{KindGoCV, "0"}, ""},
		{"gocv:/tmp/a.mp4", Spec{KindGoCV, "/tmp/a.mp4"}, ""},
		{"gocv:gst:libcamerasrc ! videoconvert ! appsink", Spec{KindGoCV, "gst:libcamerasrc ! videoconvert ! appsink"}, ""},
		{"", Spec{}, "want auto"},
		{"webcam", Spec{}, "want auto"},
		{"pattern:x", Spec{}, "takes no argument"},
		{"v4l2:video0", Spec{}, "v4l2:/dev/videoN"},
		{"gocv:", Spec{}, "gocv:INDEX"},
		{"gocv:gst:", Spec{}, "gocv:INDEX"},
		{"file:/srv/clip.mjpeg", Spec{KindFile, "/srv/clip.mjpeg"}, ""},
		{"file:", Spec{}, "file:PATH"},
	} {
		got, err := ParseSpec(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrBadSpec) {
				t.Errorf("ParseSpec(%q) error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if got.String() != tc.in {
			t.Errorf("Spec %+v prints %q, want %q", got, got.String(), tc.in)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  string
	}{
		{"1280x720", Size{1280, 720}, ""},
		{"1920X1080", Size{1920, 1080}, ""},
		{"16x16", Size{16, 16}, ""},
		{"2040x2040", Size{2040, 2040}, ""},
		{"1366x768", Size{}, "multiples of 8"},
		{"2048x1080", Size{}, "multiples of 8"},
		{"8x8", Size{}, "multiples of 8"},
		{"640", Size{}, "WIDTHxHEIGHT"},
		{"640x", Size{}, "WIDTHxHEIGHT"},
		{"-640x480", Size{}, "multiples of 8"},
		{"axb", Size{}, "WIDTHxHEIGHT"},
	} {
		got, err := ParseSize(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSize(%q) error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"auto", "v4l2:/dev/video0", "gocv:gst:a ! b", "gocv:1", "x:y:z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSpec(s)
		if err != nil {
			return
		}
		again, err := ParseSpec(spec.String())
		if err != nil || again != spec {
			t.Fatalf("%q parses to %+v, which prints %q and parses to %+v, %v", s, spec, spec.String(), again, err)
		}
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1280x720", "1x1", "x", "99999999999999999999x8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sz, err := ParseSize(s)
		if err != nil {
			return
		}
		if sz.W%SideStep != 0 || sz.H%SideStep != 0 || sz.W > MaxSide || sz.H > MaxSide || sz.W < 16 || sz.H < 16 {
			t.Fatalf("%q accepted as %v", s, sz)
		}
	})
}
