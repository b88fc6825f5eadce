package capture

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// ControlKind says how a control's value is read: a number in a range, a
// switch, a choice from a menu, or a button that acts when set.
type ControlKind string

// The kinds of control.
const (
	KindInt     ControlKind = "int"
	KindBool    ControlKind = "bool"    // Value 0 or 1
	KindMenu    ControlKind = "menu"    // Value is one of Menu's values; the labels are text
	KindIntMenu ControlKind = "intmenu" // Value is one of Menu's values; the labels are numbers
	KindButton  ControlKind = "button"  // setting any value acts; nothing is stored
)

// Control is one setting a source offers: a camera's brightness, exposure,
// white balance, or the broadcaster's own size, frame rate and quality.
type Control struct {
	// Key names the control in requests and stored settings: lower case,
	// words joined by '_', e.g. "white_balance_automatic". Stable for a
	// given driver.
	Key string `json:"key"`
	// Name is the driver's label, e.g. "White Balance, Automatic".
	Name    string      `json:"name"`
	Kind    ControlKind `json:"kind"`
	Min     int64       `json:"min"`
	Max     int64       `json:"max"`
	Step    int64       `json:"step,omitempty"`
	Default int64       `json:"default"`
	Value   int64       `json:"value"`
	// Menu lists the choices of a menu or integer menu, in order.
	Menu []MenuItem `json:"menu,omitempty"`
	// Inactive: the driver ignores the value for now (manual exposure
	// while auto exposure is on). It may still be set.
	Inactive bool `json:"inactive,omitempty"`
}

// MenuItem is one choice of a menu control.
type MenuItem struct {
	Value int64  `json:"value"`
	Label string `json:"label"`
}

// Controller is a source whose settings can be listed and changed while it
// runs. Its methods may be called from any goroutine, concurrently with Run.
type Controller interface {
	// Controls lists the settings the source offers now, with their
	// current values, in the driver's order.
	Controls() ([]Control, error)
	// SetControl sets one control by key and returns it as the driver
	// left it (a driver may round to the step). Errors wrap ErrNoControl
	// or ErrBadValue when the request is at fault.
	SetControl(key string, value int64) (Control, error)
}

// Identifier is a source that can say which physical camera it is, so
// settings stored for it follow that camera: the V4L2 bus info and card
// name ("usb-0000:01:00.0-1.2 HD Webcam C615").
type Identifier interface {
	Identity() string
}

// Errors of SetControl that are the request's fault.
var (
	ErrNoControl = errors.New("no such control")
	ErrBadValue  = errors.New("value not allowed")
)

// ControlKey turns a driver's label into a Control.Key: "White Balance,
// Automatic" becomes "white_balance_automatic".
func ControlKey(name string) string {
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(name) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			gap = false
			b.WriteRune(r)
			continue
		}
		gap = true
	}
	return b.String()
}

// Check says whether c takes value: within Min..Max, or one of its menu's
// values. Any value presses a button. Values between steps are allowed:
// drivers round them. Its errors wrap ErrBadValue and name the range or
// the choices.
func (c Control) Check(value int64) error {
	switch c.Kind {
	case KindButton:
		return nil
	case KindMenu, KindIntMenu:
		choices := make([]string, len(c.Menu))
		for i, m := range c.Menu {
			if m.Value == value {
				return nil
			}
			choices[i] = fmt.Sprintf("%d (%s)", m.Value, m.Label)
		}
		return fmt.Errorf("%s: %w: %d is not one of %s", c.Key, ErrBadValue, value, strings.Join(choices, ", "))
	}
	if value < c.Min || value > c.Max {
		return fmt.Errorf("%s: %w: %d is outside %d..%d", c.Key, ErrBadValue, value, c.Min, c.Max)
	}
	return nil
}
