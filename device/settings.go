package device

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/device/atomicfile"
	"github.com/lsbroadcast/lsbroadcast/netio/chat"
)

// picture is what the broadcaster asks of a source: its size, frame rate
// and JPEG quality. The host may change it while the broadcaster runs.
type picture struct {
	Size    capture.Size
	SizeSet bool // a size was asked for; otherwise a camera keeps its own
	FPS     int
	Quality int
}

// maxFPS bounds the frame rate asked of a source.
const maxFPS = 120

// Keys of the broadcaster's own settings, listed before the camera's.
const (
	keySize    = "size"
	keyFPS     = "fps"
	keyQuality = "quality"
)

// commonSizes are offered for sources that don't list their own.
var commonSizes = []capture.Size{{W: 320, H: 240}, {W: 640, H: 360}, {W: 640, H: 480}, {W: 800, H: 600},
	{W: 1024, H: 576}, {W: 1280, H: 720}, {W: 1920, H: 1080}}

// sizeLister is a source that says which sizes it can deliver.
type sizeLister interface {
	Sizes() ([]capture.Size, error)
}

// settings is the picture's settings as the chat sees them (it is the
// chat's Camera): the broadcaster's size, frame rate and quality, then the
// running source's own controls. It keeps what the host set, per camera,
// in the state directory, and applies it whenever that camera is opened.
type settings struct {
	log      *slog.Logger
	path     string  // the stored settings
	defaults picture // from the configuration: what a reset returns to

	mu    sync.Mutex
	pic   picture
	src   capture.Source // running now; nil under the slate
	id    string         // its key in saved
	saved map[string]savedCamera
	// restarts asks the supervisor to reopen the source with pic; a
	// burst of changes makes one restart.
	restarts chan struct{}
	// frameSize is the size of the frames going out: a camera left at
	// its own size says it only by them.
	frameSize func() capture.Size
}

// savedCamera is what the host set for one camera.
type savedCamera struct {
	Size     string           `json:"size,omitempty"`
	FPS      int              `json:"fps,omitempty"`
	Quality  int              `json:"quality,omitempty"`
	Controls map[string]int64 `json:"controls,omitempty"`
}

// openSettings loads the stored settings. A file that can't be read is
// reported and set aside, never fatal: the camera then starts as
// configured.
func openSettings(path string, defaults picture, frameSize func() capture.Size, log *slog.Logger) *settings {
	s := &settings{log: log, path: path, defaults: defaults, pic: defaults, saved: map[string]savedCamera{},
		restarts: make(chan struct{}, 1), frameSize: frameSize}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &s.saved)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("stored camera settings not read; starting as configured", "file", path, "error", err)
		s.saved = map[string]savedCamera{}
	}
	return s
}

// picture is what the next source is opened with.
func (s *settings) picture() picture {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pic
}

// identity names a source in the stored settings: a camera by its bus and
// card, anything else by its kind.
func identity(src capture.Source) string {
	if id, ok := src.(capture.Identifier); ok && id.Identity() != "" {
		return id.Identity()
	}
	return "source " + src.Name()
}

// attach makes src the running source. When this camera has a stored
// picture other than the one it was opened with, it is reopened with that
// (reopen); then its stored controls are applied. It returns the source
// to run, or nil when no source could be opened.
func (s *settings) attach(src capture.Source, reopen func() (capture.Source, error)) capture.Source {
	id := identity(src)
	s.mu.Lock()
	saved := s.saved[id]
	want := s.withSaved(s.defaults, saved)
	changed := want != s.pic
	old := s.pic
	s.pic = want
	s.mu.Unlock()
	if changed {
		src.Close()
		next, err := reopen()
		if err != nil {
			s.log.Warn("stored size, rate or quality not usable; opening as configured", "camera", id, "error", err)
			s.mu.Lock()
			s.pic = old
			s.mu.Unlock()
			if next, err = reopen(); err != nil {
				return nil
			}
		}
		src = next
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src, s.id = src, id
	select { // a restart asked of the source before is done
	case <-s.restarts:
	default:
	}
	if c, ok := src.(capture.Controller); ok {
		for key, v := range saved.Controls {
			if _, err := c.SetControl(key, v); err != nil {
				s.log.Warn("stored camera setting not applied", "camera", id, "control", key, "value", v, "error", err)
			}
		}
	}
	if len(saved.Controls) > 0 || changed {
		s.log.Info("stored camera settings applied", "camera", id, "controls", len(saved.Controls), "size", s.pic.Size, "fps", s.pic.FPS)
	}
	return src
}

// withSaved is p with what the host stored applied over it.
func (s *settings) withSaved(p picture, c savedCamera) picture {
	if size, err := capture.ParseSize(c.Size); err == nil {
		p.Size, p.SizeSet = size, true
	}
	if c.FPS > 0 {
		p.FPS = c.FPS
	}
	if c.Quality > 0 {
		p.Quality = c.Quality
	}
	return p
}

// detach forgets the running source: it is closing.
func (s *settings) detach() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src = nil
}

// restart asks the supervisor to reopen the source. Called with s.mu held.
func (s *settings) restart() {
	select {
	case s.restarts <- struct{}{}:
	default:
	}
}

// Controls lists the broadcaster's settings, then the source's.
func (s *settings) Controls() ([]chat.Control, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.own()
	if c, ok := s.src.(capture.Controller); ok {
		cs, err := c.Controls()
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			w := wireControl(c)
			w.Key = wireKey(c.Key)
			list = append(list, w)
		}
	}
	return list, nil
}

// cameraPrefix keeps a camera's control apart from the broadcaster's own
// setting of the same key (a camera's "quality").
const cameraPrefix = "camera_"

func isOwn(key string) bool { return key == keySize || key == keyFPS || key == keyQuality }

// wireKey is a camera control's key as clients see it.
func wireKey(key string) string {
	if isOwn(key) {
		return cameraPrefix + key
	}
	return key
}

// cameraKey is the camera's key for a key a client sent.
func cameraKey(key string) string {
	if rest, ok := strings.CutPrefix(key, cameraPrefix); ok && isOwn(rest) {
		return rest
	}
	return key
}

// own lists size, frame rate and quality. Called with s.mu held.
func (s *settings) own() []chat.Control {
	sizes := commonSizes
	if l, ok := s.src.(sizeLister); ok {
		if offered, err := l.Sizes(); err == nil && len(offered) > 0 {
			sizes = offered
		} else if err != nil {
			s.log.Debug("source does not list its sizes", "error", err)
		}
	}
	cur := s.pic.Size
	if fs := s.frameSize(); !s.pic.SizeSet && fs.W > 0 {
		cur = fs
	}
	if !slices.Contains(sizes, cur) {
		sizes = append(slices.Clone(sizes), cur)
	}
	size := chat.Control{Key: keySize, Name: "Size", Kind: string(capture.KindMenu), Default: sizeValue(s.defaults.Size),
		Value: sizeValue(cur)}
	for _, sz := range sizes {
		size.Menu = append(size.Menu, chat.MenuItem{Value: sizeValue(sz), Label: sz.String()})
	}
	size.Min, size.Max = size.Menu[0].Value, size.Menu[0].Value
	for _, m := range size.Menu {
		size.Min, size.Max = min(size.Min, m.Value), max(size.Max, m.Value)
	}
	return []chat.Control{size,
		{Key: keyFPS, Name: "Frame rate", Kind: string(capture.KindInt), Min: 1, Max: maxFPS, Step: 1,
			Default: int64(s.defaults.FPS), Value: int64(s.pic.FPS)},
		{Key: keyQuality, Name: "JPEG quality", Kind: string(capture.KindInt), Min: 1, Max: 100, Step: 1,
			Default: int64(s.defaults.Quality), Value: int64(s.pic.Quality)},
	}
}

// sizeValue is a size as a menu value: width and height in one number.
func sizeValue(sz capture.Size) int64 { return int64(sz.W)<<16 | int64(sz.H) }

// SetControl applies one setting and stores it for this camera.
func (s *settings) SetControl(key string, v int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src == nil {
		return errNoCamera
	}
	saved := s.saved[s.id]
	switch key {
	case keySize, keyFPS, keyQuality:
		pic, err := s.checkOwn(key, v)
		if err != nil {
			return err
		}
		if pic == s.pic {
			return nil
		}
		s.pic = pic
		switch key {
		case keySize:
			saved.Size = pic.Size.String()
		case keyFPS:
			saved.FPS = pic.FPS
		default:
			saved.Quality = pic.Quality
		}
		s.restart()
	default:
		c, ok := s.src.(capture.Controller)
		if !ok {
			return &chat.Error{Code: chat.CodeNotFound, Message: fmt.Sprintf("no setting %q: this source has only size, fps and quality", key)}
		}
		got, err := c.SetControl(cameraKey(key), v)
		if err != nil {
			return controlError(err)
		}
		if got.Kind != capture.KindButton {
			saved.Controls = cloneSet(saved.Controls, got.Key, got.Value)
		}
	}
	s.store(s.id, saved)
	return nil
}

var errNoCamera = &chat.Error{Code: chat.CodeUnsupported, Message: "no camera is running (the stream shows NO SIGNAL)"}

// checkOwn is the picture with one of the broadcaster's settings changed,
// or why it can't be. Called with s.mu held.
func (s *settings) checkOwn(key string, v int64) (picture, error) {
	pic := s.pic
	for _, c := range s.own() {
		if c.Key != key {
			continue
		}
		if c.Kind == string(capture.KindMenu) {
			var labels []string
			for _, m := range c.Menu {
				if m.Value == v {
					pic.Size, pic.SizeSet = capture.Size{W: int(v >> 16), H: int(v & 0xffff)}, true
					return pic, nil
				}
				labels = append(labels, m.Label)
			}
			return pic, &chat.Error{Code: chat.CodeBadValue, Message: fmt.Sprintf("size %d is not one of %v", v, labels)}
		}
		if v < c.Min || v > c.Max {
			return pic, &chat.Error{Code: chat.CodeBadValue, Message: fmt.Sprintf("%s %d is outside %d to %d", key, v, c.Min, c.Max)}
		}
		if key == keyFPS {
			pic.FPS = int(v)
		} else {
			pic.Quality = int(v)
		}
		return pic, nil
	}
	return pic, &chat.Error{Code: chat.CodeNotFound, Message: "no setting " + key}
}

// ResetControl returns one setting, or all (key ""), to the driver's or
// the configuration's default, and forgets what was stored.
func (s *settings) ResetControl(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.src == nil {
		return errNoCamera
	}
	saved := s.saved[s.id]
	pic := s.pic
	switch key {
	case "":
		pic = s.defaults
		saved = savedCamera{}
	case keySize:
		pic.Size, pic.SizeSet = s.defaults.Size, s.defaults.SizeSet
		saved.Size = ""
	case keyFPS:
		pic.FPS, saved.FPS = s.defaults.FPS, 0
	case keyQuality:
		pic.Quality, saved.Quality = s.defaults.Quality, 0
	}
	found := key == "" || isOwn(key)
	if c, ok := s.src.(capture.Controller); ok {
		cs, err := c.Controls()
		if err != nil {
			return controlError(err)
		}
		for _, ctl := range cs {
			if (key != "" && ctl.Key != cameraKey(key)) || ctl.Kind == capture.KindButton {
				continue
			}
			found = true
			if _, err := c.SetControl(ctl.Key, ctl.Default); err != nil && key != "" {
				return controlError(err)
			}
			delete(saved.Controls, ctl.Key)
		}
	}
	if !found {
		return &chat.Error{Code: chat.CodeNotFound, Message: "no setting " + key}
	}
	if pic != s.pic {
		s.pic = pic
		s.restart()
	}
	s.store(s.id, saved)
	return nil
}

// store keeps c for camera id on disk. A failure is logged: the change
// stands for now, and the camera starts as configured next time.
// Called with s.mu held.
func (s *settings) store(id string, c savedCamera) {
	s.saved[id] = c
	data, err := json.MarshalIndent(s.saved, "", "  ")
	if err == nil {
		err = atomicfile.Write(s.path, append(data, '\n'), 0o640)
	}
	if err != nil {
		s.log.Warn("camera settings applied but not stored", "file", s.path, "error", err)
	}
}

func cloneSet(m map[string]int64, key string, v int64) map[string]int64 {
	out := make(map[string]int64, len(m)+1)
	for k, x := range m {
		out[k] = x
	}
	out[key] = v
	return out
}

// controlError gives a camera's refusal its protocol code.
func controlError(err error) error {
	switch {
	case errors.Is(err, capture.ErrNoControl):
		return &chat.Error{Code: chat.CodeNotFound, Message: err.Error()}
	case errors.Is(err, capture.ErrBadValue):
		return &chat.Error{Code: chat.CodeBadValue, Message: err.Error()}
	}
	return err
}

// wireControl is a camera control as the chat protocol carries it.
func wireControl(c capture.Control) chat.Control {
	w := chat.Control{Key: c.Key, Name: c.Name, Kind: string(c.Kind), Min: c.Min, Max: c.Max, Step: c.Step,
		Default: c.Default, Value: c.Value, Inactive: c.Inactive}
	for _, m := range c.Menu {
		w.Menu = append(w.Menu, chat.MenuItem{Value: m.Value, Label: m.Label})
	}
	return w
}
