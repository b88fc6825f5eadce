package main

import (
	"slices"
	"strings"
	"time"
)

// sample is one repetition's figures by metric name.
type sample map[string]float64

// key names a measured case: benchmark, system and parameter (readers,
// size, loss…).
type key struct{ bench, system, param string }

// results gathers samples in the order their cases first appeared.
type results struct {
	m     map[key][]sample
	order []key
}

func newResults() *results { return &results{m: map[key][]sample{}} }

func (r *results) add(k key, s sample) {
	if _, ok := r.m[k]; !ok {
		r.order = append(r.order, k)
	}
	r.m[k] = append(r.m[k], s)
}

// measured reports whether bench (or one of its variants, encode-1 for
// encode) has any sample.
func (r *results) measured(bench string) bool {
	return slices.ContainsFunc(r.order, func(k key) bool {
		return k.bench == bench || strings.HasPrefix(k.bench, bench+"-")
	})
}

// spread is a metric over the repetitions.
type spread struct {
	med, lo, hi float64
	n           int
}

// stat summarises metric over k's repetitions; n is 0 when none has it.
func (r *results) stat(k key, metric string) spread {
	var v []float64
	for _, s := range r.m[k] {
		if x, ok := s[metric]; ok {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return spread{}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return spread{med: med, lo: v[0], hi: v[len(v)-1], n: len(v)}
}

// runMeta describes the run for the report's header.
type runMeta struct {
	Started               time.Time
	Took                  time.Duration
	LoadBefore, LoadAfter string
	Reps                  int
	Measure               time.Duration
	Command               string
}
