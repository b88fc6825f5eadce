// Package testenv is what the project's tests share to run the real thing:
// free ports and waiting for a listener, the one rule for a test that
// cannot run here (skip on a developer's machine, fail under CI), the
// module's commands built once per test binary, a test binary that
// re-executes itself as a child, /proc readers for the CPU time and memory
// of a process, a small RTSP server of a codec our viewers refuse, and
// headless Chromium and Firefox driven over their remote protocols, with a
// place for the screenshots a person looks at afterwards.
//
// From this module it imports packaging/netlab alone (network namespaces,
// which imports nothing of ours), so a test of any package (netio and
// capture included) can use it without an import cycle or an upward
// import.
package testenv
