package rtsp

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// History bounds. The packets are the ones the stream already wrote,
// shared by every reader: the history holds pointers, never copies.
const (
	// historyAge is how long a packet can be asked for again: about half a
	// second, ten round trips of a poor Wi-Fi link, and well past the
	// 64-packet reorder buffer of a gortsplib reader, after which a
	// resent packet is dropped as old anyway.
	historyAge = 500 * time.Millisecond
	// historySlots bounds the packets kept whatever their age: half a
	// second of detailed 1080p at 30 fps (about 500 packets a picture)
	// fits, and at most 11 MB of packets can ever be held. A power of two,
	// so a sequence number is its own slot.
	historySlots = 8192
)

// history is the recent packets of the stream by sequence number. The
// writer adds under writeMu; readers' RTCP handlers look up concurrently.
type history struct {
	mu     sync.Mutex
	slots  [historySlots]historyEntry
	oldest uint16 // sequence number of the oldest kept packet
	n      int    // packets kept
	bytes  uint64 // RTP bytes ever added: what a reader's budget grows from
}

type historyEntry struct {
	pkt  *rtp.Packet
	at   time.Time
	size int // marshalled size
}

// add keeps pkt, as the stream sent it (its SSRC set), and forgets what is
// older than historyAge or pushed out of the ring.
func (h *history) add(pkt *rtp.Packet, now time.Time) {
	size := pkt.MarshalSize()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bytes += uint64(size)
	if h.n > 0 && pkt.SequenceNumber != h.oldest+uint16(h.n) {
		h.clearLocked() // the encoder restarted its numbering
	}
	if h.n == 0 {
		h.oldest = pkt.SequenceNumber
	}
	for h.n > 0 && (h.n == historySlots || now.Sub(h.slots[h.oldest%historySlots].at) > historyAge) {
		h.slots[h.oldest%historySlots] = historyEntry{}
		h.oldest++
		h.n--
	}
	h.slots[pkt.SequenceNumber%historySlots] = historyEntry{pkt: pkt, at: now, size: size}
	h.n++
}

func (h *history) clearLocked() {
	for ; h.n > 0; h.n-- {
		h.slots[h.oldest%historySlots] = historyEntry{}
		h.oldest++
	}
}

// get returns the packet with sequence number seq if it is still kept
// and younger than historyAge, with its size; O(1), so a NACK for
// packets long gone costs a lookup each.
func (h *history) get(seq uint16, now time.Time) (*rtp.Packet, int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 || seq-h.oldest >= uint16(h.n) {
		return nil, 0, false
	}
	e := h.slots[seq%historySlots]
	if e.pkt == nil || now.Sub(e.at) > historyAge {
		return nil, 0, false
	}
	return e.pkt, e.size, true
}

// total is the RTP bytes ever added.
func (h *history) total() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bytes
}
