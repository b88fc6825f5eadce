//go:build !linux || noqt

package main

import (
	"image"

	"gocv.io/x/gocv"
)

// presentCanvas: imshow is the only way here.
func presentCanvas(gocv.Mat, image.Rectangle) bool { return false }

func detachCanvas() {}
