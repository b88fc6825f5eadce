package device

import (
	"errors"
	"strings"
	"testing"
)

// TestNameRefusesHazards: issue 11 finding 4. The --name a broadcaster is
// given goes over mDNS to every picker on the LAN; one that would rewrite
// a terminal, or look like another, is a usage error (exit status 2) with
// one line that shows it escaped. Ordinary names, punctuation and all,
// still pass, up to the mDNS label's 63 bytes.
func TestNameRefusesHazards(t *testing.T) {
	for _, name := range []string{
		"Cam\x1b]0;OWNED\x07\x1b[2J\u202e",
		"Cam\u202eevil",
		"Kitchen\u200bcamera",
		"Cam\u2028era",
		"Cam\u3164",
		"\u2800",
		"Cam\x7f",
		"Ca\u0085m",
		"---",
		"Kitchen camera in the big hall, left\u200b", // longer than a chat name
		"Kitchen camera in the big hall, left side \u3164x",
	} {
		_, err := ParseArgs([]string{"--name", name}, nil)
		var u *UsageError
		if !errors.As(err, &u) {
			t.Errorf("--name %+q: %v, want a usage error", name, err)
			continue
		}
		msg := err.Error()
		if strings.ContainsFunc(msg, func(r rune) bool {
			return r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x202e || r == 0x200b || r == 0x2028
		}) {
			t.Errorf("--name %+q: message carries the hazard itself: %+q", name, msg)
		}
		if !strings.HasPrefix(msg, "invalid name") {
			t.Errorf("--name %+q: %q", name, msg)
		}
	}
	for _, name := range []string{
		"Kitchen camera (2)",
		"Classroom",
		"Küche – Kamera #2",
		"教室のカメラ",
		"כיתה א׳",
		"Cam \U0001F469\u200D\U0001F4BB",
		"Kitchen camera in the big hall, left side of the door", // 53 bytes
		"Kitchen camera \U0001F469\u200D\U0001F4BB in the big hall, left",
	} {
		c, err := ParseArgs([]string{"--name", name}, nil)
		if err != nil {
			t.Errorf("--name %+q: %v", name, err)
		} else if c.Name != name {
			t.Errorf("--name %+q became %+q", name, c.Name)
		}
	}
	if _, err := ParseArgs([]string{"--name", strings.Repeat("n", 64)}, nil); err == nil || !strings.Contains(err.Error(), "63") {
		t.Errorf("64-byte name: %v", err)
	}
}
