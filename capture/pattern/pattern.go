// Package pattern is the built-in test source: colour bars that scroll, a
// caption with the frame number and the wall-clock time, and a machine-
// readable strip at the bottom that carries the frame number and the
// capture time, so tests and viewers can check order and latency from the
// decoded picture alone.
package pattern

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/encode"
)

// Bars are the colours of the scrolling bars, left to right: 75% white,
// yellow, cyan, green, magenta, red, blue, as in SMPTE bars.
var Bars = [7]color.RGBA{
	{191, 191, 191, 255}, {191, 191, 0, 255}, {0, 191, 191, 255}, {0, 191, 0, 255},
	{191, 0, 191, 255}, {191, 0, 0, 255}, {0, 0, 191, 255},
}

// Source generates the test pattern at a fixed size and rate.
type Source struct {
	Size    capture.Size
	FPS     int
	Quality int
	Workers int // encoder goroutines; defaults to the number of CPUs
	// Message, when set, turns the pattern into a slate: the message large
	// on grey, e.g. NO SIGNAL while a camera is away.
	Message string
}

// Name implements capture.Source.
func (s *Source) Name() string {
	if s.Message != "" {
		return "Slate: " + s.Message
	}
	return "Test pattern"
}

// Run implements capture.Source. Frames are timed from the start so the
// rate holds on average; when encoding falls behind, ticks are skipped
// rather than queued.
func (s *Source) Run(ctx context.Context, emit capture.Emit) error {
	if s.FPS <= 0 {
		return fmt.Errorf("pattern: fps %d must be positive", s.FPS)
	}
	r, err := newRenderer(s.Size, s.Message)
	if err != nil {
		return err
	}
	workers := s.Workers
	if workers <= 0 {
		workers = 2
	}
	// Buffers circulate between the renderer and the pool: a fixed set, so
	// memory stays bounded whatever the encoder's speed.
	free := make(chan *image.RGBA, 2*workers+1)
	for range cap(free) {
		free <- image.NewRGBA(image.Rect(0, 0, s.Size.W, s.Size.H))
	}
	pool := encode.Pool{Workers: s.Workers, Quality: s.Quality}
	return pool.Feed(ctx, emit, func(ctx context.Context, send encode.Send) error {
		interval := time.Second / time.Duration(s.FPS)
		start := time.Now()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for tick := uint64(0); ; {
			select {
			case <-ctx.Done():
				return nil
			case <-timer.C:
			}
			var img *image.RGBA
			select {
			case <-ctx.Done():
				return nil
			case img = <-free:
			}
			now := time.Now()
			seq := max(uint64(now.Sub(start)/interval), tick)
			r.render(img, seq, now)
			if !send(encode.Job{
				Raw:      encode.Raw{Format: encode.RGBA, Width: s.Size.W, Height: s.Size.H, Stride: img.Stride, Pix: img.Pix},
				Seq:      seq,
				Captured: now,
				Done:     func() { free <- img },
			}) {
				return nil
			}
			tick = seq + 1
			timer.Reset(time.Until(start.Add(time.Duration(tick) * interval)))
		}
	})
}

// Close implements capture.Source: the pattern holds nothing between runs.
func (s *Source) Close() error { return nil }

var _ capture.Source = (*Source)(nil)

// Layout of the strip: Cells cells across the width in two rows at the
// bottom of the frame, each row StripRows tall in eighths of the frame height
// over 8. Cell 0 is always white and the last cell always black, so a reader
// can tell a strip from noise; the 32 cells between carry a number, most
// significant bit first, white for 1.
const (
	Cells     = 34
	stripFrac = 16 // each strip row is Height/16 tall
)

// StripRows gives the centre line of the counter row and the clock row for a
// frame of height h.
func StripRows(h int) (counter, clock int) {
	band := h / stripFrac
	return h - 2*band + band/2, h - band + band/2
}

type renderer struct {
	size    capture.Size
	message string
	big     font.Face
	bars    []byte // two frame widths of bar pixels, one row, RGBA
	ramp    []byte // one row of the grey ramp, RGBA
	face    font.Face
	textH   int
}

// SlateGrey is the background of a slate.
const SlateGrey = 48

func newRenderer(sz capture.Size, message string) (*renderer, error) {
	if sz.W < 16 || sz.H < 16 {
		return nil, fmt.Errorf("pattern: size %s too small", sz)
	}
	r := &renderer{size: sz, message: message, bars: make([]byte, 8*sz.W), ramp: make([]byte, 4*sz.W)}
	for x := range 2 * sz.W {
		c := Bars[(x%sz.W)*len(Bars)/sz.W]
		if message != "" {
			c = color.RGBA{SlateGrey, SlateGrey, SlateGrey, 255}
		}
		copy(r.bars[4*x:], []byte{c.R, c.G, c.B, 255})
	}
	for x := range sz.W {
		v := byte(x * 255 / (sz.W - 1))
		if message != "" {
			v = SlateGrey
		}
		copy(r.ramp[4*x:], []byte{v, v, v, 255})
	}
	f, err := opentype.Parse(gomonobold.TTF)
	if err != nil {
		return nil, fmt.Errorf("pattern: font: %w", err)
	}
	r.textH = max(sz.H/14, 8)
	r.face, err = opentype.NewFace(f, &opentype.FaceOptions{Size: float64(r.textH), DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return nil, fmt.Errorf("pattern: font face: %w", err)
	}
	if message != "" {
		size := float64(sz.H) / 6
		if w := float64(sz.W) * 0.9 / (0.6 * float64(len([]rune(message)))); w < size {
			size = w // a monospace glyph is 0.6 em wide
		}
		if r.big, err = opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull}); err != nil {
			return nil, fmt.Errorf("pattern: font face: %w", err)
		}
	}
	return r, nil
}

func (r *renderer) render(img *image.RGBA, seq uint64, now time.Time) {
	w, h := r.size.W, r.size.H
	band := h / stripFrac
	barsEnd := h - 3*band
	// Bars scroll left by a fortieth of the width a second at 30 fps.
	off := int(seq*uint64(max(w/1200, 1))) % w
	for y := range barsEnd {
		copy(img.Pix[y*img.Stride:y*img.Stride+4*w], r.bars[4*off:])
	}
	for y := barsEnd; y < h-2*band; y++ {
		copy(img.Pix[y*img.Stride:y*img.Stride+4*w], r.ramp)
	}
	r.strip(img, h-2*band, band, uint32(seq))
	r.strip(img, h-band, band, uint32(now.UnixMilli()))

	if r.message != "" {
		d := font.Drawer{Dst: img, Src: image.White, Face: r.big}
		tw := d.MeasureString(r.message).Ceil()
		d.Dot = fixed.P((w-tw)/2, (h-3*band)/2+r.big.Metrics().Ascent.Ceil()/2)
		d.DrawString(r.message)
	}
	caption := []string{
		fmt.Sprintf("lsbroadcast  frame %d", seq),
		now.Format("2006-01-02 15:04:05.000"),
	}
	pad := r.textH / 3
	boxW := 0
	for _, line := range caption {
		boxW = max(boxW, font.MeasureString(r.face, line).Ceil())
	}
	box := image.Rect(pad, pad, min(pad+boxW+2*pad, w), min(pad+len(caption)*(r.textH+pad)+pad, h))
	draw.Draw(img, box, image.Black, image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.White, Face: r.face}
	for i, line := range caption {
		d.Dot = fixed.P(box.Min.X+pad, box.Min.Y+(i+1)*(r.textH+pad)-pad/2)
		d.DrawString(line)
	}
}

// strip draws one row of cells carrying v.
func (r *renderer) strip(img *image.RGBA, y0, rows int, v uint32) {
	w := r.size.W
	row := img.Pix[y0*img.Stride : y0*img.Stride+4*w]
	for i := range Cells {
		on := i == 0 || (i < Cells-1 && v&(1<<(31-(i-1))) != 0)
		c := byte(0)
		if on {
			c = 255
		}
		for x := i * w / Cells; x < (i+1)*w/Cells; x++ {
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = c, c, c, 255
		}
	}
	for y := y0 + 1; y < y0+rows; y++ {
		copy(img.Pix[y*img.Stride:y*img.Stride+4*w], row)
	}
}

// ReadStrip decodes the number in one strip row of a greyscale picture of
// width w (one byte a pixel, rows stride bytes apart) at line y. It reports
// false when the row holds no strip.
func ReadStrip(gray []byte, w, stride, y int) (uint32, bool) {
	if y < 0 || w < Cells || stride < w || y >= len(gray) || y*stride+w > len(gray) {
		return 0, false
	}
	row := gray[y*stride : y*stride+w]
	cell := func(i int) (bit, sure bool) {
		x0, x1 := i*w/Cells, (i+1)*w/Cells
		q := (x1 - x0) / 4
		sum, n := 0, 0
		for x := x0 + q; x < x1-q; x++ {
			sum += int(row[x])
			n++
		}
		if n == 0 {
			return false, false
		}
		m := sum / n
		return m >= 128, m < 64 || m > 192
	}
	if on, sure := cell(0); !on || !sure {
		return 0, false
	}
	if on, sure := cell(Cells - 1); on || !sure {
		return 0, false
	}
	var v uint32
	for i := 1; i < Cells-1; i++ {
		on, sure := cell(i)
		if !sure {
			return 0, false
		}
		if on {
			v |= 1 << (31 - (i - 1))
		}
	}
	return v, true
}

// Read decodes the frame number and the capture time (milliseconds since
// the Unix epoch, low 32 bits) from a greyscale picture of the pattern.
func Read(gray []byte, w, h int) (seq, clockMillis uint32, ok bool) {
	cy, ty := StripRows(h)
	seq, ok1 := ReadStrip(gray, w, w, cy)
	clockMillis, ok2 := ReadStrip(gray, w, w, ty)
	return seq, clockMillis, ok1 && ok2
}
