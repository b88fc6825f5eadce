package v4l2

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/capture/encode"
	"github.com/vladimirvivien/go4vl/v4l2"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Devices that are not cameras fail with one clear error. Real cameras
// (vivid, v4l2loopback) are exercised in the VM: make vmtest.
func TestOpenRejectsNonCameras(t *testing.T) {
	file := filepath.Join(t.TempDir(), "video0")
	if err := os.WriteFile(file, []byte("not a camera"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		is   error
		says string
	}{
		{"/dev/null", ErrNotCapture, "not a video capture device"},
		{file, ErrNotCapture, "not a character device"},
		{"/dev/video-missing", nil, "no such device"},
	} {
		_, err := Open(tc.path, Config{}, quiet)
		if err == nil {
			t.Fatalf("%s opened", tc.path)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v does not wrap %v", tc.path, err, tc.is)
		}
		if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %q should name the path and say %q", tc.path, err, tc.says)
		}
	}
	if _, err := Open("/dev/null", Config{Quality: 101}, quiet); err == nil || !strings.Contains(err.Error(), "quality") {
		t.Errorf("quality 101: %v", err)
	}
}

func TestEnumerateListsOnlyCaptureNodes(t *testing.T) {
	devs, err := Enumerate()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.Card == "" || !strings.HasPrefix(d.Path, "/dev/video") {
			t.Errorf("listed %+v", d)
		}
	}
}

func TestFormatPreference(t *testing.T) {
	yuyv, mjpg, h264, nv12 := v4l2.PixelFmtYUYV, v4l2.PixelFmtMJPEG, v4l2.PixelFmtH264, fourcc("NV12")
	if got := formatList(candidates([]v4l2.FourCCType{yuyv, h264, nv12, mjpg})); got != "MJPG, NV12, YUYV" {
		t.Errorf("candidates = %s, want MJPG, NV12, YUYV", got)
	}
	if got := candidates([]v4l2.FourCCType{h264, fourcc("BA81")}); len(got) != 0 {
		t.Errorf("H264 and Bayer should not be taken: %s", formatList(got))
	}
	if fourccString(fourcc("YU12")) != "YU12" || fourccString(v4l2.PixelFmtRGB24) != "RGB3" || fourccString(fourcc("Y16 ")|1<<31) != "Y16-BE" {
		t.Error("fourcc round trip")
	}
}

func TestRawFrameStride(t *testing.T) {
	for _, tc := range []struct {
		code   v4l2.FourCCType
		bpl    uint32
		layout encode.PixelFormat
		stride int
	}{
		{v4l2.PixelFmtYUYV, 0, encode.YUYV, 1280},
		{v4l2.PixelFmtYUYV, 1536, encode.YUYV, 1536},
		{fourcc("NV12"), 0, encode.NV12, 640},
		{v4l2.PixelFmtRGB24, 0, encode.RGB, 1920},
		{fourcc("YU12"), 704, encode.I420, 704},
	} {
		r, err := rawFrame(v4l2.PixFormat{Width: 640, Height: 480, PixelFormat: tc.code, BytesPerLine: tc.bpl}, nil)
		if err != nil || r.Format != tc.layout || r.Stride != tc.stride || r.Width != 640 || r.Height != 480 {
			t.Errorf("%s bpl %d: %+v %v, want %v stride %d", fourccString(tc.code), tc.bpl, r, err, tc.layout, tc.stride)
		}
	}
	if _, err := rawFrame(v4l2.PixFormat{PixelFormat: v4l2.PixelFmtMJPEG}, nil); err == nil {
		t.Error("MJPEG is not a raw frame")
	}
}
