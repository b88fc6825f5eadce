package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/lsbroadcast/lsbroadcast/capture/encode"
)

// scene is camera-like content in packed YUYV: a picture whose detail
// falls off with frequency as a photograph's does (fractal value noise
// over smooth gradients), panning slowly, with per-frame sensor noise.
// Flat colour or colour bars would flatter every JPEG encoder and make
// frames a fraction of a camera's size, so packets per frame, and with them
// the cost of fan-out and of loss, would be unrealistic.
type scene struct {
	w, h   int
	frames [][]byte // YUYV, 2 bytes a pixel
}

// newScene renders n frames of w×h. The seed is fixed so every run, and
// every peer, sees the same pixels.
func newScene(w, h, n int) *scene {
	rng := rand.New(rand.NewPCG(1, 2))
	pan := n * 4 // pixels the view moves over the loop
	bw := w + pan
	luma := fractal(rng, bw, h, 0.55)
	cu := fractal(rng, bw/2+1, h, 0.5)
	cv := fractal(rng, bw/2+1, h, 0.5)
	// Contrast as a lit room has it, then objects with hard edges: the
	// edges and fine stripes are what make camera JPEGs big.
	for i := range luma {
		luma[i] = 0.5 + 2.2*(luma[i]-0.5)
	}
	objects(rng, luma, bw, h, cu, cv, bw/2+1)
	s := &scene{w: w, h: h}
	for f := range n {
		off := f * 4
		px := make([]byte, 2*w*h)
		for y := range h {
			row := px[2*w*y:]
			for x := 0; x < w; x += 2 {
				i := y*bw + off + x
				c := y*(bw/2+1) + (off+x)/2
				// Gradient: a lit wall, darker towards the bottom right.
				g := 60 * float64(x+y) / float64(w+h)
				row[2*x] = clamp(40 + 150*luma[i] - g + rng.NormFloat64()*2.5)
				row[2*x+1] = clamp(128 + 60*(cu[c]-0.5) + rng.NormFloat64()*1.5)
				row[2*x+2] = clamp(40 + 150*luma[i+1] - g + rng.NormFloat64()*2.5)
				row[2*x+3] = clamp(128 + 60*(cv[c]-0.5) + rng.NormFloat64()*1.5)
			}
		}
		s.frames = append(s.frames, px)
	}
	return s
}

// objects draws rectangles and discs of their own brightness and colour,
// some striped, into the luma (w wide) and chroma (cw wide) planes.
func objects(rng *rand.Rand, luma []float64, w, h int, cu, cv []float64, cw int) {
	for range 40 {
		x0, y0 := rng.IntN(w), rng.IntN(h)
		rw, rh := 20+rng.IntN(w/6), 20+rng.IntN(h/5)
		level, du, dv := rng.Float64(), rng.Float64()*0.6-0.3, rng.Float64()*0.6-0.3
		disc, stripes := rng.IntN(3) == 0, rng.IntN(4) == 0
		period := 3 + rng.IntN(6)
		for y := y0; y < min(h, y0+rh); y++ {
			for x := x0; x < min(w, x0+rw); x++ {
				if disc {
					dx, dy := float64(x-x0)/float64(rw)-0.5, float64(y-y0)/float64(rh)-0.5
					if dx*dx+dy*dy > 0.25 {
						continue
					}
				}
				v := level + 0.15*float64(y-y0)/float64(rh) // lit from above
				if stripes && (x/period)%2 == 0 {
					v *= 0.4
				}
				luma[y*w+x] = 0.3*luma[y*w+x] + 0.7*v
				if c := y*cw + x/2; c < len(cu) {
					cu[c], cv[c] = 0.5+du, 0.5+dv
				}
			}
		}
	}
}

func clamp(v float64) byte {
	return byte(min(255, max(0, v+0.5)))
}

// fractal returns w×h values in [0,1]: octaves of bilinear value noise,
// each twice as fine and persistence times as strong as the last.
func fractal(rng *rand.Rand, w, h int, persistence float64) []float64 {
	out := make([]float64, w*h)
	amp, total := 1.0, 0.0
	for cell := 256; cell >= 2; cell /= 2 {
		gw, gh := w/cell+2, h/cell+2
		grid := make([]float64, gw*gh)
		for i := range grid {
			grid[i] = rng.Float64()
		}
		for y := range h {
			gy, fy := y/cell, float64(y%cell)/float64(cell)
			for x := range w {
				gx, fx := x/cell, float64(x%cell)/float64(cell)
				a := grid[gy*gw+gx]*(1-fx) + grid[gy*gw+gx+1]*fx
				b := grid[(gy+1)*gw+gx]*(1-fx) + grid[(gy+1)*gw+gx+1]*fx
				out[y*w+x] += amp * (a*(1-fy) + b*fy)
			}
		}
		total += amp
		amp *= persistence
	}
	for i := range out {
		out[i] /= total
	}
	return out
}

// raw returns frame i as an encode.Raw.
func (s *scene) raw(i int) encode.Raw {
	return encode.Raw{Format: encode.YUYV, Width: s.w, Height: s.h, Stride: 2 * s.w, Pix: s.frames[i%len(s.frames)]}
}

// writeJPEGs encodes every frame at quality q into dir as f000.jpg, … and
// returns the printf pattern GStreamer's multifilesrc takes, and the mean
// frame size.
func (s *scene) writeJPEGs(dir string, q int) (pattern string, meanBytes int, err error) {
	c, err := encode.NewCompressor()
	if err != nil {
		return "", 0, err
	}
	defer c.Close()
	total := 0
	for i := range s.frames {
		j, err := c.Encode(s.raw(i), q)
		if err != nil {
			return "", 0, fmt.Errorf("encode scene frame %d: %w", i, err)
		}
		total += len(j)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.jpg", i)), j, 0o644); err != nil {
			return "", 0, err
		}
	}
	return filepath.Join(dir, "f%03d.jpg"), total / len(s.frames), nil
}

// writeAVI muxes the JPEG files of writeJPEGs, untouched, into an MJPEG
// AVI at fps, the file lsbroadcast's --source gocv:FILE loops, with the
// files looped loops times more.
func writeAVI(pattern, out string, fps, loops int) error {
	cmd := exec.Command("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", fmt.Sprint(loops),
		"-framerate", fmt.Sprint(fps), "-i", pattern, "-c:v", "copy", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg mux %s: %w: %s", out, err, b)
	}
	return nil
}

// writeMJPEG concatenates the n JPEG files of writeJPEGs, untouched, into
// the MJPEG stream lsbroadcast's --source file:PATH loops.
func writeMJPEG(pattern string, n int, out string) error {
	var all []byte
	for i := range n {
		j, err := os.ReadFile(fmt.Sprintf(pattern, i))
		if err != nil {
			return err
		}
		all = append(all, j...)
	}
	return os.WriteFile(out, all, 0o644)
}

// writeRaw writes every frame into dir as fNNN.yuyv for the peers' raw
// input, and returns multifilesrc's pattern.
func (s *scene) writeRaw(dir string) (string, error) {
	for i, f := range s.frames {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.yuyv", i)), f, 0o644); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "f%03d.yuyv"), nil
}
