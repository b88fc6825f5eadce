package main

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"unicode"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// systemFonts are the fallbacks after the Go font, in the order they are
// tried for a character the fonts before them lack. Paths, not fontconfig:
// the window must not depend on a library for a handful of files, and a
// missing file is just skipped. Only outline fonts draw here: colour
// bitmap fonts (Noto Color Emoji's CBDT, Apple's sbix) are skipped when
// their glyphs turn out to have no outlines.
var systemFonts = []string{
	// Chinese, Japanese, Korean (Debian: fonts-noto-cjk); index 0 of the
	// collection is the Japanese one, which has every CJK ideograph.
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
	// Emoji as outlines (Debian: fonts-symbola).
	"/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
	"/usr/share/fonts/truetype/ancient-scripts/Symbola.ttf",
	// Arabic, Hebrew and many symbols (Debian: fonts-dejavu-core).
	"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
	"/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
	// macOS and Windows, where their own fonts cover the same scripts.
	"/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
	"/System/Library/Fonts/PingFang.ttc",
	`C:\Windows\Fonts\msyh.ttc`,
	`C:\Windows\Fonts\seguisym.ttf`,
	`C:\Windows\Fonts\arial.ttf`,
}

// maxRuneCache bounds the memory of which font draws which character.
const maxRuneCache = 8192

// fontChain is a font.Face that draws each character with the first font
// of a chain that has a glyph for it: the Go font first, then systemFonts.
// A system font is read only when a character first needs it, so a viewer
// that never sees CJK never loads 20 MB of it. Not safe for concurrent
// use: the painter runs on the GUI thread.
type fontChain struct {
	size  float64
	links []*fontLink
	buf   sfnt.Buffer
	which map[rune]int // index into links; -1: no font has it
}

// fontLink is one font of the chain, loaded on first use.
type fontLink struct {
	path   string
	tried  bool
	font   *sfnt.Font
	face   font.Face
	broken bool // unreadable or not an outline font
}

func newFontChain(size float64, paths []string) (*fontChain, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, fmt.Errorf("parse Go font: %w", err)
	}
	c := &fontChain{size: size, which: map[rune]int{}}
	first := &fontLink{path: "Go Regular", tried: true, font: f}
	if first.face, err = c.newFace(f); err != nil {
		return nil, fmt.Errorf("Go font face: %w", err)
	}
	c.links = append(c.links, first)
	for _, p := range paths {
		c.links = append(c.links, &fontLink{path: p})
	}
	return c, nil
}

func (c *fontChain) newFace(f *sfnt.Font) (font.Face, error) {
	return opentype.NewFace(f, &opentype.FaceOptions{Size: c.size, DPI: 72, Hinting: font.HintingFull})
}

// load reads a system font the first time it is asked for.
func (c *fontChain) load(l *fontLink) bool {
	if l.tried {
		return !l.broken
	}
	l.tried, l.broken = true, true
	b, err := os.ReadFile(l.path)
	if err != nil {
		return false
	}
	var f *sfnt.Font
	if filepath.Ext(l.path) == ".ttc" {
		coll, err := opentype.ParseCollection(b)
		if err != nil || coll.NumFonts() == 0 {
			return false
		}
		if f, err = coll.Font(0); err != nil {
			return false
		}
	} else if f, err = opentype.Parse(b); err != nil {
		return false
	}
	face, err := c.newFace(f)
	if err != nil {
		return false
	}
	l.font, l.face, l.broken = f, face, false
	return true
}

// pick is the index of the link that draws r, or -1.
func (c *fontChain) pick(r rune) int {
	if i, ok := c.which[r]; ok {
		return i
	}
	i := -1
	for k, l := range c.links {
		if c.has(l, r) {
			i = k
			break
		}
	}
	if len(c.which) < maxRuneCache {
		c.which[r] = i
	}
	return i
}

// has says whether l draws r: it maps r to a glyph that has an outline
// (or is a space).
func (c *fontChain) has(l *fontLink, r rune) bool {
	if !c.load(l) {
		return false
	}
	x, err := l.font.GlyphIndex(&c.buf, r)
	if err != nil || x == 0 {
		return false
	}
	if unicode.IsSpace(r) {
		return true
	}
	segs, err := l.font.LoadGlyph(&c.buf, x, fixed.I(int(c.size)), nil)
	return err == nil && len(segs) > 0
}

// faceFor is the face that draws r and the rune to draw: '�' when no font
// of the chain has r.
func (c *fontChain) faceFor(r rune) (font.Face, rune) {
	if i := c.pick(r); i >= 0 {
		return c.links[i].face, r
	}
	if i := c.pick('\uFFFD'); i >= 0 {
		return c.links[i].face, '\uFFFD'
	}
	return c.links[0].face, r
}

// Has says whether some font of the chain has a glyph for r.
func (c *fontChain) Has(r rune) bool { return c.pick(r) >= 0 }

func (c *fontChain) Close() error {
	for _, l := range c.links {
		if l.face != nil {
			l.face.Close()
		}
	}
	return nil
}

func (c *fontChain) Glyph(dot fixed.Point26_6, r rune) (image.Rectangle, image.Image, image.Point, fixed.Int26_6, bool) {
	f, r := c.faceFor(r)
	return f.Glyph(dot, r)
}

func (c *fontChain) GlyphBounds(r rune) (fixed.Rectangle26_6, fixed.Int26_6, bool) {
	f, r := c.faceFor(r)
	return f.GlyphBounds(r)
}

// GlyphAdvance is false for a character no font of the chain has.
func (c *fontChain) GlyphAdvance(r rune) (fixed.Int26_6, bool) {
	if c.pick(r) < 0 {
		return 0, false
	}
	f, r := c.faceFor(r)
	return f.GlyphAdvance(r)
}

// Kern applies between two characters of one font only.
func (c *fontChain) Kern(r0, r1 rune) fixed.Int26_6 {
	i := c.pick(r0)
	if i < 0 || i != c.pick(r1) {
		return 0
	}
	return c.links[i].face.Kern(r0, r1)
}

// Metrics are the Go font's: lines keep one height whatever they hold.
func (c *fontChain) Metrics() font.Metrics { return c.links[0].face.Metrics() }

// rightToLeft says whether r is a letter of a right-to-left script.
func rightToLeft(r rune) bool {
	return unicode.In(r, unicode.Arabic, unicode.Hebrew, unicode.Syriac, unicode.Thaana, unicode.Nko)
}

// visualOrder reverses each run of right-to-left letters (with the
// spaces between them), so Arabic and Hebrew words read in their order
// inside a left-to-right line. It is not the Unicode bidi algorithm and
// does no Arabic shaping: letters show in their isolated forms.
func visualOrder(s string) string {
	rs := []rune(s)
	rtl := false
	for _, r := range rs {
		if rightToLeft(r) {
			rtl = true
			break
		}
	}
	if !rtl {
		return s
	}
	for i := 0; i < len(rs); {
		if !rightToLeft(rs[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(rs) {
			if rightToLeft(rs[j]) {
				j++
				continue
			}
			// Spaces and marks between two right-to-left letters belong
			// to the run.
			k := j
			for k < len(rs) && (rs[k] == ' ' || unicode.Is(unicode.Mn, rs[k])) {
				k++
			}
			if k < len(rs) && k > j && rightToLeft(rs[k]) {
				j = k
				continue
			}
			break
		}
		for a, b := i, j-1; a < b; a, b = a+1, b-1 {
			rs[a], rs[b] = rs[b], rs[a]
		}
		i = j
	}
	return string(rs)
}
