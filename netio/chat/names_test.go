package chat

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Finding 5 of issue 11, written as the attack: names that look like
// someone else's, and chat text that hides or reorders what it says.

// TestNameTwins: with alice here, every twin from the issue (invisible
// joiners, fillers, Cyrillic and fullwidth letters) is refused: twins that
// are spelled with visible look-alikes as name_taken, those hiding an
// invisible or blank character as bad_name. Before issue 11 all joined.
func TestNameTwins(t *testing.T) {
	s := startServer(t, nil)
	joinFrom(t, "127.0.0.1", s.addr, "alice")
	for _, tc := range []struct {
		name, code string
	}{
		{"alice\u034F", CodeBadName},  // COMBINING GRAPHEME JOINER
		{"alice\u3164", CodeBadName},  // HANGUL FILLER
		{"alice\u2800", CodeBadName},  // BRAILLE PATTERN BLANK
		{"alice\u115F", CodeBadName},  // HANGUL CHOSEONG FILLER
		{"alice\u17B5", CodeBadName},  // KHMER VOWEL INHERENT AA
		{"\u0430lice", CodeNameTaken}, // Cyrillic а
		{"alic\u0435", CodeNameTaken}, // Cyrillic е
		{"\uFF41lice", CodeNameTaken}, // fullwidth ａ
		{"ALICE", CodeNameTaken},
		{"\u0410LICE", CodeNameTaken}, // Cyrillic А
	} {
		t.Run(fmt.Sprintf("%+q", tc.name), func(t *testing.T) {
			_, m := joinFrom(t, "127.0.0.1", s.addr, tc.name)
			if m.Type != TypeError || m.Code != tc.code {
				t.Fatalf("hello as %+q: %+v, want error %s", tc.name, m, tc.code)
			}
			if tc.code == CodeBadName && !strings.Contains(m.Message, "U+") {
				t.Errorf("bad_name without the character at fault: %q", m.Message)
			}
		})
	}
}

// TestNameSuggestionNotATwin: the suggestion for a taken name is free by
// look too: with alice and alice2 here, a twin of alice is told to try a
// name ending in 3, and that name joins.
func TestNameSuggestionNotATwin(t *testing.T) {
	s := startServer(t, nil)
	joinFrom(t, "127.0.0.1", s.addr, "alice")
	joinFrom(t, "127.0.0.1", s.addr, "alice2")
	_, m := joinFrom(t, "127.0.0.1", s.addr, "\u0430lice")
	if m.Code != CodeNameTaken || m.Suggestion != "\u0430lice3" {
		t.Fatalf("twin: %+v, want name_taken suggesting %+q", m, "\u0430lice3")
	}
	if _, w := joinFrom(t, "127.0.0.1", s.addr, m.Suggestion); w.Type != TypeWelcome {
		t.Fatalf("suggested name refused: %+v", w)
	}
	// A suggestion cut to fit MaxName stays a name CleanName accepts.
	long := strings.Repeat("\U0001F469\u200D\U0001F4BB", 10) + "ab" // 32 code points
	joinFrom(t, "127.0.0.1", s.addr, long)
	_, m = joinFrom(t, "127.0.0.1", s.addr, long)
	if m.Code != CodeNameTaken {
		t.Fatalf("same long name: %+v", m)
	}
	if _, err := CleanName(m.Suggestion); err != nil {
		t.Fatalf("suggestion %+q: %v", m.Suggestion, err)
	}
}

// TestHostNameTwin: the host joins under a name like anyone and its name is
// as protected: a viewer can't wear the host's name.
func TestHostNameTwin(t *testing.T) {
	s := startServer(t, nil)
	r := rawFrom(t, "127.0.0.1", s.addr)
	if w := r.hello(t, fmt.Sprintf(`{"type":"hello","v":1,"name":"Host","role":"host","key":%q}`, s.HostKey)); w.Type != TypeWelcome || w.Role != RoleHost {
		t.Fatalf("host hello: %+v", w)
	}
	r.answerPings()
	if _, m := joinFrom(t, "127.0.0.1", s.addr, "H\u043Est"); m.Code != CodeNameTaken { // Cyrillic о
		t.Fatalf("twin of the host: %+v", m)
	}
}

// TestTextHazards: zero-width, line-separator and bidi characters are
// refused with bad_text; emoji sequences and other scripts are stored.
func TestTextHazards(t *testing.T) {
	s := startServer(t, nil)
	c, _ := dial(t, s.addr, "sender", "")
	for _, tc := range []struct {
		text string
		ok   bool
	}{
		{"a\u061Cb", false},        // ARABIC LETTER MARK
		{"line\u2028break", false}, // LINE SEPARATOR
		{"ali\u200Bce", false},     // ZERO WIDTH SPACE
		{"para\u2029", false},
		{"\u2066isolate\u2069", false},
		{"\uFEFFbom", false},
		{"coder \U0001F469\u200D\U0001F4BB", true},
		{"love \u2764\uFE0F", true},
		{"family \U0001F468\u200D\U0001F469\u200D\U0001F467", true},
		{"你好，世界", true},
		{"مرحبا بالعالم", true},
		{"שלום עולם", true},
	} {
		// One message per 150 ms stays under the rate limit.
		time.Sleep(150 * time.Millisecond)
		ref, err := c.Chat(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		m := next(t, c, TypeAck, TypeError)
		if m.Ref != ref {
			t.Fatalf("%+q: answer for %q: %+v", tc.text, ref, m)
		}
		switch {
		case tc.ok && m.Type != TypeAck:
			t.Errorf("%+q refused: %+v", tc.text, m)
		case !tc.ok && (m.Type != TypeError || m.Code != CodeBadText):
			t.Errorf("%+q: %+v, want error bad_text", tc.text, m)
		}
	}
}
