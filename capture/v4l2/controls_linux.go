package v4l2

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/vladimirvivien/go4vl/v4l2"
)

// errClosed: the source was closed; its controls went with the device.
var errClosed = errors.New("device closed")

// Identity is the camera's bus info and card name, e.g.
// "usb-0000:01:00.0-1.2 HD Webcam C615": two cameras of one model on two
// ports keep apart, and one camera keeps its name across replugs.
func (s *Source) Identity() string { return s.info.Bus + " " + s.info.Card }

// Controls implements capture.Controller: the camera's integer, boolean,
// menu, integer-menu and button controls with their current values.
// Disabled and read-only controls and class headings are left out.
func (s *Source) Controls() ([]capture.Control, error) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed {
		return nil, fmt.Errorf("%s controls: %w", s.path, errClosed)
	}
	cs, _, err := s.controls()
	return cs, err
}

// controls lists the controls and their driver ids; s.ctl is held.
func (s *Source) controls() (cs []capture.Control, ids []uint32, err error) {
	all, err := v4l2.QueryAllControls(s.fd)
	if err != nil && len(all) == 0 && (errors.Is(err, v4l2.ErrorBadArgument) || errors.Is(err, v4l2.ErrorUnsupported)) {
		// A camera without controls answers the first query with EINVAL.
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, s.fault("list controls", err)
	}
	seen := map[string]bool{}
	for _, gc := range all {
		c, ok, err := s.control(gc)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue
		}
		// Keys are unique even if a driver repeats a label.
		if seen[c.Key] {
			c.Key += "_" + strconv.FormatUint(uint64(gc.ID), 16)
		}
		seen[c.Key] = true
		cs, ids = append(cs, c), append(ids, gc.ID)
	}
	return cs, ids, nil
}

// control completes what go4vl listed with the flags, menu and current
// value; ok is false for a control we do not offer.
func (s *Source) control(gc v4l2.Control) (c capture.Control, ok bool, err error) {
	q, err := queryControl(s.fd, gc.ID)
	if err != nil {
		return c, false, s.fault("query control "+gc.Name, err)
	}
	c, ok = fromQuery(q)
	if !ok {
		return c, false, nil
	}
	switch c.Kind {
	case capture.KindMenu:
		items, err := gc.GetMenuItems()
		if err != nil {
			return c, false, s.fault("menu of "+c.Name, err)
		}
		for _, it := range items {
			c.Menu = append(c.Menu, capture.MenuItem{Value: int64(it.Index), Label: it.Name})
		}
	case capture.KindIntMenu:
		for i := q.Min; i <= q.Max && i >= 0; i++ {
			if _, v, ok := queryMenu(s.fd, q.ID, uint32(i)); ok {
				c.Menu = append(c.Menu, capture.MenuItem{Value: int64(i), Label: strconv.FormatInt(v, 10)})
			}
		}
	}
	if q.Flags&ctrlFlagWriteOnly == 0 {
		v, err := v4l2.GetControlValue(s.fd, q.ID)
		if _, statErr := os.Stat(s.path); err != nil && statErr != nil {
			return c, false, s.fault("read "+c.Name, err)
		}
		if err != nil {
			// Some UVC cameras fail to read one control (EIO) and serve
			// the others: the list goes on without it.
			s.log.Debug("v4l2 control unreadable, left out", "device", s.path, "control", c.Name, "error", err)
			return c, false, nil
		}
		c.Value = int64(v)
	}
	return c, true, nil
}

// fromQuery turns the driver's description of a control into a Control
// without its value and menu; ok is false for what we do not offer:
// disabled and read-only controls, class headings, and the types a
// slider, switch or menu cannot show (64-bit, string, bitmask, arrays).
func fromQuery(q queryCtrl) (c capture.Control, ok bool) {
	if q.Flags&(ctrlFlagDisabled|ctrlFlagReadOnly) != 0 {
		return c, false
	}
	kinds := map[uint32]capture.ControlKind{
		ctrlTypeInteger: capture.KindInt, ctrlTypeBoolean: capture.KindBool, ctrlTypeMenu: capture.KindMenu,
		ctrlTypeIntegerMenu: capture.KindIntMenu, ctrlTypeButton: capture.KindButton,
	}
	kind, ok := kinds[q.Type]
	if !ok {
		return c, false
	}
	name := cString(q.Name[:])
	return capture.Control{
		Key: capture.ControlKey(name), Name: name, Kind: kind,
		Min: int64(q.Min), Max: int64(q.Max), Step: int64(q.Step), Default: int64(q.Default),
		Inactive: q.Flags&ctrlFlagInactive != 0,
	}, true
}

// SetControl implements capture.Controller and returns the control as the
// driver left it, re-read: drivers round to the step, and setting one
// control may change another's Inactive (auto exposure and exposure).
func (s *Source) SetControl(key string, value int64) (capture.Control, error) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed {
		return capture.Control{}, fmt.Errorf("%s controls: %w", s.path, errClosed)
	}
	all, ids, err := s.controls()
	if err != nil {
		return capture.Control{}, err
	}
	i := indexOf(all, key)
	if i < 0 {
		return capture.Control{}, fmt.Errorf("%s: %q: %w", s.path, key, capture.ErrNoControl)
	}
	c := all[i]
	if err := c.Check(value); err != nil {
		return capture.Control{}, fmt.Errorf("%s: %w", s.path, err)
	}
	if c.Kind == capture.KindButton {
		// The driver ignores a button's value; go4vl checks it against
		// the button's range, 0..0.
		value = c.Min
	}
	if err := v4l2.SetControlValue(s.fd, ids[i], int32(value)); err != nil {
		return capture.Control{}, s.driverRefused(c, value, err)
	}
	after, _, err := s.controls()
	if err != nil {
		return capture.Control{}, err
	}
	if i := indexOf(after, key); i >= 0 {
		return after[i], nil
	}
	return capture.Control{}, fmt.Errorf("%s: %q disappeared after it was set", s.path, key)
}

func indexOf(cs []capture.Control, key string) int {
	for i, c := range cs {
		if c.Key == key {
			return i
		}
	}
	return -1
}

// driverRefused explains a failed VIDIOC_S_CTRL.
func (s *Source) driverRefused(c capture.Control, value int64, err error) error {
	why := "driver refused it"
	switch {
	case errors.Is(err, syscall.EBUSY):
		why = "the driver is busy (the control cannot change while streaming)"
	case errors.Is(err, syscall.EACCES):
		why = "the driver does not allow writing it"
	case errors.Is(err, v4l2.ErrorBadArgument):
		why = "the driver refused the value (EINVAL)"
	}
	return s.fault(fmt.Sprintf("set %s to %d: %s", c.Key, value, why), err)
}
