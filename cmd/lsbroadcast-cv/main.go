// Command lsbroadcast-cv is lsbroadcast's OpenCV helper: it opens a GoCV
// VideoCapture (device index, file or GStreamer pipeline), encodes its
// frames to JPEG and writes them to standard output in capture/subproc's
// framing. lsbroadcast starts it for --source gocv:…, so OpenCV's libraries
// load only when a camera needs them. It answers control requests read
// from standard input (subproc.Serve) between its frames.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/lsbroadcast/lsbroadcast/capture"
	"github.com/lsbroadcast/lsbroadcast/capture/cvsource"
	"github.com/lsbroadcast/lsbroadcast/capture/subproc"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("lsbroadcast-cv", flag.ContinueOnError)
	size := fs.String("size", "", "frame size WxH (default: the source's own)")
	fps := fs.Int("fps", 30, "frames per second asked of devices; pace of files without a rate")
	quality := fs.Int("quality", 80, "JPEG quality 1-100")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: lsbroadcast-cv [--size WxH] [--fps N] [--quality Q] INDEX|FILE|gst:PIPELINE")
		return 2
	}
	opt := cvsource.Options{FPS: *fps, Quality: *quality}
	if *size != "" {
		sz, err := capture.ParseSize(*size)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		opt.Size = sz
	}
	src, err := cvsource.Open(fs.Arg(0), opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer src.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGPIPE)
	defer stop()
	out := bufio.NewWriterSize(os.Stdout, 256<<10)
	sz := src.Size()
	hello, _ := json.Marshal(subproc.Hello{Name: src.Name(), Width: sz.W, Height: sz.H})
	out.Write(append(hello, '\n'))
	if err := out.Flush(); err != nil {
		return 1
	}
	// Frames and replies share standard output, a record at a time.
	var (
		outMu    sync.Mutex
		writeErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The control loop ends when lsbroadcast closes our standard input,
	// or with the process.
	go subproc.Serve(os.Stdin, src, func(r subproc.Reply) error {
		outMu.Lock()
		defer outMu.Unlock()
		if writeErr != nil {
			return writeErr
		}
		out.Write(subproc.AppendReply(nil, r))
		if writeErr = out.Flush(); writeErr != nil {
			cancel()
		}
		return writeErr
	})
	err = src.Run(ctx, func(f capture.Frame) {
		outMu.Lock()
		defer outMu.Unlock()
		if writeErr != nil {
			return
		}
		h := subproc.Header(f)
		out.Write(h[:])
		out.Write(f.JPEG)
		if writeErr = out.Flush(); writeErr != nil {
			cancel() // lsbroadcast is gone
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
