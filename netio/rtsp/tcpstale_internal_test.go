package rtsp

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
)

// writeRecorder is the connection under a staleConn: it keeps what
// reaches it.
type writeRecorder struct {
	net.Conn
	got [][]byte
}

func (w *writeRecorder) Write(b []byte) (int, error) {
	w.got = append(w.got, append([]byte(nil), b...))
	return len(b), nil
}

// interleaved is one '$' frame on channel ch holding an RTP packet of
// payload type pt at RTP time ts (or, with rtcp, a sender report).
func interleaved(ch byte, pt byte, ts uint32, marker bool) []byte {
	p := make([]byte, rtpHeaderSize+8)
	p[0] = 2 << 6
	p[1] = pt
	if marker {
		p[1] |= 0x80
	}
	binary.BigEndian.PutUint32(p[4:8], ts)
	b := []byte{'$', ch, 0, 0}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(p)))
	return append(b, p...)
}

// TestStaleConnDropsWholePictures: a picture stale when its first packet
// comes is dropped, all its packets, even if the clock then moves; a
// fresh one goes out whole, even if it turns stale halfway; RTCP, RTSP
// text and other payload types always pass.
func TestStaleConnDropsWholePictures(t *testing.T) {
	epoch := time.Unix(1000, 0)
	now := epoch.Add(10 * time.Second)
	rec := &writeRecorder{}
	c := &staleConn{Conn: rec, epoch: epoch, now: func() time.Time { return now }}
	at := func(d time.Duration) uint32 { return uint32(d.Seconds() * jpegClockRate) }

	old := at(10*time.Second - staleAfter - 50*time.Millisecond)
	fresh := at(10*time.Second - 20*time.Millisecond)
	writes := [][]byte{
		interleaved(0, rtpJPEGType, old, false),
		interleaved(0, rtpJPEGType, old, true),       // dropped: the same picture
		interleaved(1, 200, old, false),              // a sender report passes
		[]byte("RTSP/1.0 200 OK\r\nCSeq: 5\r\n\r\n"), // a reply passes
		interleaved(0, rtpJPEGType, fresh, false),
		interleaved(0, rtpJPEGType, fresh, true),
	}
	for i, w := range writes {
		if i == 5 {
			now = now.Add(time.Second) // stale by now, but started fresh
		}
		if n, err := c.Write(w); n != len(w) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	want := []int{2, 3, 4, 5}
	if len(rec.got) != len(want) {
		t.Fatalf("%d writes reached the connection, want %d (writes %v)", len(rec.got), len(want), want)
	}
	for i, w := range want {
		if string(rec.got[i]) != string(writes[w]) {
			t.Errorf("write %d reaching the connection is not write %d", i, w)
		}
	}
	if c.dropped != 1 {
		t.Errorf("dropped %d pictures, want 1", c.dropped)
	}
}

// TestStaleAgeWraps: the 90 kHz clock wraps every 13.25 hours; age is
// taken modulo it.
func TestStaleAgeWraps(t *testing.T) {
	epoch := time.Unix(0, 0)
	wrap := time.Duration(int64(1<<32) * int64(time.Second) / jpegClockRate)
	now := epoch.Add(wrap + 100*time.Millisecond)
	c := &staleConn{epoch: epoch, now: func() time.Time { return now }}
	ts := uint32(uint64((wrap-100*time.Millisecond).Seconds()*jpegClockRate) & 0xffffffff)
	if a := c.age(ts); a < 190*time.Millisecond || a > 210*time.Millisecond {
		t.Errorf("age across the wrap: %v, want 200ms", a)
	}
}
