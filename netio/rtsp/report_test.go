package rtsp

import (
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
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
