package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/lsbroadcast/lsbroadcast/netio/mdns"
	"github.com/lsbroadcast/lsbroadcast/netio/textsafe"
	"github.com/lsbroadcast/lsbroadcast/netio/viewer"
)

// errQuit says the person left the picker without choosing.
var errQuit = errors.New("nothing picked")

// key is one keypress the picker understands.
type key int

const (
	keyNone key = iota
	keyUp
	keyDown
	keyEnter
	keyBackspace
	keyQuit
	keyDigit // the digit is in keyEvent.digit
)

type keyEvent struct {
	k     key
	digit int
}

// pick shows a live list of broadcasters in the terminal and returns the
// one chosen with the arrow keys or its number, then Enter.
func pick(ctx context.Context, o *options, in *os.File, out io.Writer, log *slog.Logger) (viewer.Stream, error) {
	fd := int(in.Fd())
	if !term.IsTerminal(fd) {
		return viewer.Stream{}, errors.New("no terminal to pick in: name a broadcaster (lsview NAME|HOST[:PORT]|rtsp://URL) or use --list")
	}
	// Raw, to get single keys.
	old, err := term.MakeRaw(fd)
	if err != nil {
		return viewer.Stream{}, fmt.Errorf("terminal: %w", err)
	}
	defer term.Restore(fd, old)

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // stops the browser and the key reader; then wait for them
		wg.Wait()
	}()
	events := make(chan mdns.Event, 16)
	browseErr := make(chan error, 1)
	keys := make(chan keyEvent, 16)
	wg.Add(2)
	go func() {
		defer wg.Done()
		b := &mdns.Browser{Interfaces: o.mdns, Logger: log}
		browseErr <- b.Run(ctx, func(ev mdns.Event) {
			select {
			case events <- ev:
			case <-ctx.Done():
			}
		})
	}()
	go func() {
		defer wg.Done()
		readKeys(ctx, in, keys)
	}()

	dir := viewer.NewDirectory()
	p := pickerView{out: out, started: time.Now(), wait: o.wait, ifs: o.mdns}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		p.draw(dir.Streams())
		select {
		case <-ctx.Done():
			return viewer.Stream{}, errQuit
		case err := <-browseErr:
			if err != nil {
				return viewer.Stream{}, err
			}
		case ev := <-events:
			dir.Apply(ev)
		case <-tick.C:
		case k := <-keys:
			list := dir.Streams()
			if s, done, err := p.press(k, list); done {
				fmt.Fprint(out, "\r\n")
				return s, err
			}
		}
	}
}

// pickerView is the picker's screen state.
type pickerView struct {
	out     io.Writer
	started time.Time
	wait    time.Duration
	ifs     mdns.Interfaces
	cursor  int
	chosen  string // streamKey of the stream under the cursor, which stays under it as the list changes
	typed   string // digits typed so far
	msg     string // last problem, e.g. an unusable stream
}

// press applies a key; done says the picker ends, with s or err.
func (p *pickerView) press(k keyEvent, list []viewer.Stream) (s viewer.Stream, done bool, err error) {
	p.follow(list)
	switch k.k {
	case keyQuit:
		return viewer.Stream{}, true, errQuit
	case keyUp:
		p.moveTo(p.cursor-1, list)
		p.typed = ""
	case keyDown:
		p.moveTo(p.cursor+1, list)
		p.typed = ""
	case keyDigit:
		p.typed += strconv.Itoa(k.digit)
		if n, _ := strconv.Atoi(p.typed); n >= 1 && n <= len(list) {
			p.moveTo(n-1, list)
		}
	case keyBackspace:
		if p.typed != "" {
			p.typed = p.typed[:len(p.typed)-1]
		}
	case keyEnter:
		if len(list) == 0 {
			return viewer.Stream{}, false, nil
		}
		s := list[min(p.cursor, len(list)-1)]
		if err := s.Usable(); err != nil {
			p.msg = err.Error()
			return viewer.Stream{}, false, nil
		}
		return s, true, nil
	}
	return viewer.Stream{}, false, nil
}

// streamKey names a stream across changes of the list: its instance id
// when it has one, else its name and address.
func streamKey(s viewer.Stream) string {
	if s.Instance != "" {
		return string(s.Kind) + "\x00" + s.Instance
	}
	return string(s.Kind) + "\x00" + s.Name + "\x00" + s.URL
}

// follow puts the cursor back on the chosen stream wherever it sorts now,
// so a camera appearing above it never makes Enter open another. A chosen
// stream that went leaves the cursor on the row it was on.
func (p *pickerView) follow(list []viewer.Stream) {
	for i, s := range list {
		if p.chosen != "" && streamKey(s) == p.chosen {
			p.cursor = i
			return
		}
	}
	p.moveTo(p.cursor, list)
}

// moveTo puts the cursor on row i (clamped) and chooses its stream.
func (p *pickerView) moveTo(i int, list []viewer.Stream) {
	p.cursor = max(min(i, len(list)-1), 0)
	p.chosen = ""
	if len(list) > 0 {
		p.chosen = streamKey(list[p.cursor])
	}
}

func (p *pickerView) draw(list []viewer.Stream) {
	var b strings.Builder
	b.WriteString("\x1b[H\x1b[2J") // home, clear
	b.WriteString("lsview: pick a camera (↑/↓ or its number, then Enter; q quits)\r\n\r\n")
	p.follow(list)
	for i, s := range list {
		mark := "  "
		if i == p.cursor {
			mark = "> "
		}
		detail := "video only"
		if s.Kind == viewer.KindLsview {
			detail = fmt.Sprintf("%s %dfps, %d watching", dash(s.Size()), s.FPS, s.Viewers)
		}
		t := textsafe.Terminal
		fmt.Fprintf(&b, "%s%d. %s  (%s)  %s\r\n", mark, i+1, t(s.Name), t(detail), t(s.URL))
	}
	if len(list) == 0 {
		b.WriteString("  looking…\r\n")
		if time.Since(p.started) > p.wait {
			fmt.Fprintf(&b, "\r\n  Nothing found yet %s\r\n", lookedWhere(p.ifs, p.wait))
		}
	}
	if p.typed != "" {
		fmt.Fprintf(&b, "\r\nnumber: %s\r\n", p.typed)
	}
	if p.msg != "" {
		fmt.Fprintf(&b, "\r\n%s\r\n", textsafe.Terminal(p.msg))
	}
	io.WriteString(p.out, b.String())
}

// keyPoll is how often the key reader looks at its context while no key
// comes.
const keyPoll = 100 * time.Millisecond

// readKeys turns terminal bytes into keys until ctx ends or the terminal
// goes.
func readKeys(ctx context.Context, in *os.File, keys chan<- keyEvent) {
	buf := make([]byte, 64)
	var pending []byte
	for ctx.Err() == nil {
		ready, err := waitReadable(in, keyPoll)
		if err != nil {
			return
		}
		if !ready {
			continue
		}
		n, err := in.Read(buf)
		if err != nil {
			return // readable but nothing to read: the terminal hung up
		}
		pending = append(pending, buf[:n]...)
		for len(pending) > 0 {
			k, used := parseKey(pending)
			if used == 0 {
				break // an incomplete escape sequence: wait for the rest
			}
			pending = pending[used:]
			if k.k == keyNone {
				continue
			}
			select {
			case keys <- k:
			case <-ctx.Done():
				return
			}
		}
		if len(pending) > 16 {
			pending = pending[:0] // garbage, not a key
		}
	}
}

// parseKey reads one key from the start of b and says how many bytes it
// took; 0 means b holds only the start of a sequence.
func parseKey(b []byte) (keyEvent, int) {
	switch c := b[0]; {
	case c == '\r' || c == '\n':
		return keyEvent{k: keyEnter}, 1
	case c == 'q' || c == 'Q' || c == 3: // 3: Ctrl-C, ISIG being off
		return keyEvent{k: keyQuit}, 1
	case c == 0x7f || c == 8:
		return keyEvent{k: keyBackspace}, 1
	case c >= '0' && c <= '9':
		return keyEvent{k: keyDigit, digit: int(c - '0')}, 1
	case c == 0x1b:
		if len(b) == 1 {
			return keyEvent{k: keyQuit}, 1 // a lone Esc
		}
		if b[1] != '[' && b[1] != 'O' {
			return keyEvent{k: keyQuit}, 1
		}
		if len(b) < 3 {
			return keyEvent{}, 0
		}
		switch b[2] {
		case 'A':
			return keyEvent{k: keyUp}, 3
		case 'B':
			return keyEvent{k: keyDown}, 3
		}
		return keyEvent{}, 3
	}
	return keyEvent{}, 1
}
