package v4l2

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/encode"
	"github.com/vladimirvivien/go4vl/v4l2"
	"golang.org/x/sys/unix"
)

// buffers is what go4vl's buffer functions (InitBuffers, MapMemoryBuffers,
// StreamOn, …) ask of a device. They call only the methods defined here;
// the embedded interface, left nil, stands in for the rest.
type buffers struct {
	v4l2.StreamingDevice
	fd    uintptr
	count uint32
	maps  [][]byte
}

func (b *buffers) Fd() uintptr              { return b.fd }
func (b *buffers) BufferType() v4l2.BufType { return v4l2.BufTypeVideoCapture }
func (b *buffers) MemIOType() v4l2.IOType   { return v4l2.IOTypeMMAP }
func (b *buffers) BufferCount() uint32      { return b.count }
func (b *buffers) Buffers() [][]byte        { return b.maps }

func (b *buffers) queue(i uint32) error {
	_, err := v4l2.QueueBuffer(b.fd, v4l2.IOTypeMMAP, v4l2.BufTypeVideoCapture, i)
	return err
}

// Run streams frames to emit until ctx ends (nil) or the camera fails: it
// is unplugged (ErrGone), delivers nothing for 2 s (ErrStalled), or an
// ioctl fails. It returns only after the last emit.
func (s *Source) Run(ctx context.Context, emit capture.Emit) error {
	b := &buffers{fd: s.fd, count: driverBuffers}
	req, err := v4l2.InitBuffers(b)
	if errors.Is(err, syscall.EBUSY) {
		return fmt.Errorf("%s (%s): %w", s.path, s.info.Card, ErrBusy)
	}
	if err != nil {
		return s.fault("request buffers", err)
	}
	b.count = req.Count
	if b.maps, err = v4l2.MapMemoryBuffers(b); err != nil {
		v4l2.ResetBuffers(b)
		return s.fault("map buffers", err)
	}
	defer func() {
		// On an unplugged camera these fail; the buffers go with the fd.
		v4l2.StreamOff(b)
		v4l2.UnmapMemoryBuffers(b)
		v4l2.ResetBuffers(b)
	}()
	for i := range b.count {
		if err := b.queue(i); err != nil {
			return s.fault("queue buffer", err)
		}
	}
	if err := v4l2.StreamOn(b); err != nil {
		return s.fault("stream on", err)
	}
	if passThrough(s.format.PixelFormat) {
		return s.loop(ctx, b, func(f capture.Frame, idx uint32) error {
			f.JPEG = append([]byte(nil), f.JPEG...)
			b.queue(idx)
			emit(f)
			return nil
		})
	}
	return s.encode(ctx, b, emit)
}

// encode streams raw frames through the worker pool. The encoders read
// the driver's buffers in place, each buffer going back to the driver
// once encoded, so raw pixels are never copied. Feed returns only once the
// pool is done with the buffers, before Run unmaps them.
func (s *Source) encode(ctx context.Context, b *buffers, emit capture.Emit) error {
	pool := encode.Pool{Workers: s.cfg.Workers, Quality: s.cfg.Quality}
	return pool.Feed(ctx, emit, func(ctx context.Context, send encode.Send) error {
		return s.loop(ctx, b, func(f capture.Frame, idx uint32) error {
			raw, err := rawFrame(s.format, f.JPEG)
			if err != nil {
				return err
			}
			send(encode.Job{Raw: raw, Seq: f.Seq, Captured: f.Captured, Done: func() { b.queue(idx) }})
			return nil
		})
	})
}

// loop dequeues filled buffers and hands each to frame, whose Frame.JPEG
// is the buffer's bytes (JPEG or raw) in the mapped memory; frame must
// queue the buffer back, now or later.
func (s *Source) loop(ctx context.Context, b *buffers, frame func(f capture.Frame, idx uint32) error) error {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	last, limit := time.Now(), firstFrameTimeout
	var seq uint64
	var lastDriverSeq uint32
	for ctx.Err() == nil {
		n, err := unix.Poll(fds, int(pollSlice/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return s.fault("poll", err)
		}
		if n == 0 {
			if time.Since(last) > limit {
				return fmt.Errorf("%s (%s): %w for %v", s.path, s.info.Card, ErrStalled, limit)
			}
			continue
		}
		// The kernel answers poll on an unregistered (unplugged) device with
		// POLLHUP; a queue in error gets POLLERR alone.
		if fds[0].Revents&unix.POLLHUP != 0 {
			return fmt.Errorf("%s (%s): %w", s.path, s.info.Card, ErrGone)
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			return s.fault("poll", fmt.Errorf("error condition (revents %#x)", fds[0].Revents))
		}
		buf, err := v4l2.DequeueBuffer(s.fd, v4l2.IOTypeMMAP, v4l2.BufTypeVideoCapture)
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return s.fault("dequeue", err)
		}
		data := b.maps[buf.Index][:min(int(buf.BytesUsed), len(b.maps[buf.Index]))]
		if !s.complete(buf, data) {
			b.queue(buf.Index)
			continue
		}
		// The driver's sequence counts the frames it captured: a jump
		// means frames it dropped, which Seq passes on as a gap.
		if seq == 0 || buf.Sequence <= lastDriverSeq {
			seq++
		} else {
			seq += uint64(buf.Sequence - lastDriverSeq)
		}
		lastDriverSeq = buf.Sequence
		last, limit = time.Now(), stallTimeout
		f := capture.Frame{JPEG: data, Seq: seq, Captured: captureTime(buf), Width: int(s.format.Width), Height: int(s.format.Height)}
		if err := frame(f, buf.Index); err != nil {
			return err
		}
	}
	return nil
}

// complete says whether a dequeued buffer holds a whole frame worth
// passing on. Drivers flag corrupt frames; a USB camera that lost packets
// sends short ones.
func (s *Source) complete(buf v4l2.Buffer, data []byte) bool {
	if buf.Flags&v4l2.BufFlagError != 0 || len(data) == 0 {
		return false
	}
	if passThrough(s.format.PixelFormat) {
		return len(data) > 4 && data[0] == 0xFF && data[1] == 0xD8
	}
	return len(data) >= int(s.format.SizeImage)
}

// captureTime converts the driver's monotonic timestamp of the frame to
// wall time; drivers that give none get the time of dequeueing.
func captureTime(buf v4l2.Buffer) time.Time {
	now := time.Now()
	if buf.Flags&v4l2.BufFlagTimestampMask != v4l2.BufFlagTimestampMonotonic || buf.Timestamp.Sec == 0 {
		return now
	}
	var mono unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono) != nil {
		return now
	}
	age := time.Duration(mono.Nano() - buf.Timestamp.Nano())
	if age < 0 || age > time.Second {
		return now
	}
	return now.Add(-age)
}

// fault wraps an ioctl failure, telling an unplugged camera (its node is
// gone, or the kernel says ENODEV) from other failures.
func (s *Source) fault(op string, err error) error {
	if _, statErr := os.Stat(s.path); errors.Is(statErr, os.ErrNotExist) || errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("%s (%s): %w: %s: %v", s.path, s.info.Card, ErrGone, op, err)
	}
	return fmt.Errorf("%s (%s): %s: %w", s.path, s.info.Card, op, err)
}
