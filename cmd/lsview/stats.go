package main

import (
	"slices"
	"sync"
	"time"
)

// maxSamples bounds each distribution: the most recent samples are kept,
// about two minutes at 30 fps.
const maxSamples = 4096

// samples keeps the latest durations and answers percentiles. Safe for
// concurrent use.
type samples struct {
	mu   sync.Mutex
	buf  []time.Duration
	next int
}

func (s *samples) add(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) < maxSamples {
		s.buf = append(s.buf, d)
		return
	}
	s.buf[s.next] = d
	s.next = (s.next + 1) % maxSamples
}

// percentiles returns the given quantiles (0..1) in milliseconds, and
// whether there were samples.
func (s *samples) percentiles(qs ...float64) ([]float64, bool) {
	s.mu.Lock()
	sorted := slices.Clone(s.buf)
	s.mu.Unlock()
	out := make([]float64, len(qs))
	if len(sorted) == 0 {
		return out, false
	}
	slices.Sort(sorted)
	for i, q := range qs {
		idx := int(q*float64(len(sorted)-1) + 0.5)
		out[i] = float64(sorted[idx].Microseconds()) / 1000
	}
	return out, true
}
