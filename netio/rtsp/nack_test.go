package rtsp_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// Attacks on retransmission (issue 14, "Bad input"): the answers to NACKs
// must cost bounded work, never amplify, and leave other readers alone.

// nackPacket asks for pid and the 16 after it, from one FCI per pid.
func nackPacket(t *testing.T, mediaSSRC uint32, pids ...uint16) []byte {
	t.Helper()
	n := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: mediaSSRC}
	for _, p := range pids {
		n.Nacks = append(n.Nacks, rtcp.NackPair{PacketID: p, LostPackets: 0xFFFF})
	}
	b, err := n.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitCounted waits until the server has handled what was sent (its NACK
// count stops growing), at most a second.
func waitCounted(s *rtsp.Server) rtsp.RetransmitStats {
	last := s.Stats().Retransmit
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		now := s.Stats().Retransmit
		if now.NACKs == last.NACKs {
			return now
		}
		last = now
	}
	return last
}

func TestNACKAttacks(t *testing.T) {
	s := limitServer(t, nil)
	// A reader that minds its own business, the way lsview plays.
	ctx, cancel := context.WithCancel(context.Background())
	victim := &rtsp.Client{URL: s.URL("127.0.0.1"), Transport: rtsp.TransportUDP, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var wg sync.WaitGroup
	started := time.Now()
	wg.Add(1)
	go func() {
		defer wg.Done()
		victim.Run(ctx, func(rtsp.Frame) {})
	}()
	defer func() { cancel(); wg.Wait() }()

	_, att := playUDP(t, "127.0.0.2", s)
	waitFlowing(t, att)
	serverRTCP := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.RTCPPort}
	send := func(from *net.UDPConn, pkt []byte, n int) {
		for range n {
			if _, err := from.WriteToUDP(pkt, serverRTCP); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("answered: same SSRC and sequence number", func(t *testing.T) {
		time.Sleep(200 * time.Millisecond) // a budget to spend
		before, repeats := s.Stats().Retransmit, att.repeats.Load()
		send(att.rtcp, nackPacket(t, att.ssrc.Load(), uint16(att.lastSeq.Load())-3), 1)
		after := waitCounted(s)
		time.Sleep(50 * time.Millisecond)
		if after.Resent == before.Resent || att.repeats.Load() == repeats {
			t.Fatalf("a recent packet asked for was not resent as it was: %+v → %+v, repeats %d → %d",
				before, after, repeats, att.repeats.Load())
		}
	})

	t.Run("long gone", func(t *testing.T) {
		before := s.Stats().Retransmit
		const n = 1000
		send(att.rtcp, nackPacket(t, att.ssrc.Load(), uint16(att.lastSeq.Load())-20000), n)
		after := waitCounted(s)
		// A burst of UDP overflows the server's socket under load: how
		// many arrive varies; each that does is looked at (17 packets)
		// and answers nothing.
		got := after.NACKs - before.NACKs
		if after.Resent != before.Resent || got < n/20 || after.Gone-before.Gone < got*17 {
			t.Fatalf("NACKs for packets long gone: %+v → %+v", before, after)
		}
	})

	t.Run("flood", func(t *testing.T) {
		before, written := s.Stats().Retransmit, s.Stats().BytesWritten
		// 5000 NACKs a second for 2 s, each asking for the last 68
		// packets: what a hostile reader would do to turn the server
		// into an amplifier.
		deadline := time.Now().Add(2 * time.Second)
		sent := 0
		for time.Now().Before(deadline) {
			last := uint16(att.lastSeq.Load())
			send(att.rtcp, nackPacket(t, att.ssrc.Load(), last-67, last-50, last-33, last-16), 50)
			sent += 50
			time.Sleep(10 * time.Millisecond)
		}
		after := waitCounted(s)
		streamPerReader := float64(s.Stats().BytesWritten-written) / float64(s.Stats().Readers)
		resent := float64(after.ResentBytes - before.ResentBytes)
		// The budget: 15 % of the reader's stream, plus one saved-up burst
		// of 64 packets.
		limit := 0.15*streamPerReader + 64*rtsp.MaxPacketSize
		t.Logf("%d NACKs sent, %d handled; resent %.0f bytes (%d packets) for %.0f bytes of stream; refused: gone %d, budget %d, excess %d",
			sent, after.NACKs-before.NACKs, resent, after.Resent-before.Resent, streamPerReader,
			after.Gone-before.Gone, after.Budget-before.Budget, after.Excess-before.Excess)
		if resent > limit {
			t.Fatalf("resent %.0f bytes, over the budget of %.0f", resent, limit)
		}
		if after.Budget == before.Budget {
			t.Fatal("the flood never met the budget")
		}
		// Bounded work: at most 64 lookups a NACK, whatever it asks.
		if looked := (after.Gone - before.Gone) + (after.Budget - before.Budget) + (after.Resent - before.Resent) +
			(after.QueueFull - before.QueueFull); looked > 64*(after.NACKs-before.NACKs) {
			t.Fatalf("%d lookups for %d NACKs", looked, after.NACKs-before.NACKs)
		}
	})

	t.Run("never set up", func(t *testing.T) {
		stranger, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)})
		if err != nil {
			t.Fatal(err)
		}
		defer stranger.Close()
		before := s.Stats().Retransmit
		last := uint16(att.lastSeq.Load())
		send(stranger, nackPacket(t, att.ssrc.Load(), last-16, last), 1000)
		// and from the attacker's address, but a port it never set up
		other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		send(other, nackPacket(t, att.ssrc.Load(), last-16, last), 1000)
		time.Sleep(300 * time.Millisecond)
		if after := s.Stats().Retransmit; after != before {
			t.Fatalf("NACKs from no session were handled: %+v → %+v", before, after)
		}
	})

	st := victim.Stats()
	want := 0.9 * 30 * time.Since(started).Seconds()
	if share := float64(st.Frames) / float64(st.Frames+st.LostFrames); float64(st.Frames) < want || share < 0.99 {
		t.Fatalf("the other reader suffered: %+v", st)
	}
}
