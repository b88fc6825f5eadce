// Command lsbroadcast captures a camera (or its built-in test pattern) and
// serves it over RTSP as RTP/JPEG on the local network.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/lsbroadcast/lsbroadcast/cmd/internal/version"
	"github.com/lsbroadcast/lsbroadcast/device"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := device.ParseArgs(args, os.Stdout)
	switch {
	case errors.Is(err, device.ErrHelp):
		return 0
	case errors.Is(err, device.ErrVersion):
		fmt.Println("lsbroadcast", version.String())
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lsbroadcast:", err)
		return 2
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log := slog.New(device.NewLogHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := device.Run(ctx, cfg, log); err != nil {
		fmt.Fprintln(os.Stderr, "lsbroadcast:", err)
		var usage *device.UsageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	return 0
}
