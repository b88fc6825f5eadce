// Package viewer is the session a viewer keeps with one broadcaster: it
// joins the chat, learns where the video plays from the welcome, receives
// JPEG frames over RTSP, reconnects both by itself, and counts what
// arrives. It also lists what mDNS discovery finds. It decodes and draws
// nothing: lsview's window, lsview --headless and the browser page's tests
// each do that their own way on top of one Session.
package viewer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lsbroadcast/lsbroadcast/netio/chat"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

// Reconnect back-off: quick at first, as a restarted broadcaster is back
// within a second, then no more often than every 2 s.
const (
	retryFirst = 250 * time.Millisecond
	retryMax   = 2 * time.Second
)

// Waits for the broadcaster.
const (
	// welcomeWait bounds the chat join that learns the RTSP URL: without a
	// chat there, the default address is tried.
	welcomeWait = 3 * time.Second
	// readTimeout is how long a silent RTSP connection lives.
	readTimeout = 5 * time.Second
)

// ErrNoVideo wraps a failure before any frame: the address is wrong, not
// the network flaky, so retrying would only hide it.
var ErrNoVideo = errors.New("no video")

// Config says what a Session plays and how it joins.
type Config struct {
	Stream    Stream         // from a Directory, HostStream or URLStream
	Hello     chat.Hello     // name and host key for the chat; unused without one
	Transport rtsp.Transport // how RTP travels
	Via       Via            // where the video comes from; "": ViaAuto
	NoNACK    bool           // don't ask for lost packets (rtsp.Client.NoNACK)
	Quality   Quality        // the rung to hold; "": QualityAuto
	Logger    *slog.Logger   // nil: slog.Default()
}

// Via says where a Session plays the video from. The chat is always the
// broadcaster's own.
type Via string

// Where the video comes from.
const (
	ViaAuto  Via = "auto"  // the broadcaster itself, for now: a relay costs latency a room doesn't need
	ViaPi    Via = "pi"    // the broadcaster itself
	ViaRelay Via = "relay" // the relay the broadcaster names (netio.Stream.RelayURL)
)

// ParseVia reads pi, relay or auto.
func ParseVia(s string) (Via, error) {
	switch v := Via(s); v {
	case ViaAuto, ViaPi, ViaRelay:
		return v, nil
	}
	return "", fmt.Errorf("invalid via %q: want pi, relay or auto", s)
}

// Session plays one stream and keeps its chat. Make it with NewSession,
// then call Run once; Frames, Updates, Send, Stream and Stats may be used
// from any goroutine meanwhile.
//
// Goroutines: Run's caller owns Run, and Run owns every goroutine it
// starts (RTSP receive, chat), all ended when it returns. The readers of
// Frames and Updates are the caller's.
type Session struct {
	cfg     Config
	log     *slog.Logger
	chat    *chatSession // nil without chat
	frames  chan rtsp.Frame
	updates <-chan ChatUpdate // the chat's, or closed without one

	mu     sync.Mutex
	stream Stream
	// The rung delivering, since when, and how long each has.
	rung      Rung
	rungSince time.Time
	rungTime  map[string]time.Duration
	switches  uint64

	// feedMu orders the feeds' deliveries (see frameFrom): the one
	// active delivers; the pending one becomes active at its first
	// picture; any other is closing and delivers nothing.
	feedMu  sync.Mutex
	active  *feed
	pending *feed
	// The source's rate as measured from the first pictures' RTP times
	// (see noteRTP), for a stream whose broadcaster names none.
	rtpDeltas []uint32
	lastRTP   uint32
	measured  atomic.Uint64 // math.Float64bits of pictures a second; 0 until known

	quality     atomic.Value  // Quality
	qualityNote atomic.Value  // string: why the hold is not met
	steer       chan struct{} // the hold changed; capacity 1
	described   atomic.Bool   // a DESCRIBE answer was read for the ladder

	state      atomic.Int32 // State
	started    atomic.Int64 // unix ns; 0 until the video begins
	received   atomic.Uint64
	skipped    atomic.Uint64
	lostBefore atomic.Uint64                     // lost frames of earlier connections
	recBefore  atomic.Pointer[rtsp.RecoverStats] // of earlier connections, summed; RTT the last one's
	lostAt     atomic.Int64                      // unix ns the video was lost; 0 while it plays
	client     atomic.Pointer[rtsp.Client]
	transport  atomic.Value // string, kept for after the client is gone
	latency    Samples
	latencySrc atomic.Value // string
}

// NewSession prepares a session; nothing connects before Run.
func NewSession(cfg Config) *Session {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Session{cfg: cfg, log: log, stream: cfg.Stream, frames: make(chan rtsp.Frame, 1),
		rungTime: map[string]time.Duration{}, steer: make(chan struct{}, 1)}
	q := cfg.Quality
	if q == "" {
		q = QualityAuto
	}
	s.quality.Store(q)
	s.qualityNote.Store("")
	if cfg.Stream.HasChat() {
		s.chat = newChatSession(cfg.Stream.Chat, cfg.Hello, log)
		s.updates = s.chat.updates
	} else {
		none := make(chan ChatUpdate)
		close(none)
		s.updates = none
	}
	s.transport.Store("")
	s.latencySrc.Store("")
	return s
}

// Frames delivers the newest complete picture: it holds one at most, and
// a picture not taken before the next arrives is dropped (and counted as
// skipped), so a slow reader is always shown the present. It is closed
// when Run returns.
func (s *Session) Frames() <-chan rtsp.Frame { return s.frames }

// Updates delivers the chat's changes in order. Nothing is dropped: a
// reader that stops reading stalls the chat once the queue (256) is full,
// so read it for as long as Run runs. It is closed when Run returns, at
// once for a stream without chat.
func (s *Session) Updates() <-chan ChatUpdate { return s.updates }

// Send queues a line for the chat. It returns false, without waiting,
// when the stream has no chat or too many lines wait already. A queued
// line stays in Pending until the server acknowledges it, across
// reconnects and a refused join, and is stored exactly once.
func (s *Session) Send(text string) bool {
	return s.chat != nil && s.chat.send(Outgoing{Text: text})
}

// Announce queues an announcement change (op AnnouncePost with text,
// AnnounceEdit with id and text, AnnounceDelete with id) as Send queues a
// line. Only the host's are accepted; the server refuses a viewer's.
func (s *Session) Announce(op string, id uint64, text string) bool {
	return s.chat != nil && s.chat.send(Outgoing{Op: op, ID: id, Text: text})
}

// Pending lists what Send and Announce queued that the server has not
// acknowledged yet, oldest first: the lines to show as "sending…". An
// update with Queue set says it shrank.
func (s *Session) Pending() []Outgoing {
	if s.chat == nil {
		return nil
	}
	return s.chat.pending()
}

// Rejoin joins the chat again under a new name, or with a new host key
// ("-": none, as a viewer); empty keeps what was. It is how a refused join
// is fixed without a restart. False without a chat.
func (s *Session) Rejoin(name, hostKey string) bool {
	if s.chat == nil {
		return false
	}
	s.chat.rejoin(rejoin{name: name, hostKey: hostKey})
	return true
}

// Stream is the stream as known now: the chat's welcome may have named
// its video and title since NewSession.
func (s *Session) Stream() Stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream
}

// RecordLatency adds a capture-to-received latency that the caller
// measured itself (e.g. from a clock drawn in the picture), for frames
// that carry no sender time (rtsp.Frame.Captured is zero).
func (s *Session) RecordLatency(d time.Duration, source string) {
	s.latency.Add(d)
	s.latencySrc.Store(source)
}

// State is where the video stands now; cheaper than Stats.
func (s *Session) State() State { return State(s.state.Load()) }

// Stats returns the counters now.
func (s *Session) Stats() Stats {
	lost := s.lostBefore.Load()
	rec := *sumRecover(s.recBefore.Load(), rtsp.RecoverStats{})
	if c := s.client.Load(); c != nil {
		cs := c.Stats()
		lost += cs.LostFrames
		rec = *sumRecover(&rec, cs.Recover)
		if cs.Transport != "" {
			s.transport.Store(cs.Transport)
		}
	}
	st := Stats{URL: s.Stream().URL, State: s.State(), Frames: s.received.Load(),
		Skipped: s.skipped.Load(), Lost: lost, Latency: s.latency.Summary(), Viewers: -1, Recover: rec}
	st.Transport = s.transport.Load().(string)
	st.Latency.Source = s.latencySrc.Load().(string)
	st.Quality, st.QualityNote = s.Quality(), s.qualityNote.Load().(string)
	s.mu.Lock()
	st.Rung, st.Switches = s.rung, s.switches
	st.RungTime = make(map[string]time.Duration, len(s.rungTime)+1)
	for k, v := range s.rungTime {
		st.RungTime[k] = v
	}
	if s.rung.Name != "" {
		st.RungTime[s.rung.Name] += time.Since(s.rungSince)
	}
	s.mu.Unlock()
	if ns := s.started.Load(); ns != 0 {
		st.Started = time.Unix(0, ns)
		st.Elapsed = time.Since(st.Started)
		if secs := st.Elapsed.Seconds(); secs > 0 {
			st.FPS = float64(st.Frames) / secs
		}
	}
	if c := s.chat; c != nil {
		st.Chat = c.status.Load().(string)
		st.ChatMessages = c.messages.Load()
		st.Viewers = int(c.viewers.Load())
	}
	return st
}

// sumRecover adds b to a (nil: none); the round trip is b's once measured.
func sumRecover(a *rtsp.RecoverStats, b rtsp.RecoverStats) *rtsp.RecoverStats {
	var r rtsp.RecoverStats
	if a != nil {
		r = *a
	}
	r.NACKs += b.NACKs
	r.Recovered += b.Recovered
	r.GaveUp += b.GaveUp
	if b.RTT != 0 {
		r.RTT = b.RTT
	}
	return &r
}

// Run joins and plays until ctx ends (nil), reconnecting whatever drops.
// It returns an error only when the first video connection fails. Call it
// once.
func (s *Session) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.cfg.Stream.GuessedURL && s.chat != nil {
		if err := s.join(ctx); err != nil {
			close(s.frames)
			close(s.chat.updates)
			return err
		}
	}
	if err := s.chooseVideo(); err != nil {
		close(s.frames)
		if s.chat != nil {
			if s.chat.first != nil {
				s.chat.first.Close()
			}
			close(s.chat.updates)
		}
		return err
	}
	s.started.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	if s.chat != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(s.chat.updates)
			s.chat.run(ctx)
		}()
	}
	err := s.play(ctx)
	close(s.frames) // play's receiver has returned: nobody sends any more
	cancel()
	wg.Wait()
	return err
}

// join dials the chat to learn the RTSP URL from the welcome and keeps the
// connection for the chat, so it joins once. Without a welcome (a refused
// name, say) the guessed URL is played only if its RTSP server names this
// chat: never another broadcaster's video.
func (s *Session) join(ctx context.Context) error {
	jctx, cancel := context.WithTimeout(ctx, welcomeWait)
	defer cancel()
	c, w, err := chat.Dial(jctx, s.chat.addr, s.chat.hello)
	if err != nil {
		if cerr := confirmVideo(ctx, s.Stream()); cerr != nil {
			return fmt.Errorf("%w: chat %s gave no welcome (%w), and %w", ErrNoVideo, s.chat.addr, err, cerr)
		}
		s.log.Info("no chat welcome; playing the video its RTSP server names", "chat", s.chat.addr, "error", err)
		return nil
	}
	s.chat.first, s.chat.welcome = c, w
	if w.Stream == nil || w.Stream.RTSPPort <= 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(s.chat.addr)
	if err != nil {
		return fmt.Errorf("chat address %q: %w", s.chat.addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.stream
	st.RTSPPort, st.RTSPPath = w.Stream.RTSPPort, w.Stream.RTSPPath
	st.URL = rtspURL(host, w.Stream.RTSPPort, w.Stream.RTSPPath)
	st.GuessedURL = false
	if w.Stream.Name != "" {
		st.Name = w.Stream.Name
	}
	st.Width, st.Height, st.FPS, st.Instance = w.Stream.Width, w.Stream.Height, w.Stream.FPS, w.Stream.Instance
	st.RelayURL, st.RTPEpoch = w.Stream.RelayURL, w.Stream.RTPEpoch
	if len(w.Stream.Renditions) > 0 {
		st.Renditions = w.Stream.Renditions
	}
	return nil
}

// chooseVideo points the stream's URL at the relay when Via asks for it.
// A relay asked for and not named is an error, not a quiet fall-back:
// the user chose the relay to spare the broadcaster.
func (s *Session) chooseVideo() error {
	if s.cfg.Via != ViaRelay {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream.RelayURL == "" {
		return fmt.Errorf("%w: %q names no relay (it publishes to one with lsbroadcast --relay)", ErrNoVideo, s.stream.Name)
	}
	if err := rtsp.CheckRelayURL(s.stream.RelayURL); err != nil {
		return fmt.Errorf("%w: %q names a relay we can't play: %w", ErrNoVideo, s.stream.Name, err)
	}
	s.stream.URL = s.stream.RelayURL
	s.log.Info("playing the video from the relay; the chat stays with the broadcaster", "url", s.stream.URL)
	return nil
}

// deliver runs on an RTSP client's goroutine (under feedMu): it only
// swaps the frame into Frames, so receiving never waits for the reader.
func (s *Session) deliver(f rtsp.Frame) {
	s.received.Add(1)
	s.state.Store(int32(Playing))
	if lost := s.lostAt.Load(); lost != 0 && s.lostAt.CompareAndSwap(lost, 0) {
		s.log.Warn("stream back", "url", s.Stream().URL, "after", time.Since(time.Unix(0, lost)).Round(100*time.Millisecond))
	}
	if epoch := s.Stream().RTPEpoch; epoch != 0 {
		// The broadcaster's own mapping beats the sender reports: it
		// holds from the first frame, and through a relay that keeps
		// the timestamps but rewrites the reports.
		f.Captured = rtsp.CaptureTime(time.UnixMicro(epoch), f.RTPTime, f.Received)
		s.RecordLatency(f.Received.Sub(f.Captured), "rtp")
	} else if !f.Captured.IsZero() {
		s.RecordLatency(f.Received.Sub(f.Captured), "rtcp")
	}
	for {
		select {
		case s.frames <- f:
			return
		default:
		}
		select {
		case <-s.frames:
			s.skipped.Add(1)
		default:
		}
	}
}

// SetQuality holds a rung by its name, or lets the viewer choose
// (QualityAuto). A rung the broadcaster doesn't offer is not played: the
// full one is, and Stats.QualityNote says why. It takes effect at once,
// without a gap in the picture.
func (s *Session) SetQuality(q Quality) {
	s.quality.Store(q)
	select {
	case s.steer <- struct{}{}:
	default:
	}
}

// Quality is the hold SetQuality or Config.Quality set.
func (s *Session) Quality() Quality { return s.quality.Load().(Quality) }

// Rungs are the rungs the broadcaster offers as known now, largest first;
// the full stream alone when it names no renditions.
func (s *Session) Rungs() []Rung { return Rungs(s.Stream(), s.cfg.Via) }

// frameFrom is f's delivery: the active feed's pictures go to Frames; the
// pending one's first picture makes it the active one (the switch); a
// closing feed's are dropped.
func (s *Session) frameFrom(f *feed) func(rtsp.Frame) {
	return func(fr rtsp.Frame) {
		s.feedMu.Lock()
		defer s.feedMu.Unlock()
		switch f {
		case s.active:
		case s.pending:
			s.active, s.pending = f, nil
			s.client.Store(f.client)
			s.rungPlays(f.rung)
			close(f.first)
		default:
			return
		}
		s.deliver(fr)
		s.noteRTP(fr.RTPTime)
	}
}

// rtpSamples is how many picture intervals measure the source's rate:
// a second at 30 fps.
const rtpSamples = 32

// noteRTP measures the source's rate from the RTP times of the first
// pictures (under feedMu): the shortest interval seen twice (within
// 15 %). Not the median: a server thinning this reader from its first
// second sends every other picture, and the median would be twice the
// source's interval; one short interval alone may be a capture's jitter.
// Every rung has the same RTP clock.
func (s *Session) noteRTP(ts uint32) {
	if len(s.rtpDeltas) >= rtpSamples {
		return
	}
	d := ts - s.lastRTP
	s.lastRTP = ts
	// Between 1/120 s and 1 s at 90 kHz; the first picture, a repeat
	// or a jump is no interval.
	if d < 750 || d > 90000 {
		return
	}
	if s.rtpDeltas = append(s.rtpDeltas, d); len(s.rtpDeltas) < rtpSamples {
		return
	}
	sorted := slices.Sorted(slices.Values(s.rtpDeltas))
	for i := range len(sorted) - 1 {
		if float64(sorted[i+1]) <= 1.15*float64(sorted[i]) {
			s.measured.Store(math.Float64bits(90000 / float64(sorted[i])))
			return
		}
	}
}

// sourceFPS is the source's rate: as measured, else as the broadcaster
// names it; 0 until known.
func (s *Session) sourceFPS() float64 {
	if fps := math.Float64frombits(s.measured.Load()); fps > 0 {
		return fps
	}
	return float64(s.Stream().FPS)
}

// setActive makes f the feed whose pictures are shown (nil: none).
func (s *Session) setActive(f *feed) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	s.active = f
	if f == nil {
		s.client.Store(nil)
		return
	}
	s.client.Store(f.client)
	s.rungPlays(f.rung)
}

// setPending makes f the feed a switch waits for (nil: none).
func (s *Session) setPending(f *feed) {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	s.pending = f
}

// rungPlays notes that rung r delivers from now.
func (s *Session) rungPlays(r Rung) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.rung.Name != "" {
		s.rungTime[s.rung.Name] += now.Sub(s.rungSince)
		if s.rung.Name != r.Name {
			s.switches++
		}
	}
	s.rung, s.rungSince = r, now
}

// setQualityNote keeps why the hold is not met, for Stats.
func (s *Session) setQualityNote(note string) { s.qualityNote.Store(note) }

// ended counts what a finished feed received into the session's totals
// and returns its counters.
func (s *Session) ended(f *feed) rtsp.ClientStats {
	st := f.client.Stats()
	s.lostBefore.Add(st.LostFrames)
	s.recBefore.Store(sumRecover(s.recBefore.Load(), st.Recover))
	if st.Transport != "" {
		s.transport.Store(st.Transport)
	}
	return st
}
