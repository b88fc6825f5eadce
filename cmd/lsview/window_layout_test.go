package main

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// TestWindowLaysOutAtItsSize: the window is laid out at its real size,
// whatever it is resized to: the picture keeps its aspect, the chat's text
// keeps its size in pixels, and the panel sits beside the video in a
// landscape window and below it in a portrait one. Everything is measured
// in the screenshots, not taken from the layout code.
func TestWindowLaysOutAtItsSize(t *testing.T) {
	x := startXvfb(t)
	const picW, picH = 1280, 720
	b := testenv.StartBroadcaster(t, strconv.Itoa(picW)+"x"+strconv.Itoa(picH), 30, nil)
	bin, _ := binaries(t)
	vp := testenv.Start(t, x.command(bin, "--window", "1280x720", "--name", "sizer", b.ChatAddr()))
	id := x.window(t, "lsview", 20*time.Second)

	var titleInk image.Point
	for _, size := range []image.Point{{800, 450}, {1280, 720}, {1920, 1080}, {720, 1280}} {
		name := fmt.Sprintf("layout-%dx%d", size.X, size.Y)
		t.Run(name, func(t *testing.T) {
			if out, err := x.command("xdotool", "windowsize", id, strconv.Itoa(size.X), strconv.Itoa(size.Y)).CombinedOutput(); err != nil {
				t.Fatalf("xdotool windowsize: %v: %s", err, out)
			}
			var shot image.Image
			var bars, panel image.Rectangle
			// The window follows within a beat, but until it has, highgui
			// shows the old canvas stretched: wait for two shots alike.
			for try := 0; try < 20; try++ {
				time.Sleep(300 * time.Millisecond)
				shot = x.shot(t, id, name)
				wasBars, wasPanel := bars, panel
				bars, panel = barsBox(shot), colourBox(shot, panelBG)
				if shot.Bounds().Size() == size && !bars.Empty() && bars == wasBars && panel == wasPanel {
					break
				}
			}
			if got := shot.Bounds().Size(); got != size {
				t.Fatalf("window is %v, want %v", got, size)
			}
			// The bars fill the picture's width and its top 13/16.
			if bars.Empty() {
				t.Fatal("no colour bars in the window")
			}
			shownW, shownH := float64(bars.Dx()), float64(bars.Dy())*16/13
			aspect := shownW / shownH
			if want := float64(picW) / picH; math.Abs(aspect/want-1) > 0.03 {
				t.Errorf("picture shown %.0fx%.0f: aspect %.3f, want %.3f", shownW, shownH, aspect, want)
			}
			// The picture fills the room it has: touches two opposite sides
			// of the area left of or above the panel.
			if panel.Empty() {
				t.Fatal("no chat panel")
			}
			portrait := size.Y > size.X
			if portrait {
				if panel.Min.Y < bars.Max.Y || panel.Min.X != 0 || panel.Max.X != size.X {
					t.Errorf("portrait: panel %v is not below the picture %v across the window", panel, bars)
				}
				if bars.Dx() < size.X-4 {
					t.Errorf("portrait: picture %v does not fill the width %d", bars, size.X)
				}
			} else {
				if panel.Min.X < bars.Max.X || panel.Min.Y != 0 || panel.Max.X != size.X {
					t.Errorf("landscape: panel %v is not beside the picture %v down the window", panel, bars)
				}
				if bars.Dx() < panel.Min.X-4 && shownH < float64(size.Y-statusHeight-6) {
					t.Errorf("landscape: picture %v uses neither the width %d nor the height %d it has", bars, panel.Min.X, size.Y-statusHeight)
				}
			}
			// The panel's title line: the same ink, pixel for pixel in
			// size, in every window.
			ink := inkBox(shot, image.Rect(panel.Min.X, panel.Min.Y, panel.Max.X, panel.Min.Y+textSize+12))
			t.Logf("window %v: picture %.0fx%.0f at %v, panel %v, title ink %v", size, shownW, shownH, bars.Min, panel, ink.Size())
			if ink.Dy() < textSize*3/4 {
				t.Errorf("title ink %v: text smaller than %d px", ink.Size(), textSize)
			}
			if titleInk == (image.Point{}) {
				titleInk = ink.Size()
			} else if ink.Size() != titleInk {
				t.Errorf("title ink %v, was %v in the first window: the text changed size", ink.Size(), titleInk)
			}
		})
	}

	// F2 swaps the status line for the counters behind it.
	status := func(name string) image.Image {
		time.Sleep(800 * time.Millisecond)
		return x.shot(t, id, name)
	}
	plain := status("layout-status")
	x.command("xdotool", "key", "--window", id, "F2").Run()
	details := status("layout-status-details")
	line := image.Rect(0, plain.Bounds().Dy()-statusHeight, plain.Bounds().Dx(), plain.Bounds().Dy())
	if inkBox(plain, line).Dx() == inkBox(details, line).Dx() {
		t.Error("F2 did not change the status line")
	}

	// Every letter is text, "f" on an empty line too: a message may
	// start with it (full screen is F11).
	input := image.Rect(0, line.Min.Y-textSize-20, plain.Bounds().Dx(), line.Min.Y)
	empty := inkBox(details, input).Dx()
	x.command("xdotool", "type", "--window", id, "f").Run()
	if f := inkBox(status("layout-f-on-empty"), input).Dx(); f <= empty {
		t.Errorf("input ink %d after \"f\" on an empty line, %d empty: the f was not typed", f, empty)
	}
	vp.Stop()
}

// barsBox is the bounding box of the pattern's saturated bar colours (the
// grey bar is left out: the grey ramp under the bars matches it).
func barsBox(img image.Image) image.Rectangle {
	var box image.Rectangle
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			for _, bar := range pattern.Bars[1:] {
				if near(r>>8, bar.R) && near(g>>8, bar.G) && near(bl>>8, bar.B) {
					box = box.Union(image.Rect(x, y, x+1, y+1))
					break
				}
			}
		}
	}
	return box
}

// colourBox is the bounding box of the columns and rows that are at
// least a quarter the colour c exactly (a stray pixel of the picture may
// be c too).
func colourBox(img image.Image, c color.RGBA) image.Rectangle {
	b := img.Bounds()
	cols, rows := make([]int, b.Dx()), make([]int, b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B {
				cols[x-b.Min.X]++
				rows[y-b.Min.Y]++
			}
		}
	}
	box := image.Rectangle{Min: b.Max, Max: b.Min}
	for x, n := range cols {
		if n >= b.Dy()/4 {
			box.Min.X, box.Max.X = min(box.Min.X, b.Min.X+x), max(box.Max.X, b.Min.X+x+1)
		}
	}
	for y, n := range rows {
		if n >= b.Dx()/8 {
			box.Min.Y, box.Max.Y = min(box.Min.Y, b.Min.Y+y), max(box.Max.Y, b.Min.Y+y+1)
		}
	}
	return box.Canon()
}

// inkBox is the bounding box of the light text in r.
func inkBox(img image.Image, r image.Rectangle) image.Rectangle {
	var box image.Rectangle
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr>>8 > 120 && cg>>8 > 120 && cb>>8 > 120 {
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return box
}
