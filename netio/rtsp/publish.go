package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmjpeg"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/bluenviron/gortsplib/v5/pkg/ntp"
	"github.com/pion/rtcp"
)

// Relay publishing: the same pictures the Server serves, with the same RTP
// timestamps, pushed to a relay (MediaMTX) by RTSP ANNOUNCE/RECORD over
// TCP, so it works from behind NAT and the relay re-serves them to
// audiences one broadcaster can't.

// Reconnect back-off of a Publisher: quick at first, as a restarted relay
// is back within seconds, never more often than every retryMaxPublish,
// jittered so a room of broadcasters doesn't knock at once.
const (
	retryFirstPublish = 500 * time.Millisecond
	retryMaxPublish   = 10 * time.Second
	// publishQueuePackets bounds what waits for the relay's TCP
	// connection: two detailed 1080p frames, as for a reader
	// (writeQueuePackets). A power of two, as gortsplib wants.
	publishQueuePackets = 1024
	// reportEvery is how often the relay gets a sender report, as
	// gortsplib's own period (which is off: see write).
	reportEvery = 10 * time.Second
)

// PublishState is where a Publisher stands.
type PublishState string

// States of a Publisher.
const (
	PublishConnecting PublishState = "connecting" // dialling, announcing, or waiting to retry after an error
	PublishPublishing PublishState = "publishing" // the relay accepted RECORD and pictures flow
	PublishError      PublishState = "error"      // the last attempt failed; LastError says why
)

// PublishStatus is a Publisher's state now.
type PublishStatus struct {
	State     PublishState
	LastError string // the last failure, kept while a retry connects
	Since     time.Time
	Frames    uint64 // pictures handed to the relay's connection
	Dropped   uint64 // pictures the relay missed: it was away or slower than the camera
}

// Publisher pushes every picture offered to it to one relay, as a
// publisher (RTSP RECORD), and reconnects by itself. Offer never waits:
// the Publisher keeps only the newest picture not yet sent, so a slow or
// dead relay loses pictures of its own and never slows the Server.
//
// Set the fields, then run Run until its context ends, calling Offer
// meanwhile (the Server does when it is the Server's Relay).
type Publisher struct {
	// URL is rtsp://[user:pass@]host:port/path. The password is sent to
	// the relay only; logs and status show Redacted.
	URL    string
	Logger *slog.Logger

	mu      sync.Mutex
	status  PublishStatus
	pending *offered      // newest picture not yet taken; nil when none
	wake    chan struct{} // one token: a picture is pending
	frames  atomic.Uint64
	dropped atomic.Uint64
}

// offered is one picture as the Server sent it.
type offered struct {
	jpeg     []byte
	rtpTime  uint32
	captured time.Time
}

// Offer hands the Publisher a picture the Server has just sent, with its
// RTP timestamp. It replaces a picture still waiting (counted as dropped)
// and returns at once.
func (p *Publisher) Offer(jpeg []byte, rtpTime uint32, captured time.Time) {
	p.mu.Lock()
	if p.pending != nil {
		p.dropped.Add(1)
	}
	p.pending = &offered{jpeg: jpeg, rtpTime: rtpTime, captured: captured}
	wake := p.wake
	p.mu.Unlock()
	if wake == nil {
		return
	}
	select {
	case wake <- struct{}{}:
	default:
	}
}

// take returns the pending picture, or nil.
func (p *Publisher) take() *offered {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.pending
	p.pending = nil
	return o
}

// Status returns the state now.
func (p *Publisher) Status() PublishStatus {
	p.mu.Lock()
	st := p.status
	p.mu.Unlock()
	st.Frames, st.Dropped = p.frames.Load(), p.dropped.Load()
	if st.State == "" { // Run has not begun
		st.State = PublishConnecting
	}
	return st
}

// Redacted is the URL with its password, if any, replaced by xxxxx.
func (p *Publisher) Redacted() string { return RedactURL(p.URL) }

// RedactURL is u with its password replaced by xxxxx; an unparsable URL is
// shown as its scheme only, as it may hold a password where we can't find
// it.
func RedactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return "rtsp://(unparsable)"
	}
	return pu.Redacted()
}

// WithoutUserInfo is u without user and password: the address readers of
// the relay play.
func WithoutUserInfo(u string) (string, error) {
	pu, err := parseURL(u)
	if err != nil {
		return "", err
	}
	pu.User = nil
	return pu.String(), nil
}

// CheckRelayURL says what is wrong with a relay URL, or nil.
func CheckRelayURL(u string) error {
	pu, err := parseURL(u)
	if err != nil {
		return err
	}
	if pu.Scheme != "rtsp" || pu.Hostname() == "" || trimSlash(pu.Path) == "" {
		return fmt.Errorf("relay url %q: want rtsp://[USER:PASSWORD@]HOST[:PORT]/PATH", pu.Redacted())
	}
	return nil
}

// parseURL is url.Parse with an error that does not quote the URL, which
// may hold a password.
func parseURL(u string) (*url.URL, error) {
	pu, err := url.Parse(u)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("relay url %s: %w", RedactURL(u), err)
	}
	return pu, nil
}

// setStatus records a state, and logs and reports it when it differs from
// the last: a relay that stays away is one line, not one a retry.
func (p *Publisher) setStatus(state PublishState, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	p.mu.Lock()
	same := p.status.State == state && p.status.LastError == msg
	if !same {
		p.status.State, p.status.Since = state, time.Now()
	}
	if msg != "" || state == PublishPublishing {
		p.status.LastError = msg
	}
	p.mu.Unlock()
	if same {
		return
	}
	switch state {
	case PublishPublishing:
		p.Logger.Info("relay: publishing", "url", p.Redacted())
	case PublishError:
		p.Logger.Warn("relay: failed, retrying", "url", p.Redacted(), "error", msg)
	default:
		p.Logger.Info("relay: connecting", "url", p.Redacted())
	}
}

// Run publishes until ctx ends, reconnecting with a capped, jittered
// back-off. It returns nil when ctx ends, and an error only for a URL
// it can never use.
func (p *Publisher) Run(ctx context.Context) error {
	if err := CheckRelayURL(p.URL); err != nil {
		return err
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	p.mu.Lock()
	p.wake = make(chan struct{}, 1)
	p.mu.Unlock()
	retry := retryFirstPublish
	p.setStatus(PublishConnecting, nil)
	for {
		published, err := p.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if published {
			retry = retryFirstPublish
		}
		p.setStatus(PublishError, err)
		// Full jitter in [retry/2, retry): spreads reconnects, never
		// spins.
		wait := retry/2 + rand.N(retry/2)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		retry = min(2*retry, retryMaxPublish)
	}
}

// session connects once and publishes until the connection fails or ctx
// ends. published says RECORD was accepted.
func (p *Publisher) session(ctx context.Context) (published bool, err error) {
	tcp := gortsplib.ProtocolTCP
	forma := &format.MJPEG{}
	media := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	desc := &description.Session{Title: "lsbroadcast", Medias: []*description.Media{media}}
	c := &gortsplib.Client{
		Protocol:       &tcp,
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   5 * time.Second,
		WriteQueueSize: publishQueuePackets,
		MaxPacketSize:  MaxPacketSize,
		UserAgent:      "lsbroadcast",
		// Ours instead, anchored on whole seconds (see write).
		DisableRTCPSenderReports: true,
		// The relay's reports and lost-packet notes on a TCP
		// publisher are not ours to log.
		OnPacketsLost: func(uint64) {},
		OnDecodeError: func(error) {},
	}
	u, err := base.ParseURL(p.URL)
	if err != nil { // CheckRelayURL passed: not expected
		return false, fmt.Errorf("relay url %s: unusable", p.Redacted())
	}
	c.Scheme, c.Host = u.Scheme, u.Host
	if err := c.Start(); err != nil {
		return false, fmt.Errorf("rtsp client: %w", err)
	}
	// ANNOUNCE, SETUP and RECORD wait for the relay without a context:
	// closing the client is how ctx ends them.
	started := make(chan error, 1)
	go func() { started <- record(c, u, desc) }()
	select {
	case err = <-started:
	case <-ctx.Done():
		c.Close()
		<-started
		return false, ctx.Err()
	}
	if err != nil {
		c.Close()
		return false, fmt.Errorf("publish to %s: %w", p.Redacted(), err)
	}
	defer c.Close()
	enc := &rtpmjpeg.Encoder{PayloadMaxSize: MaxPacketSize - rtpHeaderSize}
	if err := enc.Init(); err != nil {
		return false, fmt.Errorf("rtp/jpeg encoder: %w", err)
	}
	// A picture that waited through the connect is stale: start with the
	// next.
	p.take()
	p.setStatus(PublishPublishing, nil)
	failed := make(chan error, 1)
	go func() { failed <- c.Wait() }()
	var reported time.Time
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err := <-failed:
			return true, fmt.Errorf("relay %s: %w", p.Redacted(), err)
		case <-p.wake:
		}
		o := p.take()
		if o == nil {
			continue
		}
		report := time.Since(reported) >= reportEvery
		if err := p.write(c, enc, media, o, report); err != nil {
			var full liberrors.ErrClientWriteQueueFull
			if errors.As(err, &full) {
				p.dropped.Add(1)
				continue
			}
			return true, fmt.Errorf("relay %s: %w", p.Redacted(), err)
		}
		if report {
			reported = time.Now()
		}
		p.frames.Add(1)
	}
}

// record asks the relay to take the stream: what gortsplib's
// StartRecording does, on a client already started.
func record(c *gortsplib.Client, u *base.URL, desc *description.Session) error {
	if _, err := c.Announce(u, desc); err != nil {
		return err
	}
	if err := c.SetupAll(u, desc.Medias); err != nil {
		return err
	}
	_, err := c.Record()
	return err
}

// write sends one picture with the Server's RTP timestamp, followed by a
// sender report when report is set. The first picture of a connection
// gets one at once: a relay that keeps absolute timestamps (MediaMTX's
// useAbsoluteTimestamp, which keeps viewers' latency figures true) drops
// every packet until it has one, and gortsplib sends its first only after
// 10 s.
//
// The report maps a whole second of wall-clock time, not the picture's
// capture time, to its RTP time: MediaMTX v1.12.3 (on gortsplib v4.14.1;
// bluenviron/gortsplib#869, fixed by #870) reads the NTP fraction as
// nanoseconds, so a fraction of zero is the only one every relay reads
// right.
func (p *Publisher) write(c *gortsplib.Client, enc *rtpmjpeg.Encoder, media *description.Media, o *offered, report bool) error {
	pkts, err := enc.Encode(o.jpeg)
	if err != nil {
		return fmt.Errorf("rtp/jpeg: %w", err)
	}
	for _, pkt := range pkts {
		pkt.Timestamp = o.rtpTime
		if err := c.WritePacketRTPWithNTP(media, pkt, o.captured); err != nil {
			return err
		}
	}
	if !report {
		return nil
	}
	second := o.captured.Truncate(time.Second)
	sinceSecond := uint32(int64(o.captured.Sub(second)) * jpegClockRate / int64(time.Second))
	return c.WritePacketRTCP(media, &rtcp.SenderReport{
		SSRC:    pkts[0].SSRC, // set by the client to the session's
		NTPTime: ntp.Encode(second),
		RTPTime: o.rtpTime - sinceSecond,
	})
}
