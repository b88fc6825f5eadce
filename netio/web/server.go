// Package web serves the browser viewer: the page (embedded), the newest
// frame as a snapshot and over a WebSocket, the chat bridged over a
// WebSocket into the one chat hub, and /healthz and /state for monitoring.
// It knows nothing of cameras: the broadcaster hands it JPEG frames.
package web

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/share"
)

// Defaults of a Server.
const (
	DefaultPort = 8080
	// A browser tab holds one video and one chat socket. Per address: a
	// class of phones behind one NAT address; in all: far more than a
	// Pi's uplink carries at 720p, so the total guards memory, not
	// bandwidth.
	DefaultMaxVideo           = 128
	DefaultMaxVideoPerAddress = 32
	DefaultMaxChat            = 512 // the chat hub's own total
	DefaultMaxChatPerAddress  = 64  // the chat hub's own share per address
	// DefaultVideoTimeout: a viewer whose socket takes a frame no sooner
	// than this has stopped reading (a phone asleep, a dead Wi-Fi link):
	// it is cut off rather than kept with a frame pinned in memory.
	DefaultVideoTimeout = 10 * time.Second

	// videoSendBuffer is the kernel send buffer of a video socket: about
	// one 720p frame, so a slow viewer's backlog is one frame in the
	// kernel and one being written, and what it is shown stays fresh.
	videoSendBuffer = 256 << 10
	// chatSendBuffer matches the chat's TCP sockets.
	chatSendBuffer = 64 << 10
	// headerLen is the video message header: sequence and capture time.
	headerLen = 16

	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Status is what /state reports. The broadcaster fills it; the server adds
// its own viewers and, when empty, the page's URL as the request named it.
type Status struct {
	Name        string  `json:"name"`
	Source      string  `json:"source"`
	Width       int     `json:"width"`
	Height      int     `json:"height"`
	FPS         int     `json:"fps"`
	Live        bool    `json:"live"` // the camera, not the NO SIGNAL slate, is delivering
	Frames      uint64  `json:"frames"`
	Readers     Readers `json:"readers"`
	ChatClients int     `json:"chat_clients"`
	HTTPURL     string  `json:"http_url"`
	Relay       *Relay  `json:"relay,omitempty"` // nil: no relay set
	// Renditions are the smaller pictures the broadcaster makes while
	// somebody watches them (netio.Stream's), largest first. The page
	// offers them; a video socket is shown those listed when it connects.
	Renditions []netio.Rendition `json:"renditions,omitempty"`
}

// Relay is the state of publishing to a relay (MediaMTX).
type Relay struct {
	URL       string    `json:"url"`   // where viewers play it, without credentials
	State     string    `json:"state"` // connecting, publishing or error
	LastError string    `json:"last_error,omitempty"`
	Since     time.Time `json:"since"`
	Frames    uint64    `json:"frames"`  // pictures sent to the relay
	Dropped   uint64    `json:"dropped"` // pictures the relay missed
}

// Readers counts who watches, by kind.
type Readers struct {
	RTSP int `json:"rtsp"`
	Web  int `json:"web"`
}

// ChatHub is what the chat bridge needs of the chat server: chat.Server
// serves the connection in its hub and returns once it is closed.
type ChatHub interface {
	ServeConn(ctx context.Context, nc net.Conn) error
}

// Server is the web service. Set the fields, Listen, then Serve; hand it
// every frame with WriteFrame.
type Server struct {
	Addr   string        // host:port
	Chat   ChatHub       // nil: /ws/chat answers 503
	Status func() Status // nil: /state reports only the server's own numbers
	Health func() error  // nil: healthy once a frame arrived
	Logger *slog.Logger
	// Limits; zero means the default.
	MaxVideo, MaxVideoPerAddress int
	MaxChat, MaxChatPerAddress   int
	VideoTimeout                 time.Duration

	ln      net.Listener
	full    rung    // the full picture
	rungs   rungSet // the renditions
	tuning  ladderTuning
	viewers viewerSet
	nvideo  atomic.Int64
	video   *share.Caps
	chat    *share.Caps
	gate    share.LogGate
	sockets sync.WaitGroup // WebSocket handlers, which outlive http.Server.Shutdown
}

// frame is one video message: the header, then the JPEG. It is shared by
// every viewer and never written again once published.
type frame struct {
	data []byte
	seq  uint64    // the broadcaster's, shared by a frame's renditions
	n    uint64    // its rung's count of frames when it was published
	at   time.Time // when it was published
}

// newFrame makes one copy per frame (not per viewer) that puts the header
// before the JPEG, so each viewer sends one message from one slice.
func newFrame(seq uint64, captured time.Time, jpeg []byte) *frame {
	data := make([]byte, headerLen+len(jpeg))
	binary.BigEndian.PutUint64(data[0:8], seq)
	binary.BigEndian.PutUint64(data[8:16], uint64(captured.UnixMicro()))
	copy(data[headerLen:], jpeg)
	return &frame{data: data, seq: seq, at: time.Now()}
}

func (f *frame) jpeg() []byte { return f.data[headerLen:] }

// Listen opens the port: a busy port is reported here.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("web server: %w", err)
	}
	s.ln = ln
	return nil
}

// ListenAddr returns the address the server listens on.
func (s *Server) ListenAddr() net.Addr { return s.ln.Addr() }

// Viewers is the number of browsers receiving the video now.
func (s *Server) Viewers() int { return int(s.nvideo.Load()) }

// WriteFrame publishes a frame of the full picture: seq numbers it,
// captured is when its pixels were taken. It never waits for a viewer:
// each is woken to fetch the newest frame of its rung when it is ready for
// one, so a slow one skips frames. Called from one goroutine at a time (and
// beside WriteRendition's); jpeg is not written to afterwards.
func (s *Server) WriteFrame(seq uint64, captured time.Time, jpeg []byte) {
	s.full.publish(newFrame(seq, captured, jpeg))
	s.viewers.wakeAll()
}

// logger is the Logger, or the default one before Serve set it.
func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

type connKey struct{}

// Serve answers requests until ctx ends, then closes every WebSocket and
// returns once their handlers are done.
func (s *Server) Serve(ctx context.Context) error {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	setDefault(&s.MaxVideo, DefaultMaxVideo)
	setDefault(&s.MaxVideoPerAddress, DefaultMaxVideoPerAddress)
	setDefault(&s.MaxChat, DefaultMaxChat)
	setDefault(&s.MaxChatPerAddress, DefaultMaxChatPerAddress)
	setDefault(&s.VideoTimeout, DefaultVideoTimeout)
	if s.tuning == (ladderTuning{}) {
		s.tuning = defaultTuning()
	}
	s.video = &share.Caps{Kind: "video", Total: s.MaxVideo, PerKey: s.MaxVideoPerAddress}
	s.chat = &share.Caps{Kind: "chat", Total: s.MaxChat, PerKey: s.MaxChatPerAddress}
	assets, err := loadAssets()
	if err != nil {
		return fmt.Errorf("web server: %w", err)
	}
	// Handlers of WebSockets take their lifetime from sockets, which ends
	// with ctx: Shutdown does not wait for hijacked connections.
	sockets, stopSockets := context.WithCancel(ctx)
	defer stopSockets()
	srv := &http.Server{
		Handler:           securityHeaders(s.routes(sockets, assets)),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(s.ln) }()
	select {
	case err = <-served:
		err = fmt.Errorf("web server: %w", err)
	case <-ctx.Done():
		stopSockets()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		srv.Shutdown(shut)
		cancel()
		err = nil
	}
	stopSockets()
	s.sockets.Wait()
	return err
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

func (s *Server) routes(sockets context.Context, assets *assetSet) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { assets.serve(w, r, "index.html") })
	mux.HandleFunc("GET /{file}", func(w http.ResponseWriter, r *http.Request) { assets.serve(w, r, r.PathValue("file")) })
	mux.HandleFunc("GET /snapshot.jpg", s.snapshot)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /state", s.state)
	mux.HandleFunc("GET /ws/video", func(w http.ResponseWriter, r *http.Request) { s.serveVideo(sockets, w, r) })
	mux.HandleFunc("GET /ws/chat", func(w http.ResponseWriter, r *http.Request) { s.serveChat(sockets, w, r) })
	return mux
}

func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) {
	f := s.full.latest.Load()
	if f == nil {
		http.Error(w, "no frame yet", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(f.jpeg())))
	w.Write(f.jpeg())
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	err := s.health()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, "ok\n")
}

func (s *Server) health() error {
	if s.full.latest.Load() == nil {
		return errors.New("no frame yet")
	}
	if s.Health != nil {
		return s.Health()
	}
	return nil
}

func (s *Server) state(w http.ResponseWriter, r *http.Request) {
	var st Status
	if s.Status != nil {
		st = s.Status()
	}
	st.Readers.Web = s.Viewers()
	if st.HTTPURL == "" {
		st.HTTPURL = "http://" + r.Host + "/"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(st)
}
