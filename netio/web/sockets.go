package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/lsbroadcast/lsbroadcast/netio/share"
)

// upgrade takes a slot of the kind's caps for the request's address and
// accepts the WebSocket. coder/websocket's own Origin check stays on: a
// page from another site open in a viewer's browser gets 403. A refused
// slot is told with close code 1013 (try again later) and a reason the
// page can show. It returns nil when the request is answered already;
// otherwise the caller calls done when the socket is finished with.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, c *share.Caps, readLimit int64, sendBuffer int) (ws *websocket.Conn, addr *net.TCPAddr, done func()) {
	addr, err := clientAddr(r.RemoteAddr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, nil, nil
	}
	key := share.Key(addr)
	capErr := c.Take(key)
	ws, err = websocket.Accept(w, r, nil)
	if err != nil {
		// Accept has answered: 403 for a foreign Origin, 400 otherwise.
		if capErr == nil {
			c.Release(key)
		}
		s.gate.Warn(s.Logger, "web: websocket refused", "kind", c.Kind, "address", key, "error", err)
		return nil, nil, nil
	}
	if capErr != nil {
		s.gate.Warn(s.Logger, "web limit: "+c.Kind+" websockets", "address", key, "error", capErr)
		ws.Close(websocket.StatusTryAgainLater, capErr.Error())
		return nil, nil, nil
	}
	ws.SetReadLimit(readLimit)
	if tc, ok := r.Context().Value(connKey{}).(*net.TCPConn); ok {
		// The kernel would otherwise buffer megabytes for a client that
		// stopped reading.
		tc.SetWriteBuffer(sendBuffer)
	}
	return ws, addr, func() { c.Release(key) }
}

// viewerSet is the video viewers, copied on change so WriteFrame wakes
// them without a lock.
type viewerSet struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*viewer]
}

// viewer is one video socket's mailbox: one slot, which says "a newer
// frame is there", never a queue of frames.
type viewer struct {
	wake chan struct{}
	rung atomic.Pointer[rung] // the rung it wants: a rendition's frames wake only its viewers
}

func (v *viewer) poke() {
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

func (vs *viewerSet) wakeAll() {
	if l := vs.list.Load(); l != nil {
		for _, v := range *l {
			v.poke()
		}
	}
}

// wake wakes the viewers that want r. A frame of the full picture wakes
// them all (wakeAll): one waiting for a rendition that is not being made
// is shown the full picture instead.
func (vs *viewerSet) wake(r *rung) {
	if l := vs.list.Load(); l != nil {
		for _, v := range *l {
			if v.rung.Load() == r {
				v.poke()
			}
		}
	}
}

func (vs *viewerSet) add(v *viewer) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var next []*viewer
	if l := vs.list.Load(); l != nil {
		next = append(next, *l...)
	}
	next = append(next, v)
	vs.list.Store(&next)
}

func (vs *viewerSet) remove(v *viewer) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var next []*viewer
	for _, o := range *vs.list.Load() {
		if o != v {
			next = append(next, o)
		}
	}
	vs.list.Store(&next)
}

// videoReadLimit: the page sends nothing on the video socket; anything
// bigger than a small message is refused by the library (1009).
const videoReadLimit = 1 << 10

// serveVideo sends each viewer the newest frame of its rung whenever it
// has taken the last one. It reads nothing from the page: a data message
// closes the socket (1008).
//
// ?quality=auto, full or a rendition's name asks for a rung (without it:
// the full picture, as before the ladder). Such a socket, the page's, is
// also told in text messages, one JSON object each: first
// {"type":"ladder","quality":"auto","rungs":[{"name":"full","width":1280,"height":720},...]}
// (quality is what it got: a rung not offered is the full picture), then
// {"type":"rung","name":"half"} before the first frame of each rung.
func (s *Server) serveVideo(sockets context.Context, w http.ResponseWriter, r *http.Request) {
	s.sockets.Add(1)
	defer s.sockets.Done()
	ws, _, done := s.upgrade(w, r, s.video, videoReadLimit, videoSendBuffer)
	if ws == nil {
		return
	}
	defer done()
	// Our own reader rather than ws.CloseRead, whose goroutine waits for
	// itself (15 s) when it closes on a data message (coder/websocket
	// v1.8.15). It answers pings and sees the page's close or a message.
	ctx, cancel := context.WithCancel(sockets)
	defer cancel()
	var gotData atomic.Bool
	var reader sync.WaitGroup
	reader.Go(func() {
		defer cancel()
		if _, _, err := ws.Read(context.WithoutCancel(ctx)); err == nil {
			gotData.Store(true)
		}
	})
	defer reader.Wait()
	defer ws.CloseNow()

	query := r.URL.Query()
	page := query.Has("quality")
	v := &viewer{wake: make(chan struct{}, 1)}
	watch := newWatch(s, v, query.Get("quality"), time.Now())
	defer watch.close()
	v.poke() // the newest frame at once, if there is one
	s.viewers.add(v)
	defer s.viewers.remove(v)
	s.nvideo.Add(1)
	defer s.nvideo.Add(-1)

	// Not ctx: a message from the page must not cut a frame in half
	// (coder/websocket drops the connection when a write is cancelled),
	// or the page would never get its close code.
	send := func(typ websocket.MessageType, b []byte) error {
		wctx, cancelWrite := context.WithTimeout(sockets, s.VideoTimeout)
		defer cancelWrite()
		err := ws.Write(wctx, typ, b)
		if errors.Is(err, context.DeadlineExceeded) {
			s.gate.Warn(s.Logger, "web: video viewer too slow, cut off", "address", r.RemoteAddr,
				"timeout", s.VideoTimeout.String())
		}
		return err
	}
	var shown *rung // the rung the page was last told of
	if page {
		msg, _ := json.Marshal(struct {
			Type    string       `json:"type"`
			Quality string       `json:"quality"`
			Rungs   []ladderRung `json:"rungs"`
		}{"ladder", watch.quality(), watch.rungs})
		if send(websocket.MessageText, msg) != nil {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			switch {
			case gotData.Load():
				ws.Close(websocket.StatusPolicyViolation, "the video socket takes no messages")
			case sockets.Err() != nil:
				ws.Close(websocket.StatusGoingAway, "server shutting down")
			}
			return
		case <-v.wake:
		}
		f, from := watch.next(time.Now())
		if f == nil {
			continue
		}
		if page && from != shown {
			msg, _ := json.Marshal(struct {
				Type string `json:"type"`
				Name string `json:"name"`
			}{"rung", watch.name(from)})
			if send(websocket.MessageText, msg) != nil {
				return
			}
			shown = from
		}
		if send(websocket.MessageBinary, f.data) != nil {
			return
		}
		at := watch.at
		watch.done(f, from, time.Now())
		if watch.at != at {
			s.Logger.Debug("web: video viewer moved", "address", r.RemoteAddr, "rung", watch.rungs[watch.at].Name)
		}
	}
}

// clientAddr is the TCP address of the request's client, as the chat hub
// counts addresses.
func clientAddr(remote string) (*net.TCPAddr, error) {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return nil, fmt.Errorf("client address %q: %w", remote, err)
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())), nil
}
