// Command lsview finds lsbroadcast cameras on the local network, lets you
// pick one, and shows its video beside the chat in a window; --list prints
// what it finds and --headless receives without a window and prints stats.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/lsbroadcast/lsbroadcast/cmd/internal/version"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// The GUI toolkit must run on the process's main thread (macOS insists),
// and main starts there: keep it there.
func init() { runtime.LockOSThread() }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	o, err := parseArgs(args, os.Stdout)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lsview:", err)
		return 2
	}
	if o.version {
		fmt.Println("lsview", version.String())
		return 0
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		fmt.Fprintln(os.Stderr, "lsview: --log-level:", err)
		return 2
	}
	log := slog.New(newLogHandler(os.Stderr, level))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = dispatch(ctx, o, log)
	if errors.Is(err, errQuit) {
		return 0
	}
	if err != nil {
		// Errors carry what servers and mDNS said.
		fmt.Fprintln(os.Stderr, "lsview:", textsafe.Terminal(err.Error()))
		return 1
	}
	return 0
}

func dispatch(ctx context.Context, o *options, log *slog.Logger) error {
	if o.list {
		return runList(ctx, o, os.Stdout, log)
	}
	var s viewer.Stream
	var err error
	switch {
	case o.target.kind != pickOne:
		s, err = resolve(ctx, o, log)
	case o.headless:
		s, err = firstUsable(ctx, o, log)
	default:
		s, err = pick(ctx, o, os.Stdin, os.Stdout, log)
	}
	if err != nil {
		return err
	}
	if o.headless {
		return runHeadless(ctx, o, s, os.Stdout, log)
	}
	return runWindow(ctx, o, s, log)
}
