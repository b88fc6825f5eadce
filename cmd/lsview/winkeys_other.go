//go:build !linux || noqt

package main

import "time"

// installTextRoute: no route but waitKey's on this build.
func installTextRoute() bool { return false }

// waitTextRoute and wakeTextRoute are never called without a route.
func waitTextRoute(time.Duration) {}

func wakeTextRoute() {}

func drainTextRoute(buf []typed) []typed { return buf }
