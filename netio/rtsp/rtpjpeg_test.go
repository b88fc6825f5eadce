package rtsp

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"
)

// gortsplibPackets is what gortsplib's encoder makes of jpg, numbered
// from seq, marshalled; ok is false where it refuses jpg (or panics on
// it: it reads segment lengths without checking they are there).
func gortsplibPackets(jpg []byte, seq uint16, ts, ssrc uint32) (pkts [][]byte, ok bool) {
	defer func() {
		if recover() != nil {
			pkts, ok = nil, false
		}
	}()
	enc := &rtpmjpeg.Encoder{PayloadMaxSize: payloadMax, SSRC: &ssrc, InitialSequenceNumber: &seq}
	if err := enc.Init(); err != nil {
		return nil, false
	}
	ps, err := enc.Encode(jpg)
	if err != nil {
		return nil, false
	}
	for _, p := range ps {
		p.Timestamp = ts
		b, err := p.Marshal()
		if err != nil {
			return nil, false
		}
		pkts = append(pkts, b)
	}
	return pkts, true
}

// ourPackets is packetize's packets of jpg, split at their ends.
func ourPackets(jpg []byte, seq uint16, ts, ssrc uint32) ([][]byte, error) {
	s, err := parseJPEG(jpg)
	if err != nil {
		return nil, err
	}
	data, ends := packetize(nil, nil, &s, seq, ts, ssrc)
	out := make([][]byte, len(ends))
	for i, e := range ends {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		out[i] = data[start:e]
	}
	if n, size := s.packets(); n != len(ends) || size != len(data) {
		return nil, fmt.Errorf("packets() says %d packets, %d bytes; packetize made %d, %d", n, size, len(ends), len(data))
	}
	return out, nil
}

// withSegment is jpg with a segment (marker m, body) inserted before its
// scan.
func withSegment(t testing.TB, jpg []byte, m byte, body []byte) []byte {
	t.Helper()
	i := bytes.Index(jpg, []byte{0xFF, 0xDA})
	if i < 0 {
		t.Fatal("no scan")
	}
	seg := append([]byte{0xFF, m, byte((len(body) + 2) >> 8), byte(len(body) + 2)}, body...)
	return append(append(append([]byte(nil), jpg[:i]...), seg...), jpg[i:]...)
}

// as422 is jpg with its frame header saying 2×1 luma sampling: RTP/JPEG
// type 0. The scan is not re-encoded; packetising doesn't read it.
func as422(t testing.TB, jpg []byte) []byte {
	t.Helper()
	out := append([]byte(nil), jpg...)
	sof, err := findSOF(out)
	if err != nil {
		t.Fatal(err)
	}
	out[sof+11] = 0x21
	return out
}

// TestPacketizeMatchesGortsplib: the server's packets are byte for byte
// those of gortsplib's encoder it replaced, for 4:2:0 and 4:2:2, with
// restart markers, one packet or hundreds, across the sequence number's
// wrap.
func TestPacketizeMatchesGortsplib(t *testing.T) {
	big := testJPEG(t, 1920, 1080)
	small := testJPEG(t, 64, 48)
	for _, tc := range []struct {
		name string
		jpg  []byte
		seq  uint16
	}{
		{"1080p", big, 65500},
		{"small", small, 7},
		{"4:2:2", as422(t, testJPEG(t, 640, 480)), 100},
		{"restart", withSegment(t, testJPEG(t, 320, 240), 0xDD, []byte{0, 16}), 65535},
		{"comment", withSegment(t, small, 0xFE, []byte("hello")), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, ok := gortsplibPackets(tc.jpg, tc.seq, 123456, 0xCAFE)
			if !ok {
				t.Fatal("gortsplib refused the picture")
			}
			got, err := ourPackets(tc.jpg, tc.seq, 123456, 0xCAFE)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d packets, gortsplib %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("packet %d of %d differs", i, len(got))
				}
				if len(got[i]) > MaxPacketSize {
					t.Fatalf("packet %d is %d bytes, over %d", i, len(got[i]), MaxPacketSize)
				}
			}
		})
	}
}

// TestParseJPEGRefuses: what RTP/JPEG can't carry is an error that says
// what, never a panic or a packet.
func TestParseJPEGRefuses(t *testing.T) {
	jpg := testJPEG(t, 64, 48)
	sof, err := findSOF(jpg)
	if err != nil {
		t.Fatal(err)
	}
	patched := func(i int, v byte) []byte {
		b := append([]byte(nil), jpg...)
		b[i] = v
		return b
	}
	for _, tc := range []struct {
		name string
		jpg  []byte
		want string
	}{
		{"empty", nil, "start-of-image"},
		{"truncated", jpg[:sof+6], "truncated"},
		{"odd width", patched(sof+8, 50), "multiples of 8"},
		{"too wide", patched(sof+7, 0x10), "over RTP/JPEG"},
		{"grey", patched(sof+9, 1), "components"},
		{"4:4:4", patched(sof+11, 0x11), "sampling"},
		{"progressive", patched(sof+1, 0xC2), "not carried"},
		{"no scan data", jpg[:bytes.Index(jpg, []byte{0xFF, 0xDA})+14], "no scan data"},
		{"bad restart", withSegment(t, jpg, 0xDD, []byte{1}), "restart interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseJPEG(tc.jpg)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// FuzzPacketize: on any input, parseJPEG errs where gortsplib's encoder
// does, and where both take a picture, the packets are the same bytes.
func FuzzPacketize(f *testing.F) {
	f.Add(testJPEG(f, 32, 16), uint16(65530))
	f.Add(withSegment(f, testJPEG(f, 16, 16), 0xDD, []byte{0, 1}), uint16(0))
	f.Add(as422(f, testJPEG(f, 48, 8)), uint16(9))
	f.Fuzz(func(t *testing.T, jpg []byte, seq uint16) {
		got, err := ourPackets(jpg, seq, 90000, 1)
		want, ok := gortsplibPackets(jpg, seq, 90000, 1)
		if err != nil {
			return // gortsplib may take what we refuse: sizes its header can't carry
		}
		if !ok {
			t.Fatalf("we took a picture gortsplib refuses")
		}
		if len(got) != len(want) {
			t.Fatalf("%d packets, gortsplib %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("packet %d differs", i)
			}
		}
	})
}

// putJPEG packetises jpg into f as its next frame, numbered from seq.
func putJPEG(t testing.TB, f *fanout, jpg []byte, seq uint16, now time.Time) *frame {
	t.Helper()
	s, err := parseJPEG(jpg)
	if err != nil {
		t.Fatal(err)
	}
	return f.put(&s, seq, 0, now, now)
}

// BenchmarkPacketize: a 720p picture into RTP/JPEG, ours into a reused
// buffer against gortsplib's encoder and the marshal the fan-out did
// after it.
func BenchmarkPacketize(b *testing.B) {
	jpg := testJPEG(b, 1280, 720)
	b.Run("ours", func(b *testing.B) {
		var data []byte
		var ends []int
		b.ReportAllocs()
		for b.Loop() {
			s, err := parseJPEG(jpg)
			if err != nil {
				b.Fatal(err)
			}
			data, ends = packetize(data[:0], ends[:0], &s, 1, 2, 3)
		}
	})
	b.Run("gortsplib", func(b *testing.B) {
		enc := &rtpmjpeg.Encoder{PayloadMaxSize: payloadMax}
		if err := enc.Init(); err != nil {
			b.Fatal(err)
		}
		var data []byte
		b.ReportAllocs()
		for b.Loop() {
			pkts, err := enc.Encode(jpg)
			if err != nil {
				b.Fatal(err)
			}
			data = data[:0]
			for _, p := range pkts { // as the fan-out's put did
				n := p.MarshalSize()
				start := len(data)
				if cap(data)-start < n {
					data = append(data, make([]byte, n)...)[:start]
				}
				m, _ := p.MarshalTo(data[start : start+n])
				data = data[:start+m]
			}
		}
	})
}
