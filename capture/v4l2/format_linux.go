package v4l2

import (
	"fmt"
	"strings"

	"github.com/lsbroadcast/lsbroadcast/capture/encode"
	"github.com/vladimirvivien/go4vl/v4l2"
)

// fourcc builds a V4L2 pixel format code from its four characters, for the
// formats go4vl has no name for.
func fourcc(s string) v4l2.FourCCType {
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

// fourccString spells a pixel format code, e.g. "YUYV".
func fourccString(f v4l2.FourCCType) string {
	// The top bit marks the big-endian twin of a format (V4L2_PIX_FMT_FLAG_BE_FOURCC).
	be := f&(1<<31) != 0
	f &^= 1 << 31
	b := []byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}
	s := strings.TrimRight(string(b), " \x00")
	if be {
		s += "-BE"
	}
	return s
}

// wanted lists the formats we take, best first: JPEG passes through for
// almost no CPU; of the raw ones, those libjpeg-turbo takes as planar YUV
// with least rearranging come first, RGB last.
var wanted = []struct {
	code v4l2.FourCCType
	// raw is the encoder's layout, or -1 for JPEG passed through.
	raw encode.PixelFormat
}{
	{v4l2.PixelFmtMJPEG, -1},
	{v4l2.PixelFmtJPEG, -1},
	{fourcc("YU12"), encode.I420},
	{fourcc("NV12"), encode.NV12},
	{v4l2.PixelFmtYUYV, encode.YUYV},
	{v4l2.PixelFmtUYVY, encode.UYVY},
	{v4l2.PixelFmtRGB24, encode.RGB},
	{fourcc("BGR3"), encode.BGR},
}

// passThrough says whether frames of format f are already JPEG.
func passThrough(f v4l2.FourCCType) bool {
	return f == v4l2.PixelFmtMJPEG || f == v4l2.PixelFmtJPEG
}

// rawFormat is the encoder's layout for code, if we take it.
func rawFormat(code v4l2.FourCCType) (encode.PixelFormat, bool) {
	for _, w := range wanted {
		if w.code == code && w.raw >= 0 {
			return w.raw, true
		}
	}
	return 0, false
}

// candidates orders the device's formats by preference, dropping those we
// cannot take.
func candidates(offered []v4l2.FourCCType) []v4l2.FourCCType {
	var out []v4l2.FourCCType
	for _, w := range wanted {
		for _, o := range offered {
			if o == w.code {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

func formatList(fs []v4l2.FourCCType) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = fourccString(f)
	}
	return strings.Join(names, ", ")
}

// rawFrame describes a buffer of format f as the encoder's input.
func rawFrame(f v4l2.PixFormat, pix []byte) (encode.Raw, error) {
	layout, ok := rawFormat(f.PixelFormat)
	if !ok {
		return encode.Raw{}, fmt.Errorf("pixel format %s is not encodable", fourccString(f.PixelFormat))
	}
	stride := int(f.BytesPerLine)
	if stride == 0 {
		// Some drivers leave bytesperline to the reader: rows unpadded.
		stride = int(f.Width) * map[encode.PixelFormat]int{encode.YUYV: 2, encode.UYVY: 2, encode.RGB: 3, encode.BGR: 3}[layout]
		if stride == 0 {
			stride = int(f.Width)
		}
	}
	return encode.Raw{Format: layout, Width: int(f.Width), Height: int(f.Height), Stride: stride, Pix: pix}, nil
}
