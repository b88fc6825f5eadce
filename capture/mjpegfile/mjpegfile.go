// Package mjpegfile loops the JPEG frames of a file, byte for byte, at the
// file's rate: a demo or a replay without a camera, and a source that costs
// nothing to decode or encode, so a benchmark measures what comes after
// it. It reads an MJPEG stream of concatenated JPEG pictures (what
// `ffmpeg -f mjpeg` and many IP cameras write; it has no rate of its own,
// so the configured one is used) and MJPEG in AVI (the rate from its
// header; OpenDML files beyond 1 GiB too).
//
// Open indexes the file: every frame is checked once, so a file that
// can't be sent (progressive JPEG, a picture too large for RTP/JPEG, a
// truncated frame) is refused at start with the frame it failed at, never
// midway through a broadcast. A file of at most heldBytes is read into
// memory at Open and each tick hands out its frame's bytes as they lie
// there; a longer one is read a frame per tick with ReadAt, so memory
// stays at a frame whatever the file's length.
package mjpegfile

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// frame is where one picture lies in the file.
type frame struct {
	off  int64
	n    int
	size capture.Size
}

// Source loops a file's frames.
type Source struct {
	path     string
	f        *os.File
	frames   []frame
	interval time.Duration
	// held is the whole file when it is at most heldBytes; frame offsets
	// index it. Nil otherwise.
	held []byte
}

// heldBytes is the longest file kept in memory: some seconds of a
// detailed 720p loop. A held file costs no system call and no allocation
// a frame: a read from the file wakes Go's monitor thread (sysmon) and a
// frame-sized allocation a tick makes garbage to collect, which together
// were a fifth of the sender's CPU at one reader (issue 15). The receivers
// of a capture.Frame never write its JPEG, so every loop hands out the
// same bytes.
const heldBytes = 8 << 20

var _ capture.Source = (*Source)(nil)

// MaxFrame bounds one picture: a 2040×2040 JPEG at the highest quality
// stays well below it.
const MaxFrame = 16 << 20

// Open indexes path. fps is the rate of a file that has none (an MJPEG
// stream); an AVI's own rate wins.
func Open(path string, fps int) (*Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file source: %w", err)
	}
	s := &Source{path: path, f: f}
	if err := s.index(fps); err != nil {
		f.Close()
		return nil, fmt.Errorf("file source %s: %w", path, err)
	}
	if err := s.hold(); err != nil {
		f.Close()
		return nil, fmt.Errorf("file source %s: %w", path, err)
	}
	return s, nil
}

// hold reads the file into memory if it is at most heldBytes.
func (s *Source) hold() error {
	st, err := s.f.Stat()
	if err != nil || st.Size() > heldBytes {
		return nil // read a frame a tick instead
	}
	held := make([]byte, st.Size())
	if _, err := s.f.ReadAt(held, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	for _, fr := range s.frames {
		if fr.off+int64(fr.n) > int64(len(held)) {
			return nil // shorter than indexed (changed since): read as before
		}
	}
	s.held = held
	return nil
}

func (s *Source) index(fps int) error {
	var magic [12]byte
	if _, err := io.ReadFull(s.f, magic[:]); err != nil {
		return errors.New("neither an MJPEG stream nor an AVI: too short to hold a picture")
	}
	switch {
	case string(magic[0:4]) == "RIFF" && string(magic[8:12]) == "AVI ":
		perFrame, err := s.indexAVI()
		if err != nil {
			return err
		}
		if perFrame > 0 {
			s.interval = perFrame
		}
	case magic[0] == 0xFF && magic[1] == 0xD8:
		if err := s.indexStream(); err != nil {
			return err
		}
	case binary.BigEndian.Uint32(magic[0:4]) == 0x1A45DFA3:
		return errors.New("Matroska is not read: remux it to AVI without transcoding (ffmpeg -i IN.mkv -c copy OUT.avi)")
	default:
		return errors.New("neither an MJPEG stream (concatenated JPEG pictures) nor an AVI")
	}
	if len(s.frames) == 0 {
		return errors.New("no JPEG frames in it")
	}
	if s.interval == 0 {
		if fps <= 0 {
			return fmt.Errorf("fps %d must be positive", fps)
		}
		s.interval = time.Second / time.Duration(fps)
	}
	return nil
}

// indexStream finds the pictures of a file of concatenated JPEGs.
func (s *Source) indexStream() error {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := &countingReader{r: bufio.NewReaderSize(s.f, 1<<16)}
	for {
		start := r.n
		b, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		// Some writers pad between pictures.
		if b != 0xFF {
			continue
		}
		size, err := scanJPEG(r, b)
		if err != nil {
			return fmt.Errorf("frame %d (byte %d): %w", len(s.frames)+1, start, err)
		}
		if err := s.add(start, int(r.n-start), size); err != nil {
			return err
		}
	}
}

func (s *Source) add(off int64, n int, size capture.Size) error {
	if n > MaxFrame {
		return fmt.Errorf("frame %d: %d bytes, limit %d", len(s.frames)+1, n, MaxFrame)
	}
	s.frames = append(s.frames, frame{off: off, n: n, size: size})
	return nil
}

// indexAVI walks the RIFF chunks: the main header for the rate, and the
// video chunks (##dc, ##db) of every movi list, in the first RIFF and in
// OpenDML's AVIX extensions that follow it.
func (s *Source) indexAVI() (perFrame time.Duration, err error) {
	st, err := s.f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	videoRate := false
	var walk func(off, end int64, depth int) error
	walk = func(off, end int64, depth int) error {
		if depth > 4 {
			return errors.New("AVI lists nested too deep")
		}
		var hdr [12]byte
		for off+8 <= end {
			if _, err := s.f.ReadAt(hdr[:8], off); err != nil {
				return fmt.Errorf("AVI chunk at byte %d: %w", off, err)
			}
			id, size := string(hdr[0:4]), int64(binary.LittleEndian.Uint32(hdr[4:8]))
			body := off + 8
			if body+size > end {
				// A file cut short while recording: keep what is whole.
				size = end - body
			}
			switch {
			case id == "RIFF" || id == "LIST":
				if _, err := s.f.ReadAt(hdr[8:12], body); err != nil {
					return fmt.Errorf("AVI list at byte %d: %w", off, err)
				}
				switch string(hdr[8:12]) {
				case "AVI ", "AVIX", "hdrl", "strl", "movi", "rec ":
					if err := walk(body+4, body+size, depth+1); err != nil {
						return err
					}
				}
			case id == "avih" && size >= 4 && perFrame == 0:
				var us [4]byte
				if _, err := s.f.ReadAt(us[:], body); err != nil {
					return err
				}
				perFrame = time.Duration(binary.LittleEndian.Uint32(us[:])) * time.Microsecond
			case id == "strh" && size >= 28 && !videoRate:
				// The video stream's own rate (scale/rate seconds a
				// frame) is exact where the main header's rounds.
				var h [28]byte
				if _, err := s.f.ReadAt(h[:], body); err != nil {
					return err
				}
				scale, rate := binary.LittleEndian.Uint32(h[20:24]), binary.LittleEndian.Uint32(h[24:28])
				if string(h[0:4]) == "vids" && scale > 0 && rate > 0 {
					perFrame, videoRate = time.Duration(uint64(scale)*uint64(time.Second)/uint64(rate)), true
				}
			case len(id) == 4 && (id[2:] == "dc" || id[2:] == "db") && size == 0 && len(s.frames) > 0:
				// An empty chunk holds the previous picture for one
				// more frame time.
				s.frames = append(s.frames, s.frames[len(s.frames)-1])
			case len(id) == 4 && (id[2:] == "dc" || id[2:] == "db") && size > 0:
				if size > MaxFrame {
					return fmt.Errorf("frame %d: %d bytes, limit %d", len(s.frames)+1, size, MaxFrame)
				}
				r := &countingReader{r: bufio.NewReader(io.NewSectionReader(s.f, body, size))}
				first, err := r.ReadByte()
				if err != nil {
					return err
				}
				sz, err := scanJPEG(r, first)
				if err != nil {
					return fmt.Errorf("frame %d (byte %d): %w", len(s.frames)+1, body, err)
				}
				// Only the picture: a chunk may carry padding after it.
				if err := s.add(body, int(r.n), sz); err != nil {
					return err
				}
			}
			off = body + size + size&1 // chunks are word-aligned
		}
		return nil
	}
	// The whole file: the first RIFF, then any AVIX.
	return perFrame, walk(0, end, 0)
}

// Name implements capture.Source.
func (s *Source) Name() string { return "File " + filepath.Base(s.path) }

// Sizes is the one size the file's pictures have (its first frame's).
func (s *Source) Sizes() ([]capture.Size, error) { return []capture.Size{s.frames[0].size}, nil }

// Frames is how many pictures one loop holds.
func (s *Source) Frames() int { return len(s.frames) }

// Interval is the time between frames.
func (s *Source) Interval() time.Duration { return s.interval }

// Run implements capture.Source: the frames in order, looping, at the
// file's rate; a tick missed (a slow emit) is skipped, not queued.
func (s *Source) Run(ctx context.Context, emit capture.Emit) error {
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for tick := uint64(0); ; {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now := time.Now()
		seq := max(uint64(now.Sub(start)/s.interval), tick)
		fr := s.frames[seq%uint64(len(s.frames))]
		var buf []byte // handed to the receiver
		if s.held != nil {
			end := fr.off + int64(fr.n)
			buf = s.held[fr.off:end:end]
		} else {
			buf = make([]byte, fr.n)
			if _, err := s.f.ReadAt(buf, fr.off); err != nil {
				return fmt.Errorf("file source %s: %w", s.path, err)
			}
		}
		emit(capture.Frame{JPEG: buf, Seq: seq, Captured: now, Width: fr.size.W, Height: fr.size.H})
		tick = seq + 1
		timer.Reset(time.Until(start.Add(time.Duration(tick) * s.interval)))
	}
}

// Close implements capture.Source.
func (s *Source) Close() error { return s.f.Close() }

// countingReader counts the bytes read, for the frames' offsets.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countingReader) discard(n int) error {
	d, err := c.r.Discard(n)
	c.n += int64(d)
	return err
}

// scanJPEG reads one picture, whose first byte (0xFF) was read, to its end
// of image, and returns its size. It accepts what RTP/JPEG carries: a
// baseline (SOF0) picture no larger than capture.MaxSide once rounded up to
// multiples of 8.
func scanJPEG(r *countingReader, first byte) (capture.Size, error) {
	var size capture.Size
	if b, err := r.ReadByte(); first != 0xFF || err != nil || b != 0xD8 {
		return size, errors.New("not a JPEG picture: no start-of-image marker")
	}
	m, err := nextMarker(r)
	for ; err == nil; m, err = nextMarker(r) {
		switch {
		case m == 0xD9:
			if size.W == 0 {
				return size, errors.New("JPEG picture without a frame header")
			}
			return size, nil
		case m >= 0xD0 && m <= 0xD7 || m == 0x01:
			continue // restart markers and TEM stand alone
		}
		var l [2]byte
		if l[0], err = r.ReadByte(); err == nil {
			l[1], err = r.ReadByte()
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if err != nil || n < 2 {
			return size, errors.New("truncated JPEG segment")
		}
		switch {
		case m == 0xC0:
			var h [5]byte
			for i := range h {
				if h[i], err = r.ReadByte(); err != nil {
					return size, errors.New("truncated JPEG frame header")
				}
			}
			size = capture.Size{W: int(binary.BigEndian.Uint16(h[3:5])), H: int(binary.BigEndian.Uint16(h[1:3]))}
			if size.W == 0 || size.H == 0 || (size.W+7)&^7 > capture.MaxSide || (size.H+7)&^7 > capture.MaxSide {
				return size, fmt.Errorf("picture %s: RTP/JPEG carries 8 to %d pixels a side", size, capture.MaxSide)
			}
			n -= 5
		case m >= 0xC1 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return size, fmt.Errorf("JPEG frame type SOF%d: only baseline (SOF0) pictures travel as RTP/JPEG", m-0xC0)
		}
		if err := r.discard(n - 2); err != nil {
			return size, errors.New("truncated JPEG segment")
		}
		if m == 0xDA {
			// The scan's data ends at the next marker, which it
			// has read.
			if m, err = skipScan(r); err != nil {
				return size, err
			}
			if m == 0xD9 {
				if size.W == 0 {
					return size, errors.New("JPEG picture without a frame header")
				}
				return size, nil
			}
			return size, fmt.Errorf("JPEG marker 0x%02X after the scan: only single-scan baseline pictures travel as RTP/JPEG", m)
		}
	}
	return size, err
}

// nextMarker reads a marker's code, past fill bytes.
func nextMarker(r *countingReader) (byte, error) {
	b, err := r.ReadByte()
	if err != nil || b != 0xFF {
		return 0, errors.New("truncated JPEG picture: marker expected")
	}
	for b == 0xFF {
		if b, err = r.ReadByte(); err != nil {
			return 0, errors.New("truncated JPEG picture")
		}
	}
	return b, nil
}

// skipScan reads entropy-coded data up to and including the next
// marker, and returns that marker's code: a stuffed 0xFF00 and restart
// markers are data.
func skipScan(r *countingReader) (byte, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, errors.New("truncated JPEG picture: scan without an end")
		}
		for b == 0xFF {
			if b, err = r.ReadByte(); err != nil {
				return 0, errors.New("truncated JPEG picture: scan without an end")
			}
			switch {
			case b == 0x00 || b >= 0xD0 && b <= 0xD7:
			case b != 0xFF:
				return b, nil
			}
		}
	}
}
