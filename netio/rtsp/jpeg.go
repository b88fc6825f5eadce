package rtsp

import (
	"errors"
	"math"
	"time"
)

// RTP/JPEG (RFC 2435) carries a picture's width and height in units of 8
// pixels, and a JPEG whose size is not a multiple of 8 cannot be sent as it
// is. Drivers do grant such sizes (vivid offers 320×180 when asked for
// 320×240; some webcams deliver 1280×722), so the picture is sent with its
// size rounded up to the next multiple of 8. That loses nothing: the
// entropy-coded data always covers whole MCUs (8 or 16 pixels), and the few
// extra rows or columns a reader then shows are the encoder's own padding,
// which repeats the picture's edge.

// padTo8 returns jpeg, or a copy of it whose frame header (SOF0) declares
// the size rounded up to a multiple of 8.
func padTo8(jpeg []byte) ([]byte, error) {
	sof, err := findSOF(jpeg)
	if err != nil {
		return nil, err
	}
	h := int(jpeg[sof+5])<<8 | int(jpeg[sof+6])
	w := int(jpeg[sof+7])<<8 | int(jpeg[sof+8])
	if h%8 == 0 && w%8 == 0 {
		return jpeg, nil
	}
	h, w = (h+7)&^7, (w+7)&^7
	out := append([]byte(nil), jpeg...)
	out[sof+5], out[sof+6] = byte(h>>8), byte(h)
	out[sof+7], out[sof+8] = byte(w>>8), byte(w)
	return out, nil
}

// findSOF returns the offset of the baseline frame header's marker, having
// checked that its fields are inside jpeg. Anything else it leaves to the
// RTP/JPEG encoder, which names what it cannot carry.
func findSOF(jpeg []byte) (int, error) {
	if len(jpeg) < 4 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		return 0, errors.New("not a JPEG picture: no start-of-image marker")
	}
	for i := 2; i+4 <= len(jpeg); {
		if jpeg[i] != 0xFF {
			return 0, errors.New("JPEG header: marker expected")
		}
		m := jpeg[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xD9 || m == 0xDA: // end of image, start of scan
			return 0, errors.New("JPEG header: no baseline frame header (SOF0) before the scan")
		}
		n := int(jpeg[i+2])<<8 | int(jpeg[i+3])
		if n < 2 || i+2+n > len(jpeg) {
			return 0, errors.New("JPEG header: truncated segment")
		}
		if m == 0xC0 {
			if n < 8 {
				return 0, errors.New("JPEG header: frame header too short")
			}
			return i, nil
		}
		i += 2 + n
	}
	return 0, errors.New("JPEG header: truncated before the frame header")
}

// CaptureTime maps an RTP time of this package's 90 kHz clock back to the
// wall clock, given the stream's Epoch and a time near the capture (when
// the frame arrived): of the times the 32-bit RTP time may stand for, one
// every 13.25 hours, the one nearest near.
func CaptureTime(epoch time.Time, rtpTime uint32, near time.Time) time.Time {
	const wrap = 1 << 32
	ticks := near.Sub(epoch).Seconds() * jpegClockRate
	k := math.Round((ticks - float64(rtpTime)) / wrap)
	at := (float64(rtpTime) + k*wrap) / jpegClockRate
	return epoch.Add(time.Duration(at * float64(time.Second)))
}
