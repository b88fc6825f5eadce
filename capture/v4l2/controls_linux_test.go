package v4l2

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

func query(id, typ uint32, name string, lo, hi, step, def int32, flags uint32) queryCtrl {
	q := queryCtrl{ID: id, Type: typ, Min: lo, Max: hi, Step: step, Default: def, Flags: flags}
	copy(q.Name[:], name)
	return q
}

// What the driver says of a control decides whether we offer it and how.
func TestFromQuery(t *testing.T) {
	for _, tc := range []struct {
		q    queryCtrl
		want *capture.Control // nil: left out
	}{
		{query(0x980900, ctrlTypeInteger, "Brightness", 0, 255, 1, 128, 0x20),
			&capture.Control{Key: "brightness", Name: "Brightness", Kind: capture.KindInt, Max: 255, Step: 1, Default: 128}},
		{query(0x980913, ctrlTypeInteger, "Gain", 0, 255, 1, 100, ctrlFlagInactive|ctrlFlagVolatile),
			&capture.Control{Key: "gain", Name: "Gain", Kind: capture.KindInt, Max: 255, Step: 1, Default: 100, Inactive: true}},
		{query(0x980912, ctrlTypeBoolean, "Gain, Automatic", 0, 1, 1, 1, 0),
			&capture.Control{Key: "gain_automatic", Name: "Gain, Automatic", Kind: capture.KindBool, Max: 1, Step: 1, Default: 1}},
		{query(0x980918, ctrlTypeMenu, "Power Line Frequency", 0, 2, 1, 1, 0),
			&capture.Control{Key: "power_line_frequency", Name: "Power Line Frequency", Kind: capture.KindMenu, Max: 2, Step: 1, Default: 1}},
		{query(0xf0f005, ctrlTypeIntegerMenu, "Integer Menu", 1, 8, 0, 4, 0),
			&capture.Control{Key: "integer_menu", Name: "Integer Menu", Kind: capture.KindIntMenu, Min: 1, Max: 8, Default: 4}},
		{query(0xf0f000, ctrlTypeButton, "Button", 0, 0, 0, 0, ctrlFlagWriteOnly|0x200),
			&capture.Control{Key: "button", Name: "Button", Kind: capture.KindButton}},
		{query(0xf0f001, ctrlTypeInteger, "Read-Only Integer 32 Bits", 0, 255, 1, 0, ctrlFlagReadOnly), nil},
		{query(0x980920, ctrlTypeInteger, "Disabled", 0, 255, 1, 0, ctrlFlagDisabled), nil},
		{query(0x980001, ctrlTypeCtrlClass, "User Controls", 0, 0, 0, 0, ctrlFlagReadOnly|0x40), nil},
		{query(0xf0f004, 5, "Integer 64 Bits", -1, 1, 1, 0, 0), nil}, // 64-bit
		{query(0xf0f006, 7, "String", 2, 10, 1, 2, 0), nil},          // string
		{query(0xf0f007, 8, "Bitmask", 0, -1, 0, 0, 0), nil},         // bitmask
		{query(0xf0f008, 0x100, "U8 Array", 0, 255, 1, 0, 0x100), nil},
	} {
		got, ok := fromQuery(tc.q)
		name := cString(tc.q.Name[:])
		switch {
		case tc.want == nil && ok:
			t.Errorf("%s offered as %+v, want left out", name, got)
		case tc.want != nil && !ok:
			t.Errorf("%s left out", name)
		case tc.want != nil && !equalControl(got, *tc.want):
			t.Errorf("%s = %+v, want %+v", name, got, *tc.want)
		}
	}
}

func equalControl(a, b capture.Control) bool {
	return a.Key == b.Key && a.Name == b.Name && a.Kind == b.Kind && a.Min == b.Min && a.Max == b.Max &&
		a.Step == b.Step && a.Default == b.Default && a.Value == b.Value && a.Inactive == b.Inactive &&
		slices.Equal(a.Menu, b.Menu)
}

// struct v4l2_querymenu's union is a name for menus and an int64 for
// integer menus; both are read from offset 8 of the packed struct.
func TestQueryMenuItem(t *testing.T) {
	var named queryMenuRaw
	copy(named[8:], "50 Hz")
	if name, _ := named.item(); name != "50 Hz" {
		t.Errorf("menu name %q, want 50 Hz", name)
	}
	var full queryMenuRaw
	copy(full[8:40], "0123456789012345678901234567890123456789")
	if name, _ := full.item(); len(name) != 32 {
		t.Errorf("an unterminated name of %d bytes, want the 32 of the field", len(name))
	}
	var num queryMenuRaw
	want := int64(-1 << 40)
	binary.NativeEndian.PutUint64(num[8:], uint64(want))
	if _, v := num.item(); v != want {
		t.Errorf("integer menu value %d, want %d", v, want)
	}
}

func TestOfferedSizes(t *testing.T) {
	disc := func(w, h uint32) frameSizeEnum { return frameSizeEnum{Type: frameSizeDiscrete, U: [6]uint32{w, h}} }
	got := offeredSizes([]frameSizeEnum{disc(1280, 720), disc(640, 480), disc(3840, 2160), disc(320, 180), disc(640, 480)})
	if want := []capture.Size{{W: 320, H: 180}, {W: 640, H: 480}, {W: 1280, H: 720}}; !slices.Equal(got, want) {
		t.Errorf("discrete: %v, want %v (smallest first, none over %d, no repeats)", got, want, capture.MaxSide)
	}
	// Stepwise 16..1280 in 16s wide, 16..720 in 8s high: 640x360 and
	// 1280x720 fit, 800x600 does (800 = 16+49·16, 600 = 16+73·8), 1920 does not.
	step := frameSizeEnum{Type: 3, U: [6]uint32{16, 1280, 16, 16, 720, 8}}
	got = offeredSizes([]frameSizeEnum{step})
	for _, sz := range got {
		if sz.W > 1280 || sz.H > 720 || sz.W%16 != 0 || sz.H%8 != 0 {
			t.Errorf("stepwise offered %v outside the range", sz)
		}
	}
	if !slices.Contains(got, capture.Size{W: 1280, H: 720}) || !slices.Contains(got, capture.Size{W: 640, H: 480}) {
		t.Errorf("stepwise: %v, want 640x480 and 1280x720 among them", got)
	}
	odd := frameSizeEnum{Type: 2, U: [6]uint32{100, 2000, 7, 100, 2000, 7}}
	for _, sz := range offeredSizes([]frameSizeEnum{odd}) {
		if (sz.W-100)%7 != 0 || (sz.H-100)%7 != 0 {
			t.Errorf("step 7 from 100: offered %v", sz)
		}
	}
}
