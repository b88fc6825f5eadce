package device

import (
	"context"
	"log/slog"
	"sync"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// service is what Run needs of a network service (rtsp, chat, web, mdns).
// Listen binds its ports or registers it, so a busy port or a bad
// interface fails at start; Serve runs it until ctx ends and releases
// everything before it returns.
type service interface {
	Listen() error
	Serve(ctx context.Context) error
}

// services are the services that listen, served together and stopped
// together.
type services struct {
	log    *slog.Logger
	names  []string
	list   []service
	cancel context.CancelFunc // set by serve
	wg     sync.WaitGroup
}

// listen has svc listen and, when it does, keeps it to serve.
func (s *services) listen(name string, svc service) error {
	if err := svc.Listen(); err != nil {
		return err
	}
	s.add(name, svc)
	return nil
}

// add keeps a service that already listens.
func (s *services) add(name string, svc service) {
	s.names = append(s.names, name)
	s.list = append(s.list, svc)
}

// serve runs every service until stop. A service that fails is logged,
// as a reader of the others should not notice.
func (s *services) serve(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	for i, svc := range s.list {
		s.wg.Go(func() {
			if err := svc.Serve(ctx); err != nil {
				s.log.Error(s.names[i]+" service stopped", "error", err)
			}
		})
	}
}

// stop ends every service and returns once each has released everything.
// Services that listened but never served (Run failed at start) are
// released too: their Serve gets an ended context.
func (s *services) stop() {
	if s.cancel == nil {
		s.serve(context.Background())
	}
	s.cancel()
	s.wg.Wait()
}

// chatWithStore is the chat service with the store openChat opened for
// it: Serve closes the store once the chat is done with it.
type chatWithStore struct {
	*chat.Server
	closeStore func()
}

func (c chatWithStore) Serve(ctx context.Context) error {
	defer c.closeStore()
	return c.Server.Serve(ctx)
}
