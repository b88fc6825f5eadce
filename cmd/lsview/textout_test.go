package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestEncodeJSONEscapesHazards: the document decodes to the same values,
// and no character a terminal would act on is written raw.
func TestEncodeJSONEscapesHazards(t *testing.T) {
	in := map[string]string{"name": "a\x1b[2J\u0085\u202e\u061c\u2028\u200b\u3164\U000E0001 \U0001F469\u200D\U0001F4BB 你好 שלום <&>"}
	var b bytes.Buffer
	if err := encodeJSON(&b, in, true); err != nil {
		t.Fatal(err)
	}
	if h := hazardIn(b.String()); h != "" {
		t.Fatalf("%s raw in %q", h, b.String())
	}
	var out map[string]string
	if err := json.Unmarshal(b.Bytes(), &out); err != nil || out["name"] != in["name"] {
		t.Fatalf("decoded %+q, %v; want %+q", out["name"], err, in["name"])
	}
	if !strings.Contains(b.String(), `\udb40\udc01`) || !strings.Contains(b.String(), "你好 שלום") {
		t.Errorf("escaping: %s", b.String())
	}
}

// TestLogHandlerEscapes: strings, errors and messages that came from the
// network reach the log escaped.
func TestLogHandlerEscapes(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(newLogHandler(&b, slog.LevelDebug))
	log.Info("found \x1b]0;x\x07", "name", "Cam\x1b[2J\u202e\u3164", "error", errors.New("server said \x1b[31m\u2028"))
	if h := hazardIn(b.String()); h != "" {
		t.Fatalf("%s in %q", h, b.String())
	}
	// slog quotes a value with spaces, doubling Terminal's backslash.
	for _, want := range []string{`\u001B[2J`, `\u202E`, `\u3164`, `u2028`, `u001B]0;x`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("log line lacks %s: %s", want, b.String())
		}
	}
}
