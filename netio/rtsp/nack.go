package rtsp

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Retransmission answers a reader's RTCP generic NACK (RFC 4585 §6.2.1)
// by sending it the asked-for packets again from the shared history, as
// they were first sent: the same SSRC and the same sequence numbers.
//
// Why not an RFC 4588 RTX stream: RTX needs a second payload type in the
// SDP, negotiated per reader, and a reader that knows it to unwrap the
// original sequence number. A receiver that holds a picture's packets
// until its gaps fill (lsview's, recover.go; gortsplib's, up to 64 packets)
// puts a packet with a known sequence number back in order, and drops one
// it has or has given up on, so the plain resend needs nothing new on
// either side, and a standard client never sees one: resends go
// only to a session that asked, and ffmpeg, GStreamer and VLC never send
// generic NACKs. What RTX would add (telling a resend from the original
// in statistics) lsview measures from the NACK's side instead.
const (
	// resendShare is the most of a reader's stream that may be resent to
	// it: at 2 % loss a reader needs about 2 % plus retries, so 15 %
	// leaves room for bursts while a reader that asks for everything
	// gets a small fraction of the stream, never a multiple.
	resendShare = 0.15
	// resendBurst caps a reader's saved-up budget: one gortsplib reorder
	// buffer's worth (64 packets), which is all a reader can use at once.
	resendBurst = 64 * MaxPacketSize
	// nackMaxSeqs bounds the work of one RTCP packet: the sequence numbers
	// looked at, whatever it asks (the rest are refused as excess).
	// lsview's receiver names every packet of a gap in one NACK; past 64
	// the rest are refused as excess and asked for again, if still
	// wanted, in its retry.
	nackMaxSeqs = 64
)

// RetransmitStats count the answers to NACKs.
type RetransmitStats struct {
	NACKs       uint64 // generic NACK packets received from readers
	Resent      uint64 // packets sent again
	ResentBytes uint64
	// Refused, by reason: the packet is no longer (or never was) in the
	// history; the reader's budget is spent; past nackMaxSeqs in one
	// NACK; the session is not a UDP unicast reader that is playing; the
	// reader's queue was full.
	Gone, Budget, Excess, NotReader, QueueFull uint64
}

// retransmitter answers NACKs from the history: its track's fan-out
// ring, which holds the last historyFrames pictures' packets as they were
// sent, shared by every reader and never copied for one.
type retransmitter struct {
	src *fanout

	nacks, resent, resentBytes                 atomic.Uint64
	gone, budget, excess, notReader, queueFull atomic.Uint64
}

func (r *retransmitter) stats() RetransmitStats {
	return RetransmitStats{NACKs: r.nacks.Load(), Resent: r.resent.Load(), ResentBytes: r.resentBytes.Load(),
		Gone: r.gone.Load(), Budget: r.budget.Load(), Excess: r.excess.Load(),
		NotReader: r.notReader.Load(), QueueFull: r.queueFull.Load()}
}

// readerBudget is one reader's allowance of resent bytes: it grows by
// resendShare of every byte sent to the reader (a thinned reader's
// smaller stream gives it a smaller allowance) from its PLAY on, up to
// resendBurst. A session the fan-out doesn't send to has its share of
// the whole stream.
type readerBudget struct {
	mu        sync.Mutex
	tokens    float64
	seenTotal uint64
	asked     [nackAsked]uint16 // the last numbers asked for, to tell a retry
	nAsked    int
}

// nackAsked is how many of a reader's recent requests are remembered: a
// retry (lsview asks once more a round trip later) comes within a frame or
// two, a few dozen requests at most.
const nackAsked = 64

// retry notes seq as asked for and says whether it was asked for before.
func (b *readerBudget) retry(seq uint16) bool {
	for i := range min(b.nAsked, nackAsked) {
		if b.asked[i] == seq {
			return true
		}
	}
	b.asked[b.nAsked%nackAsked] = seq
	b.nAsked++
	return false
}

// subscribe dispatches ss's RTCP from now on: NACKs are answered, and
// with receiver reports they tell r's thinning (thin.go) how the reader
// fares; r is nil for a session the fan-out doesn't send to. gortsplib
// keeps one RTCP callback a media, so both go through here. Call it from
// OnPlay, before the session plays; a later PLAY subscribes again with a
// fresh budget. The media is the session's own: a unicast UDP reader plays
// the server's second stream (see the package documentation), whose SSRC
// gortsplib stamps on what it resends, and the fan-out on what it sends.
func (r *retransmitter) subscribe(ss *gortsplib.ServerSession, rd *udpReader) {
	medias := ss.Medias()
	if len(medias) == 0 {
		return
	}
	medi := medias[0]
	b := &readerBudget{seenTotal: r.sentTo(rd)}
	ss.OnPacketRTCP(medi, func(pkt rtcp.Packet) {
		switch p := pkt.(type) {
		case *rtcp.TransportLayerNack:
			r.answer(ss, medi, rd, b, p, time.Now())
		case *rtcp.ReceiverReport:
			if rd != nil {
				rd.thin.noteReport(p, time.Now())
			}
		}
	})
}

// sentTo is the bytes a reader's budget grows from: its own, or the
// stream's.
func (r *retransmitter) sentTo(rd *udpReader) uint64 {
	if rd != nil {
		return rd.bytes.Load()
	}
	return r.src.total.Load()
}

// answer resends what n asks for, within b. Its work is bounded by
// nackMaxSeqs lookups, its bytes by the budget. The numbers n names are
// the reader's own (thin.go): mapped to the stream's for the lookup, and
// the resend carries the reader's again.
func (r *retransmitter) answer(ss *gortsplib.ServerSession, medi *description.Media, rd *udpReader, b *readerBudget, n *rtcp.TransportLayerNack, now time.Time) {
	r.nacks.Add(1)
	if tr := ss.Transport(); ss.State() != gortsplib.ServerSessionStatePlay || tr == nil || tr.Protocol != gortsplib.ProtocolUDP {
		r.notReader.Add(1)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	total := r.sentTo(rd)
	b.tokens = min(b.tokens+resendShare*float64(total-b.seenTotal), resendBurst)
	b.seenTotal = total
	looked := 0
	for _, pair := range n.Nacks {
		for _, seq := range pair.PacketList() {
			if looked == nackMaxSeqs {
				r.excess.Add(1)
				continue
			}
			looked++
			src := seq
			if rd != nil {
				rd.thin.nacked.Add(1)
				if b.retry(seq) {
					rd.thin.retried.Add(1)
				}
				var known bool
				if src, known = rd.thin.source(seq); !known {
					r.gone.Add(1)
					continue
				}
			}
			var sendErr error
			var size int
			found := r.src.resendable(src, now, func(p []byte) {
				size = len(p)
				if float64(size) > b.tokens {
					return
				}
				// The packet as sent, with the reader's own number; the
				// payload is the ring's, which WritePacketRTP marshals
				// before it returns. It stamps the session's SSRC, the
				// one the fan-out sends with.
				var cp rtp.Packet
				if sendErr = cp.Unmarshal(p); sendErr == nil {
					cp.SequenceNumber = seq
					sendErr = ss.WritePacketRTP(medi, &cp)
				}
			})
			switch {
			case !found:
				r.gone.Add(1)
			case float64(size) > b.tokens:
				r.budget.Add(1)
			case sendErr != nil:
				r.queueFull.Add(1)
			default:
				b.tokens -= float64(size)
				r.resent.Add(1)
				r.resentBytes.Add(uint64(size))
			}
		}
	}
}
