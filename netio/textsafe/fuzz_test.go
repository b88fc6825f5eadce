package textsafe

import (
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzSanitize checks Terminal, CheckName, CheckText and Skeleton against
// each other: nothing Terminal returns renders as a control, and nothing the
// checks accept is changed by Terminal.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{
		"alice", "Cam\x1b]0;OWNED\a\x1b[2J", "a\xffb\x9b", "txt.\u202Egnp", "\u2066a\u2069",
		"alice\u034F", "alice\u3164", "alice\u2800", "alice\u115F", "alice\u17B5",
		"\u0430lice", "alic\u0435", "\uFF41lice", "ALICE", "a\u2028b", "a\u200Bb\uFEFF",
		"👩‍💻", "🏳️‍🌈", "1️⃣", "a\uFE0F\u200D🌈", "👩\u200D", "\U000E0041", "\\u202E",
		"你好", "مرحبا", "שלום", "Βob", "rnary", "ﬁ", "\u0301\u0301",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Terminal(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Terminal(%+q) = %+q: not valid UTF-8", s, out)
		}
		assertShowsItself(t, s, out)
		if again := Terminal(out); again != out {
			t.Fatalf("Terminal not idempotent: %+q -> %+q -> %+q", s, out, again)
		}
		if CheckName(s) == nil {
			if out != s {
				t.Fatalf("CheckName accepts %+q but Terminal makes it %+q", s, out)
			}
			if utf8.RuneCountInString(s) > MaxName {
				t.Fatalf("CheckName accepts %+q, longer than %d", s, MaxName)
			}
		}
		if CheckText(s) == nil && out != s {
			t.Fatalf("CheckText accepts %+q but Terminal makes it %+q", s, out)
		}
		sk := Skeleton(s)
		if again := Skeleton(sk); again != sk {
			t.Fatalf("Skeleton not idempotent: %+q -> %+q -> %+q", s, sk, again)
		}
	})
}

// assertShowsItself fails if out holds anything that would not render as
// itself, judged without the package's own classifier.
func assertShowsItself(t *testing.T, in, out string) {
	t.Helper()
	prev := rune(-1)
	rs := []rune(out)
	for i, r := range rs {
		next := rune(-1)
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		bad := ""
		switch {
		case r < 0x20 || r == 0x7F:
			bad = "C0 or DEL"
		case r >= 0x80 && r <= 0x9F:
			bad = "C1"
		case r == 0x061C, r == 0x200E, r == 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
			bad = "bidi control"
		case r == 0x2028, r == 0x2029:
			bad = "line or paragraph separator"
		case r == 0x200D:
			if !(emojiBefore(prev) || prev == 0xFE0F) || !emojiBefore(next) {
				bad = "ZWJ outside an emoji sequence"
			}
		case r == 0xFE0E, r == 0xFE0F:
			if !emojiBefore(prev) && !(prev >= '0' && prev <= '9' || prev == '#' || prev == '*') {
				bad = "variation selector outside an emoji"
			}
		case unicode.Is(defaultIgnorable, r):
			bad = "default-ignorable"
		}
		if bad != "" {
			t.Fatalf("Terminal(%+q) = %+q holds %U (%s)", in, out, r, bad)
		}
		prev = r
	}
}

func emojiBefore(r rune) bool {
	return r >= 0x1F3FB && r <= 0x1F3FF || r > 0x7F && r != utf8.RuneError && unicode.Is(unicode.So, r)
}
