package device

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"
)

// fakeService records its lifecycle.
type fakeService struct {
	listenErr error
	serving   chan struct{} // closed when Serve starts
	released  bool          // set by Serve before it returns
}

func (f *fakeService) Listen() error { return f.listenErr }

func (f *fakeService) Serve(ctx context.Context) error {
	close(f.serving)
	<-ctx.Done()
	f.released = true
	return nil
}

func newFake(listenErr error) *fakeService {
	return &fakeService{listenErr: listenErr, serving: make(chan struct{})}
}

// Run's services: what listened is released by stop, served or not; what
// failed to listen is never served.
func TestServicesLifecycle(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Run("served then stopped", func(t *testing.T) {
		a, b := newFake(nil), newFake(nil)
		s := &services{log: quiet}
		for _, f := range []*fakeService{a, b} {
			if err := s.listen("fake", f); err != nil {
				t.Fatal(err)
			}
		}
		s.serve(context.Background())
		for _, f := range []*fakeService{a, b} {
			select {
			case <-f.serving:
			case <-time.After(5 * time.Second):
				t.Fatal("a service was not served")
			}
		}
		s.stop()
		if !a.released || !b.released {
			t.Fatal("stop returned before every service released")
		}
	})
	t.Run("start failed", func(t *testing.T) {
		ok, busy := newFake(nil), newFake(errors.New("port busy"))
		s := &services{log: quiet}
		if err := s.listen("ok", ok); err != nil {
			t.Fatal(err)
		}
		if err := s.listen("busy", busy); err == nil {
			t.Fatal("listen hid the error")
		}
		s.stop()
		if !ok.released {
			t.Fatal("a service that listened was not released")
		}
		select {
		case <-busy.serving:
			t.Fatal("a service that failed to listen was served")
		default:
		}
	})
}
