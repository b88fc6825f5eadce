package viewer

import (
	"slices"
	"sync"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// State is where a Session's video stands.
type State int32

// States of the video.
const (
	Connecting State = iota
	Playing
	Reconnecting
)

// String is what a status line says.
func (s State) String() string {
	return [...]string{"connecting…", "playing", "reconnecting…"}[s]
}

// Stats is a snapshot of a Session's counters.
type Stats struct {
	URL       string // the RTSP URL played
	Transport string // UDP, UDP-multicast or TCP once playing
	State     State
	Started   time.Time // when the video began; zero before
	Elapsed   time.Duration
	Frames    uint64  // complete pictures received
	FPS       float64 // Frames per second of Elapsed
	Skipped   uint64  // received, but a newer one came before it was taken
	Lost      uint64  // lost in the network, over every connection
	Latency   Latency // capture (sender's clock) to received

	Recover rtsp.RecoverStats // lost packets asked for again, over every connection

	Rung        Rung                     // delivering now; zero before the first connection
	RungTime    map[string]time.Duration // how long each rung delivered, by name
	Switches    uint64                   // moves between rungs
	Quality     Quality                  // the hold: QualityAuto or a rung's name
	QualityNote string                   // why the hold is not met; "" when it is

	Chat         string // the chat's state, as a status line says it; "" without chat
	ChatMessages uint64 // people's messages received, history included
	Viewers      int    // in the chat, as the server last said; -1 unknown
}

// Latency summarises a distribution of durations, in milliseconds.
type Latency struct {
	P50    float64 `json:"p50"`
	P99    float64 `json:"p99"`
	Source string  `json:"source,omitempty"` // how it was measured, e.g. "rtcp"
}

// maxSamples bounds each distribution: the most recent samples are kept,
// about two minutes at 30 fps.
const maxSamples = 4096

// Samples keeps the latest durations and summarises them. The zero value
// is empty and ready; safe for concurrent use.
type Samples struct {
	mu   sync.Mutex
	buf  []time.Duration
	next int
}

// Add records one duration, forgetting the oldest past maxSamples.
func (s *Samples) Add(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) < maxSamples {
		s.buf = append(s.buf, d)
		return
	}
	s.buf[s.next] = d
	s.next = (s.next + 1) % maxSamples
}

// Summary is the median and 99th percentile; zeros without samples.
func (s *Samples) Summary() Latency {
	s.mu.Lock()
	sorted := slices.Clone(s.buf)
	s.mu.Unlock()
	if len(sorted) == 0 {
		return Latency{}
	}
	slices.Sort(sorted)
	at := func(q float64) float64 {
		return float64(sorted[int(q*float64(len(sorted)-1)+0.5)].Microseconds()) / 1000
	}
	return Latency{P50: at(0.5), P99: at(0.99)}
}
