package rtsp

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/headers"
	"github.com/pion/rtp"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// wildcardUDPPorts lists this process's UDP ports bound to every address
// (the UDP path's: the servers of these tests bind to 127.0.0.1).
func wildcardUDPPorts(t *testing.T) map[int]bool {
	t.Helper()
	ports := map[int]bool{}
	for _, name := range []string{"/proc/self/net/udp", "/proc/self/net/udp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 2 {
				continue
			}
			addr, port, ok := strings.Cut(fields[1], ":")
			if !ok || strings.Trim(addr, "0") != "" {
				continue
			}
			if p, err := strconv.ParseUint(port, 16, 16); err == nil {
				ports[int(p)] = true
			}
		}
	}
	return ports
}

// announcedSSRC plays nothing: it asks the server for a session of its
// own and returns the SSRC its SETUP answer announces, the one a forger
// would learn.
func announcedSSRC(t *testing.T, url string) (uint32, bool) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := dialRTSP(context.Background(), u, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.close()
	th := headers.Transport{Protocol: headers.TransportProtocolUDP, Delivery: ptr(headers.TransportDeliveryUnicast),
		ClientPorts: &[2]int{40000, 40001}}
	res, err := rc.do(base.Setup, &base.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path + "/trackID=0"}, base.Header{"Transport": th.Marshal()})
	if err != nil {
		return 0, false
	}
	var got headers.Transport
	if got.Unmarshal(res.Header["Transport"]) != nil || got.SSRC == nil {
		return 0, false
	}
	return *got.SSRC, true
}

// TestUDPForgedPackets: packets from another port of the server's address,
// or from another address, are ignored even when they carry the stream's
// SSRC, and a flood of them leaves the stream whole; meanwhile the
// client's receiver reports reach the server.
func TestUDPForgedPackets(t *testing.T) {
	s, _ := patternServer(t, capture.Size{W: 320, H: 240}, 30)
	url := s.URL("127.0.0.1")
	ssrc, ok := announcedSSRC(t, url)
	if !ok {
		t.Log("the server announced no SSRC: forging a random one")
		ssrc = 0x12345678
	}
	before := wildcardUDPPorts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := &Client{URL: url, Transport: TransportUDP, Logger: quietLog()}
	frames := make(chan Frame, 256)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Run(ctx, func(f Frame) {
			select {
			case frames <- f:
			default:
			}
		})
	}()
	select {
	case <-frames:
	case err := <-errc:
		t.Fatalf("client stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("no frame")
	}
	var targets []int
	for p := range wildcardUDPPorts(t) {
		if !before[p] {
			targets = append(targets, p)
		}
	}
	if len(targets) < 2 {
		t.Fatalf("client ports %v: want an RTP and an RTCP port", targets)
	}
	// From the server's address but another port, and from another
	// address (127.0.0.2, where nothing serves) on the server's RTP port.
	var senders []*net.UDPConn
	for _, laddr := range []*net.UDPAddr{{IP: net.IPv4(127, 0, 0, 1)}, {IP: net.IPv4(127, 0, 0, 2), Port: s.RTPPort}} {
		conn, err := net.ListenUDP("udp", laddr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		senders = append(senders, conn)
	}
	const flood = 20000
	payload := make([]byte, 1000)
	for i := range flood {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 26, SequenceNumber: uint16(i * 7919),
			Timestamp: uint32(i), SSRC: ssrc, Marker: i%3 == 0}, Payload: payload}
		b, _ := pkt.Marshal()
		for _, conn := range senders {
			for _, p := range targets {
				conn.WriteToUDP(b, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			}
		}
	}
	// The stream goes on, whole and in order.
	var last uint32
	for i := range 30 {
		select {
		case f := <-frames:
			n := frameNumber(t, f.JPEG)
			if i > 0 && n <= last {
				t.Fatalf("frame %d after %d", n, last)
			}
			last = n
		case err := <-errc:
			t.Fatalf("client stopped: %v", err)
		case <-ctx.Done():
			t.Fatal("stream stalled after the flood")
		}
	}
	if st := c.Stats(); st.LostFrames != 0 || st.LostPackets != 0 {
		t.Errorf("forged packets counted: %+v", st)
	}
	// Its receiver reports reached the server (gortsplib and MediaMTX end
	// a UDP reader that sends neither RTCP nor keep-alives; ours reads
	// them for thinning): the reader's thinning noted one lately.
	readers := *s.main.fan.readers.Load()
	if len(readers) != 1 {
		t.Fatalf("%d readers on the server", len(readers))
	}
	rr := &readers[0].thin.rr
	rr.Lock()
	at := rr.at
	rr.Unlock()
	if time.Since(at) > 2*receiverReportEvery {
		t.Errorf("last receiver report at %v", at)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}
