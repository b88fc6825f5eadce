package encode

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// Job is a raw frame on its way through a Pool.
type Job struct {
	Raw      Raw
	Seq      uint64
	Captured time.Time
	// Done, if set, is called once the pool no longer reads Raw.Pix, so the
	// source can reuse the buffer.
	Done func()
}

// Pool encodes jobs on several goroutines and emits the frames in the order
// the jobs arrived. At most two jobs per worker are in flight; beyond that,
// Run stops reading its input, which holds back the source rather than
// growing memory.
type Pool struct {
	Workers int // defaults to the number of CPUs
	Quality int // JPEG quality 1–100
}

type result struct {
	frame capture.Frame
	err   error
}

type task struct {
	job Job
	out chan<- result
}

// Run encodes until in is closed or ctx ends, and returns the first
// encoding error, or nil.
func (p Pool) Run(ctx context.Context, in <-chan Job, emit capture.Emit) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := p.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	tasks := make(chan task)
	order := make(chan chan result, 2*workers)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { p.work(tasks) })
	}
	var firstErr error
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for out := range order {
			r := <-out
			if r.err != nil {
				if firstErr == nil && ctx.Err() == nil {
					firstErr = r.err
					cancel()
				}
				continue
			}
			if ctx.Err() == nil {
				emit(r.frame)
			}
		}
	}()

dispatch:
	for {
		var j Job
		select {
		case <-ctx.Done():
			break dispatch
		case jj, ok := <-in:
			if !ok {
				break dispatch
			}
			j = jj
		}
		out := make(chan result, 1)
		select {
		case order <- out:
		case <-ctx.Done():
			j.done()
			break dispatch
		}
		select {
		case tasks <- task{job: j, out: out}:
		case <-ctx.Done():
			j.done()
			out <- result{err: ctx.Err()}
			break dispatch
		}
	}
	close(tasks)
	wg.Wait()
	close(order)
	<-collected
	return firstErr
}

func (j Job) done() {
	if j.Done != nil {
		j.Done()
	}
}

func (p Pool) work(tasks <-chan task) {
	c, err := NewCompressor()
	if err == nil {
		defer c.Close()
	}
	for t := range tasks {
		if err != nil {
			t.job.done()
			t.out <- result{err: err}
			continue
		}
		data, encErr := c.Encode(t.job.Raw, p.Quality)
		t.job.done()
		t.out <- result{err: encErr, frame: capture.Frame{
			JPEG:     data,
			Seq:      t.job.Seq,
			Captured: t.job.Captured,
			Width:    t.job.Raw.Width,
			Height:   t.job.Raw.Height,
		}}
	}
}
