package mjpegfile

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/packaging/testenv"
)

// pictures are n distinct baseline JPEGs of w×h.
func pictures(t testing.TB, n, w, h int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for j := range img.Y {
			img.Y[j] = byte(j*7 + i*40)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

func write(t testing.TB, name string, parts ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, bytes.Join(parts, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// collect runs src until it has emitted n frames.
func collect(t *testing.T, src *Source, n int) []capture.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []capture.Frame
	err := src.Run(ctx, func(f capture.Frame) {
		mu.Lock()
		defer mu.Unlock()
		if got = append(got, f); len(got) == n {
			cancel()
		}
	})
	if err != nil || len(got) < n {
		t.Fatalf("run: %v after %d of %d frames", err, len(got), n)
	}
	return got
}

// TestStreamLoopsByteForByte: a stream of concatenated pictures (padding
// between two of them) loops in order, each frame the file's bytes.
func TestStreamLoopsByteForByte(t *testing.T) {
	pics := pictures(t, 3, 320, 240)
	path := write(t, "clip.mjpeg", pics[0], []byte{0, 0, 0}, pics[1], pics[2])
	src, err := Open(path, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if sizes, _ := src.Sizes(); src.Frames() != 3 || src.Interval() != 20*time.Millisecond || sizes[0] != (capture.Size{W: 320, H: 240}) {
		t.Fatalf("%d frames, %v, %v", src.Frames(), src.Interval(), sizes)
	}
	for i, f := range collect(t, src, 7) {
		if !bytes.Equal(f.JPEG, pics[i%3]) || f.Width != 320 || f.Height != 240 {
			t.Fatalf("frame %d: %d bytes, %dx%d; want picture %d byte for byte", i, len(f.JPEG), f.Width, f.Height, i%3)
		}
	}
}

// noisy are n distinct baseline JPEGs of w×h whose noise keeps them
// large, as a detailed camera picture is.
func noisy(t testing.TB, n, w, h int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := range n {
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		x := uint32(i + 1)
		for j := range img.Y {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			img.Y[j] = byte(x)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Bytes())
	}
	return out
}

// TestLargeFileReadEachTick: a file over heldBytes is not held in memory
// but read a frame a tick, each frame its own buffer with the file's
// bytes, through the end of the file and round again.
func TestLargeFileReadEachTick(t *testing.T) {
	pics := noisy(t, 4, 640, 480)
	var parts [][]byte
	size := 0
	for i := 0; size <= heldBytes; i++ {
		parts = append(parts, pics[i%len(pics)])
		size += len(pics[i%len(pics)])
	}
	path := write(t, "large.mjpeg", parts...)
	src, err := Open(path, 200)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.held != nil || src.Frames() != len(parts) {
		t.Fatalf("a file of %d bytes: held %v, %d frames; want read a tick, %d frames", size, src.held != nil, src.Frames(), len(parts))
	}
	got := collect(t, src, len(parts)+len(pics))
	for i, f := range got {
		if want := parts[int(f.Seq)%len(parts)]; !bytes.Equal(f.JPEG, want) || f.Width != 640 || f.Height != 480 {
			t.Fatalf("frame %d (seq %d): %d bytes, %dx%d; want the file's picture %d, %d bytes",
				i, f.Seq, len(f.JPEG), f.Width, f.Height, int(f.Seq)%len(parts), len(want))
		}
		if i > 0 && &f.JPEG[0] == &got[i-1].JPEG[0] {
			t.Fatalf("frames %d and %d share a buffer", i-1, i)
		}
	}
	if last := got[len(got)-1].Seq; last < uint64(len(parts)) {
		t.Fatalf("the last frame is seq %d: the loop never came round (%d frames)", last, len(parts))
	}
}

// TestAVIFromFFmpeg: ffmpeg's AVI of the pictures (copied, not
// transcoded) gives the same bytes at the AVI's rate.
func TestAVIFromFFmpeg(t *testing.T) {
	testenv.NeedTools(t, "ffmpeg")
	pics := pictures(t, 4, 640, 480)
	in := write(t, "in.mjpeg", pics...)
	avi := filepath.Join(t.TempDir(), "out.avi")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-framerate", "25", "-f", "mjpeg", "-i", in, "-c", "copy", "-f", "avi", avi).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	src, err := Open(avi, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// ffmpeg writes 25 fps as 50 with an empty chunk after each
	// picture: each picture still lasts 40 ms.
	if loop := time.Duration(src.Frames()) * src.Interval(); loop != 160*time.Millisecond {
		t.Fatalf("%d frames every %v: a loop of %v; want 4 pictures of 40ms (the AVI's rate, not the 5 fps given)", src.Frames(), src.Interval(), loop)
	}
	perPicture := src.Frames() / 4
	for i, f := range collect(t, src, src.Frames()) {
		if want := pics[i/perPicture]; !bytes.Equal(f.JPEG, want) {
			t.Errorf("frame %d differs from picture %d muxed (%d vs %d bytes)", i, i/perPicture, len(f.JPEG), len(want))
		}
	}
}

// TestRefusedAtOpen: files that can't be streamed are refused at start,
// saying why and where.
func TestRefusedAtOpen(t *testing.T) {
	pic := pictures(t, 1, 64, 64)[0]
	progressive := bytes.Replace(pic, []byte{0xFF, 0xC0}, []byte{0xFF, 0xC2}, 1)
	big := image.NewGray(image.Rect(0, 0, 2048, 16))
	for i := range big.Pix {
		big.Pix[i] = color.Gray{Y: byte(i)}.Y
	}
	var wide bytes.Buffer
	jpeg.Encode(&wide, big, nil)
	for _, tc := range []struct {
		name string
		data [][]byte
		says string
	}{
		{"empty", nil, "too short"},
		{"short", [][]byte{[]byte("not video")}, "neither an MJPEG stream"},
		{"text", [][]byte{[]byte("hello, this is not video")}, "neither an MJPEG stream"},
		{"mkv", [][]byte{{0x1A, 0x45, 0xDF, 0xA3, 0, 0, 0, 0, 0, 0, 0, 0}}, "Matroska"},
		{"progressive", [][]byte{pic, progressive}, "frame 2"},
		{"truncated", [][]byte{pic, pic[:len(pic)/2]}, "truncated"},
		{"too wide", [][]byte{wide.Bytes()}, "RTP/JPEG carries"},
	} {
		_, err := Open(write(t, "f", tc.data...), 30)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.mjpeg"), 30); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
