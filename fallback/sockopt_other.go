//go:build !linux

package fallback

import "errors"

// sockMarker marks sockets on Linux only; elsewhere marking is refused.
type sockMarker struct{}

func newSockMarker(any) (sockMarker, error) { return sockMarker{}, nil }

var errNoMarking = errors.New("socket marking is implemented on Linux only")

func (sockMarker) setTOS(uint8) error       { return errNoMarking }
func (sockMarker) setPriority(uint32) error { return errNoMarking }
