//go:build fairness

package main

import "testing"

// TestLadderEightViewers: at a 20 Mbit/s bottleneck 8 viewers each step
// down from the full picture, which the link can't carry for them all, and
// keep getting whole pictures, at least ladderMinFPS complete frames a
// second each and the slowest at least ladderMinFair of the median (issue
// 14); ffprobe plays every rendition at its size throughout (the harness,
// ladder_test.go).
//
// It is a stage of make test of its own (make fairness, the tag
// fairness), the only test running: the shares come from eight control
// loops on one queue, fed by nine processes on two cores, and a package's
// tests beside it on those cores made the slowest viewer's share a
// measure of them (BenchmarkLadderEightViewers beside go test of
// netio/rtsp, device and capture: 2 of 6 runs under 0.8, 0.74 and 0.79;
// alone, 1 of 30, 0.78). Fairness is a statistic still: a run under 0.8 is
// logged and run once more, and two in a row fail. A viewer under
// ladderMinFPS fails at once.
func TestLadderEightViewers(t *testing.T) {
	for attempt := 1; ; attempt++ {
		fps := ladderEightViewers(t)
		for i, f := range fps {
			if f < ladderMinFPS {
				t.Fatalf("viewer %d: %.1f complete fps, want at least %d", i, f, ladderMinFPS)
			}
		}
		median, slowest := ladderSpread(fps)
		switch fair := slowest / median; {
		case fair >= ladderMinFair:
			return
		case attempt == 1:
			t.Logf("slowest %.2f of the median, want at least %.2f: once more", fair, ladderMinFair)
		default:
			t.Fatalf("slowest %.2f of the median twice in a row, want at least %.2f", fair, ladderMinFair)
		}
	}
}
