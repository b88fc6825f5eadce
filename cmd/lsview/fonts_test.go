package main

import (
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// needFont stops the test (skip locally, fail under CI) without a font
// file that `make deps` installs.
func needFont(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		testenv.Unavailable(t, "needs %s (Debian %s; make deps installs it)", path, pkg)
	}
}

// inked renders s with the painter on black and returns the picture and
// how many pixels got ink.
func inked(t *testing.T, p *painter, s string) (*image.RGBA, int) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 200, 30))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.Black), image.Point{}, draw.Src)
	p.text(img, 4, 4, 192, s, color.White)
	n := 0
	for i := 0; i < len(img.Pix); i += 4 {
		if img.Pix[i] > 64 {
			n++
		}
	}
	return img, n
}

// differs counts pixels that differ between two renderings.
func differs(a, b *image.RGBA) int {
	n := 0
	for i := 0; i < len(a.Pix); i += 4 {
		if a.Pix[i] != b.Pix[i] {
			n++
		}
	}
	return n
}

// TestFontChainDrawsEveryScript: CJK, Arabic and emoji come out as
// glyphs, not as the replacement character or the empty box: each
// rendering has ink and differs from "�" drawn as many times.
func TestFontChainDrawsEveryScript(t *testing.T) {
	needFont(t, "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "fonts-noto-cjk")
	needFont(t, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "fonts-dejavu-core")
	p, err := newPainter()
	if err != nil {
		t.Fatal(err)
	}
	chain := p.face.(*fontChain)
	for _, tc := range []struct{ name, text string }{
		{"latin", "café über"},
		{"japanese", "日本語"},
		{"chinese", "你好世界"},
		{"arabic", "مرحبا"},
		{"hebrew", "שלום"},
		{"emoji", "😀☕"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			replacement := ""
			for _, r := range tc.text {
				if !chain.Has(r) {
					t.Errorf("no font of the chain has %q (U+%04X)", r, r)
				}
				if r == ' ' {
					replacement += " "
				} else {
					replacement += "\uFFFD"
				}
			}
			got, ink := inked(t, p, tc.text)
			ref, _ := inked(t, p, replacement)
			save(t, "font-"+tc.name, got)
			if ink < 20 {
				t.Errorf("%q drew %d inked pixels", tc.text, ink)
			}
			if d := differs(got, ref); d < 40 {
				t.Errorf("%q looks like %q (%d pixels differ)", tc.text, replacement, d)
			}
		})
	}
}

func save(t *testing.T, name string, img image.Image) {
	f, err := os.Create(filepath.Join(artifactDir(t), name+".png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	png.Encode(f, img)
}

func TestVisualOrder(t *testing.T) {
	for in, want := range map[string]string{
		"hello":        "hello",
		"abc":          "abc",
		"אבג":          "גבא",
		"hi אבג דה ok": "hi הד גבא ok",
		"x مرحبا y":    "x ابحرم y",
		"日本語 and שלום": "日本語 and םולש",
	} {
		if got := visualOrder(in); got != want {
			t.Errorf("visualOrder(%q) = %q, want %q", in, got, want)
		}
	}
}
