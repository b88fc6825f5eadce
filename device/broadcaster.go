package device

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/pattern"
	"github.com/lsbroadcast/lsbroadcast/netio"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/chat/store"
	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/web"
)

// Timings of the source supervisor.
const (
	reopenEvery = 500 * time.Millisecond
	slateFPS    = 5
	noSignal    = "NO SIGNAL"
)

// Broadcaster runs one source into the network services until its context
// ends.
type Broadcaster struct {
	cfg   *Config
	log   *slog.Logger
	state *State
	rtsp  *rtsp.Server
	relay *rtsp.Publisher // nil without --relay

	notify    *Notifier
	settings  *settings
	chat      *chat.Server
	web       *web.Server // nil when --http-port off
	ladder    *ladder     // nil when --ladder off
	name      string
	source    atomic.Pointer[string] // name of the source running now
	firstOnce sync.Once
	first     chan struct{} // closed by the first frame sent
	frames    atomic.Uint64
	lastFrame atomic.Int64 // unix nanoseconds of the last frame sent
	live      atomic.Bool  // the camera (not the slate) is delivering
	sizeMu    sync.Mutex
	size      capture.Size // of the last frame, so the slate matches it
	writeErrs atomic.Uint64
}

// Run starts the broadcaster and blocks until ctx ends. Problems at start
// that the user must fix (a busy port, a camera that can't be opened, a
// state directory in use) are UsageErrors.
//
// It reads as the pipeline: open the state, open the source, listen on
// every service, serve them, run the source until ctx ends, and stop in
// reverse.
func Run(ctx context.Context, cfg *Config, log *slog.Logger) error {
	b := &Broadcaster{cfg: cfg, log: log, size: cfg.Size, first: make(chan struct{}), notify: NewNotifier(log)}
	st, err := OpenState(cfg.StateDir)
	if err != nil {
		return &UsageError{err}
	}
	defer st.Close()
	b.state = st
	// Cheap checks first, so a typo fails before a camera is opened.
	if _, err := cfg.MDNS.Resolve(); err != nil {
		return &UsageError{err}
	}

	b.settings = openSettings(st.Files.CameraSettings, picture{Size: cfg.Size, SizeSet: cfg.SizeSet, FPS: cfg.FPS,
		Quality: cfg.Quality}, b.frameSize, log)
	op := opener{cfg: cfg, pic: b.settings.picture, log: log}
	src, err := op.open(true)
	if err != nil {
		return &UsageError{err}
	}
	if src = b.settings.attach(src, func() (capture.Source, error) { return op.open(true) }); src == nil {
		return &UsageError{fmt.Errorf("source %s: cannot be opened again", cfg.Source)}
	}
	b.name = cmp.Or(cfg.Name, streamName(src.Name()))
	b.setSource(src)

	svcs := &services{log: log}
	defer svcs.stop()
	if err := b.listen(svcs); err != nil {
		src.Close()
		return &UsageError{err}
	}
	// The host key is made at the first start that succeeds; its path
	// and fingerprint are logged that once, never the key.
	key, created, err := st.HostKey()
	if err != nil {
		src.Close()
		return &UsageError{err}
	}
	b.chat.HostKey = key
	if created {
		log.Info("host key created: give the file to the host, who joins with lsview --host-key FILE",
			"file", st.Files.HostKey, "fingerprint", HostKeyFingerprint(key))
	}
	args := []any{"name", b.name, "source", src.Name(), "url", b.rtsp.URL(b.advertisedHost()), "watch", b.lsviewLine()}
	if b.web != nil {
		args = append(args, "page", b.pageURL())
	}
	log.Info("broadcasting", append(args, "instance", st.InstanceID, "state_dir", st.Dir)...)

	// The services outlive ctx until the supervisor has returned, so
	// readers get every frame up to the end.
	svcs.serve(context.WithoutCancel(ctx))
	var running sync.WaitGroup
	running.Go(func() { b.reportToSystemd(ctx) })
	if b.ladder != nil {
		running.Go(func() { b.ladder.run(ctx) })
	}
	b.supervise(ctx, op, src)
	running.Wait()
	b.notify.Stopping()
	args = []any{"frames", b.frames.Load()}
	if b.ladder != nil {
		args = append(args, "rendition_frames", b.ladder.counts())
	}
	log.Info("stopped", args...)
	return nil
}

// streamName is the camera's own name as every picker may show it: a
// driver's card name comes from the device, so what a name may not hold
// is escaped visibly, as a terminal would show it.
func streamName(camera string) string {
	if checkName(camera) == nil {
		return camera
	}
	return textsafe.Terminal(camera)
}

// listen has every service bind its ports or register: RTSP, chat, web,
// mDNS (last: it announces the others).
func (b *Broadcaster) listen(svcs *services) error {
	b.rtsp = &rtsp.Server{Host: b.cfg.Listen, Port: b.cfg.RTSPPort, RTPPort: b.cfg.RTPPort,
		Multicast: b.cfg.Multicast, MaxReaders: b.cfg.RTSPMaxReaders, MaxReadersPerAddr: b.cfg.RTSPMaxPerAddress,
		ChatPort: b.cfg.ChatPort, Instance: b.state.InstanceID, Renditions: b.cfg.Ladder, Logger: b.log.With("service", "rtsp")}
	if err := svcs.listen("rtsp", b.rtsp); err != nil {
		return err
	}
	b.addRelay(svcs)
	chatSrv, closeStore, err := b.openChat()
	if err != nil {
		return err
	}
	svcs.add("chat", chatWithStore{chatSrv, closeStore})
	if b.cfg.HTTPPort != 0 {
		b.web = &web.Server{Addr: net.JoinHostPort(b.cfg.Listen, strconv.Itoa(b.cfg.HTTPPort)), Chat: chatSrv,
			Status: b.webStatus, Health: b.Health, Logger: b.log.With("service", "web")}
		if err := svcs.listen("web", b.web); err != nil {
			return err
		}
	}
	if len(b.cfg.Ladder) > 0 {
		var browsers webRungs // stays a nil interface without a web viewer
		if b.web != nil {
			browsers = b.web
		}
		b.ladder = newLadder(b.cfg.Ladder, b.rtsp, browsers, func() int { return b.settings.picture().Quality },
			b.log.With("service", "ladder"))
	}
	return svcs.listen("mdns", &mdns.Advertiser{Interfaces: b.cfg.MDNS, Stream: b.stream, Logger: b.log.With("service", "mdns")})
}

// openChat opens the chat store, carrying over announcements.json when the
// store holds no announcement, and binds the chat port. The chat keeps
// announcements.json current.
func (b *Broadcaster) openChat() (*chat.Server, func(), error) {
	st, err := store.Open(b.state.Files.ChatDB, store.Retention{MaxCount: b.cfg.HistoryCount, MaxAge: b.cfg.HistoryAge})
	if err != nil {
		return nil, nil, err
	}
	export := announcementsFile{path: b.state.Files.Announcements, backup: b.state.Files.AnnouncementsBackup}
	if err := export.seed(st); err != nil {
		st.Close()
		return nil, nil, err
	}
	b.chat = &chat.Server{Addr: net.JoinHostPort(b.cfg.Listen, strconv.Itoa(b.cfg.ChatPort)), Store: st,
		Info: b.stream, Announced: export.write, Camera: b.settings, Logger: b.log.With("service", "chat")}
	if err := b.chat.Listen(); err != nil {
		st.Close()
		return nil, nil, err
	}
	return b.chat, func() { st.Close() }, nil
}

// stream is what we say of the stream now, over mDNS and in the chat
// welcome.
func (b *Broadcaster) stream() netio.Stream {
	size := b.frameSize()
	return netio.Stream{Name: b.name, Instance: b.state.InstanceID, ChatPort: b.cfg.ChatPort, Proto: chat.Version,
		RTSPPort: b.cfg.RTSPPort, RTSPPath: b.rtsp.Path, HTTPPort: b.cfg.HTTPPort, Width: size.W, Height: size.H,
		FPS: b.settings.picture().FPS, Codec: "jpeg", Viewers: b.rtsp.Stats().Readers, RelayURL: b.cfg.Relay.WatchURL,
		RTPEpoch: b.rtsp.Epoch().UnixMicro(), Renditions: b.ladder.renditions(b.rtsp.Path, size)}
}

// webStatus is what the web viewer's /state reports.
func (b *Broadcaster) webStatus() web.Status {
	size := b.frameSize()
	return web.Status{Name: b.name, Source: *b.source.Load(), Width: size.W, Height: size.H, FPS: b.settings.picture().FPS,
		Live: b.live.Load(), Frames: b.frames.Load(), Readers: web.Readers{RTSP: b.rtsp.Stats().Readers},
		ChatClients: b.chat.Viewers(), HTTPURL: b.pageURL(), Relay: b.relayStatus(),
		Renditions: b.ladder.renditions(b.rtsp.Path, size)}
}

// frameSize is the size of the frames going out, as readers see it.
func (b *Broadcaster) frameSize() capture.Size {
	b.sizeMu.Lock()
	defer b.sizeMu.Unlock()
	return b.size
}

func (b *Broadcaster) setSource(src capture.Source) {
	name := src.Name()
	b.source.Store(&name)
}

// statusEvery is how often systemd's status line is refreshed.
const statusEvery = 5 * time.Second

// reportToSystemd says READY once the first frame is out (every listener
// is open by then), then keeps the status line and the watchdog fed.
func (b *Broadcaster) reportToSystemd(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-b.first:
	}
	b.notify.Ready()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { b.notify.RunWatchdog(ctx, b.Health) })
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	last, lastAt := b.frames.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n := b.frames.Load()
			fps := float64(n-last) / now.Sub(lastAt).Seconds()
			last, lastAt = n, now
			state := "live"
			if !b.live.Load() {
				state = noSignal
			}
			web := 0
			if b.web != nil {
				web = b.web.Viewers()
			}
			b.notify.Status(fmt.Sprintf("%s: %s, %.1f fps, %d viewers, %d in browsers, %d in chat%s", b.name, state, fps,
				b.rtsp.Stats().Readers, web, b.chat.Viewers(), b.relayLine()))
		}
	}
}

// advertisedHost is the host part of the URL we log: the listen address,
// else this machine's name.
func (b *Broadcaster) advertisedHost() string {
	if b.cfg.Listen != "" && b.cfg.Listen != "0.0.0.0" && b.cfg.Listen != "::" {
		return b.cfg.Listen
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "localhost"
}

// pageURL is the web viewer's address as people type it.
func (b *Broadcaster) pageURL() string {
	return "http://" + net.JoinHostPort(b.typedHost(), strconv.Itoa(b.cfg.HTTPPort)) + "/"
}

// lsviewLine is the command that watches this broadcaster, to paste: the
// chat's address, which leads lsview to the video too.
func (b *Broadcaster) lsviewLine() string {
	return "lsview " + net.JoinHostPort(b.typedHost(), strconv.Itoa(b.cfg.ChatPort))
}

// typedHost is this machine as people type it: the listen address when
// there is one, else its mDNS name (avahi-daemon publishes HOSTNAME.local),
// else its name.
func (b *Broadcaster) typedHost() string {
	host := b.advertisedHost()
	if host != b.cfg.Listen && !b.cfg.MDNS.Off && !strings.HasSuffix(host, ".local") {
		host += ".local"
	}
	return host
}

// emit hands a frame to every service. Called from one goroutine at a time.
func (b *Broadcaster) emit(f capture.Frame) {
	if err := b.rtsp.WriteJPEG(f.JPEG, f.Captured); err != nil {
		if b.writeErrs.Add(1)%100 == 1 {
			b.log.Warn("frame not sent", "error", err, "errors", b.writeErrs.Load())
		}
		return
	}
	n := b.frames.Add(1)
	if b.web != nil {
		b.web.WriteFrame(n, f.Captured, f.JPEG)
	}
	if b.ladder != nil {
		b.ladder.offer(f, n)
	}
	b.lastFrame.Store(time.Now().UnixNano())
	b.firstOnce.Do(func() { close(b.first) })
	b.sizeMu.Lock()
	// As readers see it: RTP/JPEG rounds sizes up to multiples of 8.
	b.size = capture.Size{W: roundUp8(f.Width), H: roundUp8(f.Height)}
	b.sizeMu.Unlock()
}

func roundUp8(n int) int { return (n + capture.SideStep - 1) &^ (capture.SideStep - 1) }

// supervise runs the source, and closes it; when it fails, it shows a NO
// SIGNAL slate and reopens the source until it returns or ctx ends. A lost
// camera is a state of the stream, never an exit. When the host changes
// the size, rate or quality, the source is reopened with them: the
// readers stay.
func (b *Broadcaster) supervise(ctx context.Context, op opener, src capture.Source) {
	for {
		b.live.Store(true)
		restarted, err := b.run(ctx, src)
		b.live.Store(false)
		b.settings.detach()
		if closeErr := src.Close(); closeErr != nil {
			b.log.Warn("source not released", "source", src.Name(), "error", closeErr)
		}
		if ctx.Err() != nil {
			return
		}
		var next capture.Source
		if restarted {
			pic := b.settings.picture()
			b.log.Info("reopening the source with new settings", "source", src.Name(), "size", pic.Size, "fps", pic.FPS, "quality", pic.Quality)
			_, isPattern := src.(*pattern.Source)
			if next, err = op.open(isPattern); err != nil {
				b.log.Warn("source does not reopen with the new settings", "error", err)
			}
		} else {
			b.log.Warn("source lost, showing the slate until it returns", "source", src.Name(), "error", err)
		}
		for src = nil; src == nil; next = nil {
			if next == nil {
				if next = b.slateUntilReopened(ctx, op); next == nil {
					return
				}
				b.log.Info("source back", "source", next.Name())
			}
			src = b.settings.attach(next, func() (capture.Source, error) { return op.open(false) })
		}
		b.setSource(src)
	}
}

// run runs src until it fails, ctx ends, or the settings ask for a
// restart (restarted).
func (b *Broadcaster) run(ctx context.Context, src capture.Source) (restarted bool, err error) {
	runCtx, stop := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Go(func() {
		select {
		case <-b.settings.restarts:
			restarted = true
			stop()
		case <-runCtx.Done():
		}
	})
	err = src.Run(runCtx, b.emit)
	stop()
	watch.Wait()
	return restarted && ctx.Err() == nil, err
}

func (b *Broadcaster) slateUntilReopened(ctx context.Context, op opener) capture.Source {
	b.sizeMu.Lock()
	size := b.size
	b.sizeMu.Unlock()
	slate := &pattern.Source{Size: size, FPS: slateFPS, Quality: b.settings.picture().Quality, Workers: 1, Message: noSignal}
	slateCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := slate.Run(slateCtx, b.emit); err != nil {
			b.log.Error("slate failed", "error", err)
		}
	})
	defer wg.Wait()
	defer stop()
	var lastErr string
	t := time.NewTicker(reopenEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		src, err := op.open(false)
		if err == nil {
			return src
		}
		if err.Error() != lastErr {
			b.log.Info("source still away", "error", err)
			lastErr = err.Error()
		}
	}
}

// Health reports whether frames are flowing: the last one left less than
// a second ago (or two frame intervals at low rates).
func (b *Broadcaster) Health() error {
	last := time.Unix(0, b.lastFrame.Load())
	limit := max(time.Second, 2*time.Second/time.Duration(b.settings.picture().FPS))
	if age := time.Since(last); age > limit {
		return fmt.Errorf("no frame for %v", age.Round(time.Millisecond))
	}
	return nil
}
