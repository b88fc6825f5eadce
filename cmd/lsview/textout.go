package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"unicode/utf8"

	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
)

// Every string lsview prints may come from the network (an mDNS instance
// name, a host name, a server's error message): what reaches a terminal
// goes through textsafe.Terminal, here or at the one place that prints it.

// encodeJSON writes v as JSON whose strings hold the same values, with every
// character that could act on a terminal written as a \u escape. The
// encoder already escapes C0 controls and U+2028/U+2029; C1 controls,
// bidirectional controls and invisible characters it writes raw.
func encodeJSON(w io.Writer, v any, indent bool) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if indent {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeHazards(b.Bytes()))
	return err
}

// escapeHazards rewrites, in encoded JSON, each character textsafe would
// escape on its own as \uXXXX (a surrogate pair above U+FFFF). Outside
// strings JSON is ASCII, and an escape inside one decodes to the same
// character, so the document means what it did. Emoji joiners are escaped
// too: harmless in JSON, and no context to judge them by is needed.
func escapeHazards(js []byte) []byte {
	var out []byte
	for i := 0; i < len(js); {
		r, size := utf8.DecodeRune(js[i:])
		if r < utf8.RuneSelf || textsafe.Terminal(string(r)) == string(r) {
			out = append(out, js[i:i+size]...)
		} else if r > 0xFFFF {
			r -= 0x10000
			out = fmt.Appendf(out, `\u%04x\u%04x`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	return out
}

// newLogHandler is lsview's log handler: text on w, every string value,
// error and message made safe for the terminal. slog quotes strings with
// controls in them, but lets invisible characters through and leaves the
// rest to whoever reads the log.
func newLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: safeAttr})
}

func safeAttr(_ []string, a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		a.Value = slog.StringValue(textsafe.Terminal(v.String()))
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			a.Value = slog.StringValue(textsafe.Terminal(x.Error()))
		case fmt.Stringer:
			a.Value = slog.StringValue(textsafe.Terminal(x.String()))
		}
	}
	return a
}
