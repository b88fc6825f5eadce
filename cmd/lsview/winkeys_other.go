//go:build !linux || noqt

package main

// installTextRoute: no route but waitKey's on this build.
func installTextRoute() bool { return false }

func drainTextRoute(buf []typed) []typed { return buf }
