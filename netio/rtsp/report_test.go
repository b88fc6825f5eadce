package rtsp

import (
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"
)

// ntpReader plays url over protocol and records, for each RTP timestamp,
// the wall-clock time the client derives from the sender reports: what
// lsview computes its latency from.
func ntpReader(t *testing.T, url string, protocol gortsplib.Protocol) (got func() map[uint32]time.Time) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &protocol}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var forma *format.MJPEG
	medi := desc.FindFormat(&forma)
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	ntps := map[uint32]time.Time{}
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		if ntp, ok := c.PacketNTP(medi, pkt); ok {
			mu.Lock()
			ntps[pkt.Timestamp] = ntp
			mu.Unlock()
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	return func() map[uint32]time.Time {
		mu.Lock()
		defer mu.Unlock()
		return ntps
	}
}

// TestSenderReportsMapRTPToCaptureTime: a UDP reader (the fan-out's reports)
// and a TCP reader (gortsplib's) both map each picture's RTP timestamp to
// the time it was captured, to the millisecond, once the first report came.
func TestSenderReportsMapRTPToCaptureTime(t *testing.T) {
	s := startServer(t)
	udp := ntpReader(t, s.URL("127.0.0.1"), gortsplib.ProtocolUDP)
	tcp := ntpReader(t, s.URL("127.0.0.1"), gortsplib.ProtocolTCP)
	jpg := testJPEG(t, 320, 240)
	captured := map[uint32]time.Time{}
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	// The first reports come senderReportPeriod after Listen; 2 s more of
	// pictures after it. Captured 200 ms ago, as a camera's pictures are
	// by the time they are sent.
	for end := s.start.Add(senderReportPeriod + 2*time.Second); time.Now().Before(end); <-tick.C {
		at := time.Now().Add(-200 * time.Millisecond)
		captured[uint32(at.Sub(s.start).Seconds()*jpegClockRate)] = at
		if err := s.WriteJPEG(jpg, at); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for name, got := range map[string]map[uint32]time.Time{"udp": udp(), "tcp": tcp()} {
		checked := 0
		var worst time.Duration
		for ts, ntp := range got {
			at, ok := captured[ts]
			if !ok {
				t.Fatalf("%s: RTP timestamp %d is no picture's", name, ts)
			}
			d := ntp.Sub(at).Abs()
			worst = max(worst, d)
			checked++
		}
		t.Logf("%s: %d pictures mapped, worst %v from their capture time", name, checked, worst)
		if checked < 30 {
			t.Errorf("%s: %d pictures mapped to wall-clock time, want a second's worth", name, checked)
		}
		if worst > time.Millisecond {
			t.Errorf("%s: a picture mapped %v from its capture time", name, worst)
		}
	}
}

// TestLateTCPReaderRTPInfo: while only the fan-out's UDP readers play,
// gortsplib's stream is given each picture's last packet alone; a TCP
// reader that comes later is still told, in its PLAY answer's RTP-Info,
// the sequence number of the first packet it gets, and gets whole
// pictures from the next one on.
func TestLateTCPReaderRTPInfo(t *testing.T) {
	s := startServer(t)
	ntpReader(t, s.URL("127.0.0.1"), gortsplib.ProtocolUDP)
	jpg := testJPEG(t, 640, 480)
	stop := make(chan struct{})
	written := make(chan struct{})
	go func() {
		defer close(written)
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := s.WriteJPEG(jpg, time.Now()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-written }()
	time.Sleep(500 * time.Millisecond) // pictures for the UDP reader alone

	u, err := base.ParseURL(s.URL("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	var forma *format.MJPEG
	medi := desc.FindFormat(&forma)
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatal(err)
	}
	first := make(chan uint16, 1)
	var mu sync.Mutex
	var markers, packets int
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		select {
		case first <- pkt.SequenceNumber:
		default:
		}
		mu.Lock()
		packets++
		if pkt.Marker {
			markers++
		}
		mu.Unlock()
	})
	res, err := c.Play(nil)
	if err != nil {
		t.Fatal(err)
	}
	var ri headers.RTPInfo
	if err := ri.Unmarshal(res.Header["RTP-Info"]); err != nil || len(ri) == 0 || ri[0].SequenceNumber == nil {
		t.Fatalf("RTP-Info %q: %v", res.Header["RTP-Info"], err)
	}
	select {
	case seq := <-first:
		if seq != *ri[0].SequenceNumber {
			t.Fatalf("RTP-Info says the first packet is %d, the first that came is %d", *ri[0].SequenceNumber, seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no packet for the TCP reader")
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	// A 640x480 picture is several packets: pictures of one packet each
	// would mean the reader got last packets only.
	if markers < 5 || packets < 3*markers {
		t.Fatalf("TCP reader got %d packets, %d pictures' ends: not whole pictures", packets, markers)
	}
}
