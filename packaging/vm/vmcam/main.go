//go:build linux

// Command vmcam is the VM test's probe of capture/v4l2 on a real driver:
// it streams one V4L2 device over RTSP, reopening it every 500 ms after a
// failure as lsbroadcast does, and with -seconds reports the frames it
// captured and the CPU it spent, for the benchmark against µStreamer.
package main

import (
	"context"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/v4l2"
	"github.com/lsbroadcast/lsbroadcast/netio/rtsp"
)

func main() {
	device := flag.String("device", "/dev/video0", "V4L2 capture node")
	size := flag.String("size", "", "frame size WxH; empty: the driver's")
	fps := flag.Int("fps", 0, "frame rate; 0: the driver's")
	quality := flag.Int("quality", 80, "JPEG quality for raw formats")
	format := flag.String("format", "", "pixel format to force, e.g. YUYV; empty: the best")
	port := flag.Int("port", 8554, "RTSP port; 0: no server")
	seconds := flag.Float64("seconds", 0, "capture this long, print @@STATS and exit; 0: until SIGTERM")
	list := flag.Bool("list", false, "print the capture devices and exit")
	feedTo := flag.String("feed", "", "write the test pattern as MJPEG to this v4l2loopback device instead of capturing")
	hashes := flag.String("hashes", "", "write the CRC-32 of every frame fed or captured to this file")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *list {
		devs, err := v4l2.Enumerate()
		if err != nil {
			fmt.Fprintln(os.Stderr, "vmcam:", err)
			os.Exit(1)
		}
		for _, d := range devs {
			fmt.Printf("@@DEVICE %s usable=%v card=%q driver=%s formats=%v\n", d.Path, d.Usable, d.Card, d.Driver, d.Formats)
		}
		return
	}
	cfg := v4l2.Config{FPS: *fps, Quality: *quality, PixelFormat: *format}
	if *size != "" {
		sz, err := capture.ParseSize(*size)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vmcam:", err)
			os.Exit(2)
		}
		cfg.Size = sz
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *seconds > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*seconds*float64(time.Second)))
		defer cancel()
	}
	if *feedTo != "" {
		if err := feed(ctx, *feedTo, cfg.Size, *fps, *hashes); err != nil {
			fmt.Fprintln(os.Stderr, "vmcam:", err)
			os.Exit(1)
		}
		return
	}
	var sums io.Writer
	if *hashes != "" {
		f, err := os.Create(*hashes)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vmcam:", err)
			os.Exit(1)
		}
		defer f.Close()
		sums = f
	}
	var srv *rtsp.Server
	if *port > 0 {
		srv = &rtsp.Server{Port: *port, RTPPort: 18000, Path: "/live", Logger: log}
		if err := srv.Listen(); err != nil {
			fmt.Fprintln(os.Stderr, "vmcam:", err)
			os.Exit(2)
		}
		srvCtx, stopSrv := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(srvCtx) }()
		defer func() { stopSrv(); <-served }()
	}
	if err := run(ctx, *device, cfg, srv, sums, log); err != nil {
		fmt.Fprintln(os.Stderr, "vmcam:", err)
		os.Exit(2)
	}
}

// run streams until ctx ends. A device that cannot be opened at first is an
// error; once it streamed, failures are logged and it is reopened.
func run(ctx context.Context, path string, cfg v4l2.Config, srv *rtsp.Server, sums io.Writer, log *slog.Logger) error {
	var frames uint64
	var first, last time.Time
	start := time.Now()
	cpu0 := cpuTime()
	opened := false
	for ctx.Err() == nil {
		src, err := v4l2.Open(path, cfg, log)
		if err != nil {
			if !opened {
				return err
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		opened = true
		fourcc, sz, rate := src.Format()
		fmt.Printf("@@OPENED %s %s %v fps=%d\n", src.Name(), fourcc, sz, rate)
		err = src.Run(ctx, func(f capture.Frame) {
			if frames == 0 {
				first = time.Now()
			}
			frames++
			last = time.Now()
			if sums != nil {
				fmt.Fprintf(sums, "%08x\n", crc32.ChecksumIEEE(f.JPEG))
			}
			if srv != nil {
				if err := srv.WriteJPEG(f.JPEG, f.Captured); err != nil {
					log.Warn("rtsp write", "error", err)
				}
			}
		})
		src.Close()
		if err != nil {
			fmt.Printf("@@LOST %v\n", err)
		}
	}
	elapsed := time.Since(start)
	rate := 0.0
	if frames > 1 {
		rate = float64(frames-1) / last.Sub(first).Seconds()
	}
	fmt.Printf("@@STATS frames=%d seconds=%.2f fps=%.2f cpu_ms=%d\n", frames, elapsed.Seconds(), rate, (cpuTime() - cpu0).Milliseconds())
	return nil
}

// cpuTime is the CPU (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
