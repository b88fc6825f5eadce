package encode

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// Feed is how sources run the pool: whoever stops first (the source, the
// pool or the caller), every buffer comes back before Feed returns.
func TestFeed(t *testing.T) {
	bad := Raw{Format: RGBA, Width: 16, Height: 16, Stride: 64}
	errGone := errors.New("camera gone")
	for _, tc := range []struct {
		name    string
		frames  []Raw
		end     string // how produce ends: "return", "fail", or "wait" for its context
		cancel  bool   // the caller's context ends after the frames
		wantErr func(error) bool
		emitted int64
	}{
		{"source ends", []Raw{cameraLike(16, 16, 1), cameraLike(32, 32, 2)}, "return", false,
			func(err error) bool { return err == nil }, 2},
		{"source fails", []Raw{cameraLike(16, 16, 1)}, "fail", false,
			func(err error) bool { return errors.Is(err, errGone) }, 1},
		{"pool fails", []Raw{bad}, "wait", false,
			func(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "jpeg encode: ") }, 0},
		{"caller stops", nil, "wait", true,
			func(err error) bool { return err == nil }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var sent, released, emitted atomic.Int64
			job := func(r Raw) Job {
				sent.Add(1)
				return Job{Raw: r, Done: func() { released.Add(1) }}
			}
			err := Pool{Workers: 2, Quality: 70}.Feed(ctx, func(capture.Frame) { emitted.Add(1) },
				func(ctx context.Context, send Send) error {
					for _, r := range tc.frames {
						send(job(r))
					}
					if tc.cancel {
						cancel()
					}
					switch tc.end {
					case "fail":
						return errGone
					case "wait":
						<-ctx.Done()
						if send(job(bad)) {
							t.Error("send took a job after the feed stopped")
						}
					}
					return nil
				})
			if !tc.wantErr(err) {
				t.Fatalf("Feed returned %v", err)
			}
			if released.Load() != sent.Load() {
				t.Fatalf("%d buffers released of %d sent", released.Load(), sent.Load())
			}
			if emitted.Load() != tc.emitted {
				t.Fatalf("%d frames emitted, want %d", emitted.Load(), tc.emitted)
			}
		})
	}
}
