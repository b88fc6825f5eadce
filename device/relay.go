package device

import (
	"context"
	"flag"
	"fmt"
	"net/url"

	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
	"github.com/lsbroadcast/lsbroadcast/netio/web"
)

// RelayConfig says where the stream is published for a relay (MediaMTX) to
// re-serve it. The zero value is off.
type RelayConfig struct {
	// PublishURL is rtsp://[user:pass@]host:port/path, credentials
	// included; never logged as it is (rtsp.RedactURL).
	PublishURL string
	// WatchURL is where viewers play the relay, without credentials.
	WatchURL string
}

// On says whether a relay is set.
func (r RelayConfig) On() bool { return r.PublishURL != "" }

// relayFlagSet is the relay's flags as parsed.
type relayFlagSet struct {
	url, user, password, watch *string
}

func relayFlags(fs *flag.FlagSet) relayFlagSet {
	return relayFlagSet{
		url:  fs.String("relay", "", "publish the stream to a relay (MediaMTX): rtsp://[USER:PASSWORD@]HOST:PORT/PATH"),
		user: fs.String("relay-user", "", "user name for --relay (instead of one in the URL)"),
		password: fs.String("relay-password", "",
			"password for --relay (instead of one in the URL; better in the config file than on a command line)"),
		watch: fs.String("relay-watch-url", "",
			"where viewers play the relay, if not the --relay URL without credentials"),
	}
}

// config checks the relay flags and merges the credentials into the URL.
func (f relayFlagSet) config() (RelayConfig, error) {
	if *f.url == "" {
		if *f.user != "" || *f.password != "" || *f.watch != "" {
			return RelayConfig{}, fmt.Errorf("relay-user, relay-password and relay-watch-url need relay")
		}
		return RelayConfig{}, nil
	}
	if err := rtsp.CheckRelayURL(*f.url); err != nil {
		return RelayConfig{}, err
	}
	u, err := url.Parse(*f.url)
	if err != nil { // CheckRelayURL passed: not expected
		return RelayConfig{}, fmt.Errorf("relay url %s: unusable", rtsp.RedactURL(*f.url))
	}
	if *f.user != "" || *f.password != "" {
		if u.User != nil {
			return RelayConfig{}, fmt.Errorf("relay %s: credentials both in the URL and in relay-user/relay-password", u.Redacted())
		}
		u.User = url.UserPassword(*f.user, *f.password)
	}
	r := RelayConfig{PublishURL: u.String(), WatchURL: *f.watch}
	if r.WatchURL == "" {
		if r.WatchURL, err = rtsp.WithoutUserInfo(r.PublishURL); err != nil {
			return RelayConfig{}, err
		}
	} else if err := rtsp.CheckRelayURL(r.WatchURL); err != nil {
		return RelayConfig{}, fmt.Errorf("relay-watch-url: %w", err)
	} else if w, _ := url.Parse(r.WatchURL); w.User != nil {
		// It is announced to everyone: credentials in it would be too.
		return RelayConfig{}, fmt.Errorf("relay-watch-url %s: must not hold a user or password", w.Redacted())
	}
	return r, nil
}

// relayService runs the Publisher as one of the services.
type relayService struct{ *rtsp.Publisher }

// Listen has nothing to bind: the relay is dialled, and a relay that is
// away is a state, not a failure to start.
func (relayService) Listen() error { return nil }

func (r relayService) Serve(ctx context.Context) error { return r.Run(ctx) }

// addRelay makes the relay publisher, when one is set, and has the RTSP
// server offer it every picture it sends.
func (b *Broadcaster) addRelay(svcs *services) {
	if !b.cfg.Relay.On() {
		return
	}
	b.relay = &rtsp.Publisher{URL: b.cfg.Relay.PublishURL, Logger: b.log.With("service", "relay")}
	b.rtsp.Relay = b.relay
	svcs.add("relay", relayService{b.relay})
}

// relayStatus is the relay's state for the page's /state; nil without a
// relay.
func (b *Broadcaster) relayStatus() *web.Relay {
	if b.relay == nil {
		return nil
	}
	st := b.relay.Status()
	return &web.Relay{URL: b.cfg.Relay.WatchURL, State: string(st.State), LastError: st.LastError, Since: st.Since,
		Frames: st.Frames, Dropped: st.Dropped}
}

// relayLine is the relay's part of systemd's status line.
func (b *Broadcaster) relayLine() string {
	if b.relay == nil {
		return ""
	}
	st := b.relay.Status()
	if st.State == rtsp.PublishPublishing {
		return fmt.Sprintf("; relay %s: publishing", b.cfg.Relay.WatchURL)
	}
	if st.LastError != "" {
		return fmt.Sprintf("; relay %s: %s (%s)", b.cfg.Relay.WatchURL, st.State, st.LastError)
	}
	return fmt.Sprintf("; relay %s: %s", b.cfg.Relay.WatchURL, st.State)
}
