//go:build !linux

package v4l2

import (
	"context"
	"errors"
	"log/slog"

	"github.com/lsbroadcast/lsbroadcast/capture"
)

// ErrUnsupported: V4L2 exists on Linux only.
var ErrUnsupported = errors.New("v4l2 capture is available on Linux only")

// Source is a V4L2 camera; there are none off Linux.
type Source struct{}

// Open fails: V4L2 exists on Linux only.
func Open(path string, cfg Config, log *slog.Logger) (*Source, error) { return nil, ErrUnsupported }

// Enumerate finds no devices off Linux.
func Enumerate() ([]DeviceInfo, error) { return nil, nil }

// Name is empty.
func (s *Source) Name() string { return "" }

// Run fails.
func (s *Source) Run(ctx context.Context, emit capture.Emit) error { return ErrUnsupported }

// Close does nothing.
func (s *Source) Close() error { return nil }

// Identity is empty.
func (s *Source) Identity() string { return "" }

// Controls fails.
func (s *Source) Controls() ([]capture.Control, error) { return nil, ErrUnsupported }

// SetControl fails.
func (s *Source) SetControl(key string, value int64) (capture.Control, error) {
	return capture.Control{}, ErrUnsupported
}

// Sizes fails.
func (s *Source) Sizes() ([]capture.Size, error) { return nil, ErrUnsupported }
