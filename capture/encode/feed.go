package encode

import (
	"context"
	"fmt"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// Send hands one job to a running Pool, waiting while every worker is
// busy. It reports false when the pool stopped taking jobs (its context
// ended or it failed); the job's Done has then been called, so the
// producer may reuse the buffer and should return.
type Send func(Job) bool

// Feed runs produce with the pool behind it: the one way a source starts
// its encoders. produce gets a context that ends when ctx does or the pool
// fails, and a Send for its raw frames; it returns nil when that context
// ends. Feed returns once produce has returned and the pool has emitted or
// dropped every job and called every Done, so the source may free its
// buffers then. The error is produce's, else the pool's first encoding
// error.
func (p Pool) Feed(ctx context.Context, emit capture.Emit, produce func(ctx context.Context, send Send) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan Job)
	poolDone := make(chan error, 1)
	go func() {
		err := p.Run(ctx, jobs, emit)
		cancel()
		poolDone <- err
	}()
	err := produce(ctx, func(j Job) bool {
		select {
		case jobs <- j:
			return true
		case <-ctx.Done():
			j.done()
			return false
		}
	})
	close(jobs)
	if poolErr := <-poolDone; err == nil && poolErr != nil {
		err = fmt.Errorf("jpeg encode: %w", poolErr)
	}
	return err
}
