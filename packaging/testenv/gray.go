package testenv

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

// Gray decodes a JPEG into one byte a pixel, rows packed, as the test
// pattern's reader (capture/pattern.Read) takes a picture that went
// through an encoder or over the network.
func Gray(t testing.TB, jpg []byte) (pix []byte, w, h int) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatalf("not a JPEG: %v", err)
	}
	b := img.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			g.Set(x, y, img.At(x, y))
		}
	}
	return g.Pix, b.Dx(), b.Dy()
}
