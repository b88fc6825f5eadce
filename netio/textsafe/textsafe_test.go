package textsafe

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestTerminal(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "Kitchen cam", "Kitchen cam"},
		{"title and clear", "Cam\x1b]0;OWNED\a\x1b[2J", `Cam\u001B]0;OWNED\u0007\u001B[2J`},
		{"tab", "a\tb", `a\u0009b`},
		{"newline", "a\nb\r", `a\u000Ab\u000D`},
		{"NUL", "a\x00b", `a\u0000b`},
		{"DEL", "a\x7fb", `a\u007Fb`},
		{"C1 CSI", "a\u009b2Jb", `a\u009B2Jb`},
		{"C1 NEL", "a\u0085b", `a\u0085b`},
		{"invalid byte", "a\xffb", `a\xFFb`},
		{"raw C1 byte", "a\x9bb", `a\x9Bb`},
		{"truncated rune", "a\xe2\x80", `a\xE2\x80`},
		{"RLO", "txt.\u202Egnp", `txt.\u202Egnp`},
		{"isolates", "\u2066a\u2067b\u2068c\u2069", `\u2066a\u2067b\u2068c\u2069`},
		{"ALM LRM RLM", "\u061Ca\u200Eb\u200F", `\u061Ca\u200Eb\u200F`},
		{"line separator", "a\u2028b\u2029", `a\u2028b\u2029`},
		{"soft hyphen", "al\u00ADice", `al\u00ADice`},
		{"grapheme joiner", "alice\u034F", `alice\u034F`},
		{"hangul filler", "alice\u3164", `alice\u3164`},
		{"khmer inherent", "alice\u17B5", `alice\u17B5`},
		{"zero width space", "a\u200Bb", `a\u200Bb`},
		{"word joiner", "a\u2060b", `a\u2060b`},
		{"BOM", "\uFEFFa", `\uFEFFa`},
		{"tag", "a\U000E0041", `a\U000E0041`},
		{"VS16 after letter", "a\uFE0F", `a\uFE0F`},
		{"ZWJ between letters", "a\u200Db", `a\u200Db`},
		{"ZWJ after escaped selector", "a\uFE0F\u200D\U0001F308", `a\uFE0F\u200D` + "\U0001F308"},
		{"emoji ZWJ sequence", "hi 👩‍💻", "hi 👩‍💻"},
		{"emoji with skin tone and ZWJ", "👩🏽‍💻", "👩🏽‍💻"},
		{"rainbow flag", "🏳️‍🌈", "🏳️‍🌈"},
		{"heart with VS16", "❤️", "❤️"},
		{"CJK", "你好，世界", "你好，世界"},
		{"Arabic", "مرحبا", "مرحبا"},
		{"Hebrew", "שלום", "שלום"},
		{"fullwidth", "ａｌｉｃｅ", "ａｌｉｃｅ"},
		{"literal backslash", `\u202E`, `\u202E`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Terminal(tc.in)
			if got != tc.want {
				t.Errorf("Terminal(%+q) = %+q, want %+q", tc.in, got, tc.want)
			}
			if again := Terminal(got); again != got {
				t.Errorf("Terminal not idempotent: %+q then %+q", got, again)
			}
		})
	}
}

// The name the attacker gave a broadcaster: nothing below 0x20 or
// in the bidi set may survive.
func TestTerminalEscapeName(t *testing.T) {
	out := Terminal("Cam\x1b]0;OWNED\a\x1b[2J\x1b[41m\u202Etxt")
	for _, r := range out {
		if r < 0x20 || r == 0x7F || isBidiControl(r) {
			t.Fatalf("Terminal left %U in %+q", r, out)
		}
	}
}

func TestCheckName(t *testing.T) {
	for _, name := range []string{
		"alice", "Alice", "ALICE", "bob 2", "Zoë", "Jürgen", "李小龙", "محمد", "דוד",
		"ｆｕｌｌ", "alice🎉", "dev 👩‍💻", "❤️ fan", "o'neil", "a.b-c_d",
		strings.Repeat("x", MaxName), strings.Repeat("é", MaxName),
	} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%+q) = %v, want nil", name, err)
		}
	}
	for _, tc := range []struct {
		name string
		in   string
		bad  rune // -1: the whole name
	}{
		{"empty", "", -1},
		{"too long", strings.Repeat("x", MaxName+1), -1},
		{"too long in runes", strings.Repeat("é", MaxName+1), -1},
		{"leading space", " alice", -1},
		{"trailing space", "alice ", -1},
		{"only punctuation", "...", -1},
		{"only marks", "\u0301\u0301", -1},
		{"ideographic space only", "\u3000", 0x3000},
		{"spaces only", "   ", -1},
		{"ESC", "ali\x1bce", 0x1B},
		{"tab", "ali\tce", 0x09},
		{"newline", "ali\nce", 0x0A},
		{"DEL", "alice\x7f", 0x7F},
		{"C1", "alice\u0085", 0x85},
		{"invalid", "alice\xff", utf8.RuneError},
		{"RLO", "alice\u202E", 0x202E},
		{"RLI", "\u2067alice", 0x2067},
		{"ALM", "alice\u061C", 0x061C},
		{"RLM", "alice\u200F", 0x200F},
		{"line separator", "ali\u2028ce", 0x2028},
		{"CGJ twin", "alice\u034F", 0x034F},
		{"hangul filler twin", "alice\u3164", 0x3164},
		{"braille blank twin", "alice\u2800", 0x2800},
		{"choseong filler twin", "alice\u115F", 0x115F},
		{"jungseong filler", "alice\u1160", 0x1160},
		{"halfwidth filler", "alice\uFFA0", 0xFFA0},
		{"khmer inherent twin", "alice\u17B5", 0x17B5},
		{"soft hyphen", "al\u00ADice", 0x00AD},
		{"zero width space", "ali\u200Bce", 0x200B},
		{"ZWJ between letters", "ali\u200Dce", 0x200D},
		{"ZWNJ", "ali\u200Cce", 0x200C},
		{"VS16 after letter", "alice\uFE0F", 0xFE0F},
		{"tag characters", "alice\U000E0061", 0xE0061},
		{"no-break space", "ali\u00A0ce", 0x00A0},
		{"private use", "alice\uE000", 0xE000},
		{"unassigned", "alice\U0003FFFF", 0x3FFFF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckName(tc.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("CheckName(%+q) = %v, want *Error", tc.in, err)
			}
			if e.Rune != tc.bad {
				t.Errorf("CheckName(%+q) blamed %U, want %U (%v)", tc.in, e.Rune, tc.bad, err)
			}
			if tc.bad > 0 && tc.bad != utf8.RuneError && !strings.Contains(err.Error(), "U+") {
				t.Errorf("error %q does not name the character", err)
			}
			t.Log(err)
		})
	}
}

func TestSkeletonTwins(t *testing.T) {
	want := Skeleton("alice")
	for _, twin := range []string{
		"alice", "Alice", "ALICE", "aLiCe",
		"alice\u034F", "alice\u3164", "alice\u2800", "alice\u115F", "alice\u17B5",
		"al\u00ADice", "ali\u200Bce", "\uFEFFalice",
		"\u0430lice", // Cyrillic а
		"alic\u0435", // Cyrillic е
		"\uFF41lice", // fullwidth ａ
		"ａｌｉｃｅ",
		"\u0251lice",     // Latin alpha
		"\u03B1lice",     // Greek alpha
		"a\u04CFice",     // Cyrillic palochka
		"a1ice",          // digit one
		"al\u0456ce",     // Cyrillic і
		"ali\u0441e",     // Cyrillic с
		"\U0001D41Alice", // mathematical bold a
	} {
		if got := Skeleton(twin); got != want {
			t.Errorf("Skeleton(%+q) = %+q, want %+q (Skeleton(alice))", twin, got, want)
		}
	}
	for _, other := range []string{"alicia", "alice2", "bob", "ali ce", "malice", "élise"} {
		if Skeleton(other) == want {
			t.Errorf("Skeleton(%+q) collides with alice", other)
		}
	}
	for _, pair := range [][2]string{
		{"b0b", "bob"},                       // digit zero and o
		{"Βob", "Bob"},                       // Greek capital beta
		{"rnary", "mary"},                    // rn and m
		{"\u043E\u0440\u0435\u0440", "opep"}, // Cyrillic орер
		{"\u0410LICE", "alice"},              // Cyrillic capital А
		{"\u041D\u0415\u0421\u0422", "hect"}, // Cyrillic capitals НЕСТ
		{"dev 👩‍💻", "dev 👩💻"},                // an emoji with and without its joiner
		{"❤️ fan", "❤ fan"},
	} {
		if a, b := Skeleton(pair[0]), Skeleton(pair[1]); a != b {
			t.Errorf("Skeleton(%+q) = %+q, Skeleton(%+q) = %+q: want equal", pair[0], a, pair[1], b)
		}
	}
}

func TestCheckText(t *testing.T) {
	for _, text := range []string{
		"hello", "  spaced  ", "<<<>>>", "家族 👨‍👩‍👧‍👦 and 🏳️‍🌈", "👍🏽", "1️⃣ first",
		"مرحبا بكم", "שלום עולם", "Ünïcödé ñ", "\\u202E is just text",
	} {
		if err := CheckText(text); err != nil {
			t.Errorf("CheckText(%+q) = %v, want nil", text, err)
		}
	}
	for _, tc := range []struct {
		name string
		in   string
		bad  rune
	}{
		{"newline", "a\nb", '\n'},
		{"CR", "a\rb", '\r'},
		{"tab", "a\tb", '\t'},
		{"ESC", "a\x1b[2Jb", 0x1B},
		{"DEL", "a\x7f", 0x7F},
		{"C1", "a\u009b", 0x9B},
		{"invalid", "a\xc3", utf8.RuneError},
		{"zero width space", "a\u200Bb", 0x200B},
		{"word joiner", "a\u2060b", 0x2060},
		{"BOM", "a\uFEFFb", 0xFEFF},
		{"ZWNJ", "a\u200Cb", 0x200C},
		{"ZWJ between letters", "a\u200Db", 0x200D},
		{"ZWJ at end of emoji", "👩\u200D", 0x200D},
		{"ALM", "a\u061Cb", 0x061C},
		{"LRM", "a\u200Eb", 0x200E},
		{"RLO", "a\u202Eb", 0x202E},
		{"LRI", "a\u2066b", 0x2066},
		{"PDI", "a\u2069b", 0x2069},
		{"line separator", "a\u2028b", 0x2028},
		{"paragraph separator", "a\u2029b", 0x2029},
		{"soft hyphen", "a\u00ADb", 0x00AD},
		{"invisible times", "a\u2062b", 0x2062},
		{"tag", "a\U000E0020", 0xE0020},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e *Error
			if err := CheckText(tc.in); !errors.As(err, &e) || e.Rune != tc.bad {
				t.Fatalf("CheckText(%+q) = %v, want refusal of %U", tc.in, err, tc.bad)
			}
		})
	}
}

// The generated table must be the property Unicode derives it from, as far
// as Go's own Unicode tables reach: DerivedCoreProperties.txt says
// Default_Ignorable_Code_Point = Other_Default_Ignorable_Code_Point + Cf +
// Variation_Selector - White_Space - FFF9..FFFB - 13430..13440 -
// Prepended_Concatenation_Mark.
func TestDefaultIgnorableIsDerivedProperty(t *testing.T) {
	derived := func(r rune) bool {
		in := unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
			unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r)
		out := unicode.Is(unicode.White_Space, r) || r >= 0xFFF9 && r <= 0xFFFB ||
			r >= 0x13430 && r <= 0x13440 || unicode.Is(unicode.Prepended_Concatenation_Mark, r)
		return in && !out
	}
	n := 0
	for r := rune(0); r <= unicode.MaxRune; r++ {
		got := unicode.Is(defaultIgnorable, r)
		if got {
			n++
		}
		if got != derived(r) {
			t.Errorf("%U: table says %v, derivation from Go's Unicode %s says %v", r, got, unicode.Version, !got)
		}
	}
	if n != 4174 { // "Total code points" of the source file
		t.Errorf("table has %d code points, DerivedCoreProperties.txt 17.0.0 has 4174", n)
	}
}

func TestConfusablesTable(t *testing.T) {
	for i := 1; i < len(confusables); i++ {
		if confusables[i-1].from >= confusables[i].from {
			t.Fatalf("table not sorted at %U", confusables[i].from)
		}
	}
	for r, want := range map[rune]string{0x0430: "a", 0x0435: "e", 0x043E: "o", 0x03BF: "o", 0x0031: "l", 0x006D: "rn"} {
		if got, ok := prototype(r); !ok || got != want {
			t.Errorf("prototype(%U) = %q, %v; want %q", r, got, ok, want)
		}
	}
	if _, ok := prototype('a'); ok {
		t.Error("a prototype maps to something")
	}
}
