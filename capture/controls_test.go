package capture

import (
	"errors"
	"strings"
	"testing"
)

func TestControlKey(t *testing.T) {
	for name, want := range map[string]string{
		"White Balance, Automatic":  "white_balance_automatic",
		"Brightness":                "brightness",
		"Exposure Time, Absolute":   "exposure_time_absolute",
		"Power Line Frequency":      "power_line_frequency",
		"Integer 32 Bits":           "integer_32_bits",
		"  Gain (dB)  ":             "gain_db",
		"Focus, Auto-Continuous":    "focus_auto_continuous",
		"Überbelichtung":            "überbelichtung",
		"":                          "",
		"---":                       "",
		"Read-Only Integer 32 Bits": "read_only_integer_32_bits",
	} {
		if got := ControlKey(name); got != want {
			t.Errorf("ControlKey(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestControlCheck(t *testing.T) {
	brightness := Control{Key: "brightness", Kind: KindInt, Min: 0, Max: 255, Step: 1}
	hue := Control{Key: "hue", Kind: KindInt, Min: -128, Max: 128, Step: 1}
	auto := Control{Key: "gain_automatic", Kind: KindBool, Min: 0, Max: 1, Step: 1}
	plf := Control{Key: "power_line_frequency", Kind: KindMenu, Min: 0, Max: 2,
		Menu: []MenuItem{{0, "Disabled"}, {1, "50 Hz"}, {2, "60 Hz"}}}
	// An integer menu whose index 1 the driver skips.
	im := Control{Key: "integer_menu", Kind: KindIntMenu, Min: 0, Max: 2,
		Menu: []MenuItem{{0, "1"}, {2, "42"}}}
	button := Control{Key: "button", Kind: KindButton}
	for _, tc := range []struct {
		c     Control
		value int64
		says  string // "" accepted; else the error names this
	}{
		{brightness, 0, ""}, {brightness, 255, ""}, {brightness, 127, ""},
		{brightness, 256, "256 is outside 0..255"}, {brightness, -1, "-1 is outside 0..255"},
		{hue, -128, ""}, {hue, -129, "outside -128..128"},
		{auto, 1, ""}, {auto, 2, "2 is outside 0..1"},
		{plf, 1, ""}, {plf, 3, "3 is not one of 0 (Disabled), 1 (50 Hz), 2 (60 Hz)"},
		{im, 2, ""}, {im, 1, "1 is not one of 0 (1), 2 (42)"},
		{button, 12345, ""},
	} {
		err := tc.c.Check(tc.value)
		switch {
		case tc.says == "" && err != nil:
			t.Errorf("%s = %d refused: %v", tc.c.Key, tc.value, err)
		case tc.says != "" && (err == nil || !errors.Is(err, ErrBadValue) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), tc.c.Key)):
			t.Errorf("%s = %d: error %v, want ErrBadValue naming the key and saying %q", tc.c.Key, tc.value, err, tc.says)
		}
	}
}
