package textsafe

// CheckText accepts chat text whose every character shows as itself: valid
// UTF-8 without any hazard Terminal escapes. That refuses newlines and tabs
// as chat always has, zero-width characters (U+200B, U+2060, U+FEFF …),
// every bidirectional control including U+061C and the marks U+200E/U+200F
// (Arabic and Hebrew letters are fine: their direction comes from the
// letters themselves), and U+2028/U+2029. Emoji sequences with U+200D and
// U+FE0F pass. Length and emptiness stay with the chat protocol, which owns
// those limits. A *Error names the character at fault and why.
func CheckText(text string) error {
	var err error
	walk(text, func(i int, r rune, _ int, why string) bool {
		if why != "" {
			err = &Error{Subject: "text", Rune: r, Offset: i, Reason: why}
		}
		return why == ""
	})
	return err
}
