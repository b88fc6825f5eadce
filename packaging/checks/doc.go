// Package checks holds no code: its tests check the repository itself.
// `make checks` runs them (build tag checks), one of the stages of
// `make test`:
//
//   - imports go down: nothing under netio/ or capture/ imports device/ or
//     cmd/ (layout_test.go);
//   - the packages that are neither Linux-only nor OpenCV-bound build for
//     macOS and Windows without cgo (portable_test.go);
//   - nothing built is tracked by git (tracked_test.go).
package checks
