package rtsp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The RTP/JPEG packetiser (RFC 2435) the server sends with. gortsplib's
// rtpmjpeg.Encoder, which the server used before, allocates every packet
// and its payload (at 720p about 1,000 allocations and 640 KB a frame,
// then marshalled again into the fan-out's ring): the largest cost left
// at one reader. This one writes a picture's packets, RTP header
// included, straight into the ring's reused buffer, and nothing is
// allocated once the buffer has grown to the largest picture. Its output
// is byte for byte gortsplib's (FuzzPacketize compares them), so every
// reader sees what it saw before.

const (
	// payloadMax is an RTP/JPEG payload's most: headers and scan data.
	payloadMax = MaxPacketSize - rtpHeaderSize
	// jpegMaxDimension is the most RTP/JPEG's width and height fields
	// (units of 8 pixels, one byte) can carry.
	jpegMaxDimension = 2040
	rtpJPEGType      = 26 // the static payload type of RFC 3551
)

// jpegScan is what RTP/JPEG carries of a baseline JPEG picture: its main
// header's fields, its quantisation tables and its entropy-coded data.
// Its slices point into the picture.
type jpegScan struct {
	typ           uint8 // RFC 2435 type: 0 (4:2:2) or 1 (4:2:0), +64 with restart markers
	width, height int
	restart       uint16 // the restart interval, when typ ≥ 64
	tables        [16][]byte
	present       uint16 // which of tables are defined
	data          []byte // the scan, up to the end of the picture
}

// parseJPEG reads jpeg's headers as gortsplib's encoder does: it takes
// JFIF/EXIF application segments, Huffman tables and comments (skipped),
// quantisation tables, a restart interval, a baseline frame header with
// three components sampled 2×1 or 2×2, 1×1, 1×1 and sizes that are
// multiples of 8 up to 2040, then the scan; anything else is an error
// that says what it met.
func parseJPEG(jpeg []byte) (jpegScan, error) {
	var s jpegScan
	if len(jpeg) < 2 || jpeg[0] != 0xFF || jpeg[1] != 0xD8 {
		return s, errors.New("not a JPEG picture: no start-of-image marker")
	}
	b := jpeg[2:]
	sof := false
	for {
		if len(b) < 4 {
			return s, errors.New("JPEG header: truncated before the scan")
		}
		if b[0] != 0xFF {
			return s, errors.New("JPEG header: marker expected")
		}
		m := b[1]
		n := int(binary.BigEndian.Uint16(b[2:4]))
		if n < 2 || 2+n > len(b) {
			return s, fmt.Errorf("JPEG header: marker 0x%02x: truncated segment", m)
		}
		seg := b[4 : 2+n]
		b = b[2+n:]
		switch m {
		case 0xE0, 0xE1, 0xE2, 0xC4, 0xFE: // JFIF, EXIF, ICC, Huffman tables, comment
		case 0xDB: // quantisation tables
			for len(seg) > 0 {
				if seg[0]>>4 != 0 {
					return s, fmt.Errorf("JPEG quantisation table: precision %d is not supported", seg[0]>>4)
				}
				if len(seg) < 65 {
					return s, errors.New("JPEG quantisation table: truncated")
				}
				id := seg[0] & 0x0F
				s.tables[id], s.present = seg[1:65], s.present|1<<id
				seg = seg[65:]
			}
		case 0xDD: // restart interval
			if len(seg) != 2 {
				return s, fmt.Errorf("JPEG restart interval: %d bytes, want 2", len(seg))
			}
			s.restart = binary.BigEndian.Uint16(seg)
			s.typ |= 64
		case 0xC0: // baseline frame header
			if err := s.frameHeader(seg); err != nil {
				return s, err
			}
			sof = true
		case 0xDA: // start of scan
			if len(seg) != 10 {
				return s, fmt.Errorf("JPEG scan header: %d bytes, want 10", len(seg))
			}
			if !sof {
				return s, errors.New("JPEG header: no baseline frame header (SOF0) before the scan")
			}
			if len(b) == 0 {
				return s, errors.New("JPEG: no scan data")
			}
			s.data = b
			return s, nil
		default:
			return s, fmt.Errorf("JPEG header: marker 0x%02x is not carried by RTP/JPEG", m)
		}
	}
}

// frameHeader reads a baseline frame header's segment into s.
func (s *jpegScan) frameHeader(seg []byte) error {
	if len(seg) != 15 {
		return fmt.Errorf("JPEG frame header: %d bytes, want 15 (three components)", len(seg))
	}
	if seg[0] != 8 {
		return fmt.Errorf("JPEG frame header: precision %d is not supported", seg[0])
	}
	h, w := int(binary.BigEndian.Uint16(seg[1:3])), int(binary.BigEndian.Uint16(seg[3:5]))
	if seg[5] != 3 {
		return fmt.Errorf("JPEG frame header: %d components, want 3", seg[5])
	}
	switch seg[7] {
	case 0x21:
		s.typ = s.typ&64 | 0
	case 0x22:
		s.typ = s.typ&64 | 1
	default:
		return fmt.Errorf("JPEG frame header: luma sampling %#x is not supported", seg[7])
	}
	if seg[10] != 0x11 || seg[13] != 0x11 {
		return errors.New("JPEG frame header: chroma sampled other than 1×1 is not supported")
	}
	switch {
	case w > jpegMaxDimension || h > jpegMaxDimension:
		return fmt.Errorf("a %d×%d picture is over RTP/JPEG's %d", w, h, jpegMaxDimension)
	case w%8 != 0 || h%8 != 0:
		return fmt.Errorf("a %d×%d picture: RTP/JPEG needs multiples of 8", w, h)
	}
	s.width, s.height = w, h
	return nil
}

// packets is how many RTP packets s makes and their total size, RTP
// headers included.
func (s *jpegScan) packets() (n, size int) {
	first, rest := s.headerSize(true), s.headerSize(false)
	left := len(s.data)
	for {
		hdr := rest
		if n == 0 {
			hdr = first
		}
		chunk := min(payloadMax-hdr, left)
		n, size, left = n+1, size+rtpHeaderSize+hdr+chunk, left-chunk
		if left == 0 {
			return n, size
		}
	}
}

// headerSize is the RTP/JPEG headers' size in a packet: the main header,
// the restart marker header, and in the first packet the quantisation
// tables.
func (s *jpegScan) headerSize(first bool) int {
	n := 8
	if s.typ >= 64 {
		n += 4
	}
	if first {
		n += 4 + 64*popcount16(s.present)
	}
	return n
}

func popcount16(v uint16) (n int) {
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n
}

// packetize appends s's RTP packets, numbered from seq, with timestamp ts
// and ssrc, to dst, and where each ends in dst to ends. It allocates only
// when dst or ends lack room.
func packetize(dst []byte, ends []int, s *jpegScan, seq uint16, ts, ssrc uint32) ([]byte, []int) {
	if _, size := s.packets(); cap(dst)-len(dst) < size {
		dst = append(make([]byte, 0, len(dst)+size), dst...)
	}
	data := s.data
	for offset := 0; ; seq++ {
		first := offset == 0
		chunk := min(payloadMax-s.headerSize(first), len(data))
		last := chunk == len(data)
		marker := byte(rtpJPEGType)
		if last {
			marker |= 0x80
		}
		dst = append(dst, 0x80, marker, byte(seq>>8), byte(seq))
		dst = binary.BigEndian.AppendUint32(dst, ts)
		dst = binary.BigEndian.AppendUint32(dst, ssrc)
		// The main header: type-specific 0, the fragment offset, type,
		// Q 255 (the tables travel in-band), width and height in 8s.
		dst = append(dst, 0, byte(offset>>16), byte(offset>>8), byte(offset),
			s.typ, 255, byte(s.width/8), byte(s.height/8))
		if s.typ >= 64 {
			dst = append(dst, byte(s.restart>>8), byte(s.restart), 0xFF, 0xFF)
		}
		if first {
			l := 64 * popcount16(s.present)
			dst = append(dst, 0, 0, byte(l>>8), byte(l))
			for id := range s.tables {
				if s.present&(1<<id) != 0 {
					dst = append(dst, s.tables[id]...)
				}
			}
		}
		dst = append(dst, data[:chunk]...)
		ends = append(ends, len(dst))
		data, offset = data[chunk:], offset+chunk
		if last {
			return dst, ends
		}
	}
}
