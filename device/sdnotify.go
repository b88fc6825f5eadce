package device

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/coreos/go-systemd/v22/journal"
)

// Notifier tells systemd how the service is doing: ready, a status line,
// stopping, and watchdog pings. Outside systemd (no NOTIFY_SOCKET) every
// call does nothing, so the same code runs from a shell.
type Notifier struct {
	log *slog.Logger
}

// NewNotifier returns a Notifier that logs failed notifications to log.
func NewNotifier(log *slog.Logger) *Notifier { return &Notifier{log: log} }

// Ready says startup is finished: systemd marks the unit active and units
// ordered after it start. Call it once RTSP and chat listen and the first
// frame (or slate) is out.
func (n *Notifier) Ready() { n.notify(daemon.SdNotifyReady) }

// Status sets the one-line status `systemctl status` shows. Newlines would
// end the assignment early, so they become spaces.
func (n *Notifier) Status(s string) {
	n.notify("STATUS=" + strings.ReplaceAll(s, "\n", " "))
}

// Stopping says a clean shutdown has begun, so systemd neither expects
// watchdog pings nor calls the exit a failure.
func (n *Notifier) Stopping() { n.notify(daemon.SdNotifyStopping) }

// notify keeps NOTIFY_SOCKET set (unsetEnvironment false) because the
// service notifies many times over its life.
func (n *Notifier) notify(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.log.Warn("systemd notify failed", "state", state, "error", err)
	}
}

// RunWatchdog pings systemd's watchdog at half its interval for as long as
// healthy returns nil, and returns when ctx ends. While healthy reports an
// error it stays silent, so systemd kills and restarts a hung pipeline
// once WatchdogSec passes. Without a watchdog for this process
// (WATCHDOG_USEC unset, or WATCHDOG_PID another process) it returns at once.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func() error) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		n.log.Warn("systemd watchdog settings unusable; not pinging", "error", err)
		return
	}
	if interval <= 0 {
		return
	}
	// Half the interval is sd_watchdog_enabled(3)'s advice: one late
	// ping must not cost a restart.
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	var sick bool
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := healthy(); err != nil {
			if !sick {
				n.log.Warn("unhealthy: withholding watchdog pings", "error", err, "watchdog", interval)
				sick = true
			}
			continue
		}
		if sick {
			n.log.Info("healthy again: watchdog pings resume")
			sick = false
		}
		n.notify(daemon.SdNotifyWatchdog)
	}
}

// NewLogHandler returns the slog handler for lsbroadcast's logs: the
// journal with structured fields when systemd connected our stderr to it
// (JOURNAL_STREAM names stderr) and journald listens, else text on w.
func NewLogHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if toJournal, err := journal.StderrIsJournalStream(); err == nil && toJournal && journal.Enabled() {
		return newJournalHandler(journal.Send, slog.NewTextHandler(w, opts), opts)
	}
	return slog.NewTextHandler(w, opts)
}

// sendFunc is journal.Send's shape.
type sendFunc func(message string, priority journal.Priority, vars map[string]string) error

// journalHandler writes each record as one journal entry: MESSAGE and
// PRIORITY, every attribute as an upper-case field (groups joined with
// "_"), and CODE_FILE/CODE_LINE/CODE_FUNC with AddSource.
type journalHandler struct {
	send     sendFunc
	fallback slog.Handler // for an entry journald refused, so it is not lost
	level    slog.Leveler
	source   bool
	prefix   string   // field-name prefix from WithGroup
	fields   []string // name, value pairs from WithAttrs
	warnOnce *sync.Once
}

func newJournalHandler(send sendFunc, fallback slog.Handler, opts *slog.HandlerOptions) *journalHandler {
	h := &journalHandler{send: send, fallback: fallback, level: slog.LevelInfo, warnOnce: new(sync.Once)}
	if opts != nil {
		if opts.Level != nil {
			h.level = opts.Level
		}
		h.source = opts.AddSource
	}
	return h
}

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	vars := make(map[string]string, len(h.fields)/2+r.NumAttrs()+3)
	for i := 0; i+1 < len(h.fields); i += 2 {
		vars[h.fields[i]] = h.fields[i+1]
	}
	r.Attrs(func(a slog.Attr) bool {
		addField(vars, h.prefix, a)
		return true
	})
	if h.source && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		vars["CODE_FILE"], vars["CODE_LINE"], vars["CODE_FUNC"] = f.File, strconv.Itoa(f.Line), f.Function
	}
	err := h.send(r.Message, priority(r.Level), vars)
	if err == nil {
		return nil
	}
	h.warnOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "lsbroadcast: journal refused a log entry (%v); such entries go to stderr\n", err)
	})
	return h.fallback.Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	vars := map[string]string{}
	for _, a := range as {
		addField(vars, h.prefix, a)
	}
	c := *h
	c.fields = append([]string(nil), h.fields...)
	for k, v := range vars {
		c.fields = append(c.fields, k, v)
	}
	c.fallback = h.fallback.WithAttrs(as)
	return &c
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + fieldName(name) + "_"
	c.fallback = h.fallback.WithGroup(name)
	return &c
}

// addField flattens a into vars under journal field rules.
func addField(vars map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += fieldName(a.Key) + "_"
		}
		for _, g := range v.Group() {
			addField(vars, p, g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	vars[prefix+fieldName(a.Key)] = v.String()
}

// fieldName maps an slog key to a journal field name: upper-case letters,
// digits and underscores, not starting with an underscore (those are
// journald's trusted fields) nor a digit.
func fieldName(key string) string {
	var b strings.Builder
	for _, r := range key {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_")
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "F_" + s
	}
	// journald caps field names at 64 bytes.
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// priority maps slog levels to syslog priorities.
func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
