package torch

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// checkPickles walks the opcodes of n consecutive pickles at the start of b and makes
// sure every length-prefixed argument fits in b. gopickle allocates an argument's
// buffer before reading it, so a damaged length (say BINUNICODE of 3 GB in a 500-byte
// file) would otherwise cost gigabytes before the short read is noticed. It decodes
// nothing: gopickle does the unpickling. It returns where the n-th pickle ends.
func checkPickles(b []byte, n int) (int, error) {
	at := 0
	for done := 0; done < n; {
		if at >= len(b) {
			return at, fmt.Errorf("pickle ends at byte %d without STOP", at)
		}
		op, start := b[at], at
		at++
		need := func(k int) error {
			if k < 0 || k > len(b)-at {
				return fmt.Errorf("pickle opcode 0x%02x at byte %d: argument of %d bytes runs past the end (%d bytes)", op, start, k, len(b))
			}
			at += k
			return nil
		}
		length := func(size int) (int, error) {
			if err := need(size); err != nil {
				return 0, err
			}
			p := b[at-size : at]
			switch size {
			case 1:
				return int(p[0]), nil
			case 4:
				return int(binary.LittleEndian.Uint32(p)), nil
			default:
				v := binary.LittleEndian.Uint64(p)
				if v > uint64(len(b)) {
					return -1, nil
				}
				return int(v), nil
			}
		}
		line := func() error {
			i := bytes.IndexByte(b[at:], '\n')
			if i < 0 {
				return fmt.Errorf("pickle opcode 0x%02x at byte %d: no end of line", op, start)
			}
			at += i + 1
			return nil
		}
		var err error
		switch op {
		case '.': // STOP
			done++
		case 'K', 'q', 'h', 0x80, 0x82: // BININT1 BINPUT BINGET PROTO EXT1
			err = need(1)
		case 'M', 0x83: // BININT2 EXT2
			err = need(2)
		case 'J', 'r', 'j', 0x84: // BININT LONG_BINPUT LONG_BINGET EXT4
			err = need(4)
		case 'G': // BINFLOAT
			err = need(8)
		case 'U', 0x8c, 'C', 0x8a: // SHORT_BINSTRING SHORT_BINUNICODE SHORT_BINBYTES LONG1
			var k int
			if k, err = length(1); err == nil {
				err = need(k)
			}
		case 'T', 'X', 'B', 0x8b: // BINSTRING BINUNICODE BINBYTES LONG4
			var k int
			if k, err = length(4); err == nil {
				err = need(k)
			}
		case 0x8d, 0x8e, 0x96: // BINUNICODE8 BINBYTES8 BYTEARRAY8
			var k int
			if k, err = length(8); err == nil {
				err = need(k)
			}
		case 0x95: // FRAME: its length must fit; its opcodes are walked as usual
			var k int
			if k, err = length(8); err == nil && (k < 0 || k > len(b)-at) {
				err = fmt.Errorf("pickle frame at byte %d: %d bytes run past the end (%d bytes)", start, k, len(b))
			}
		case 'I', 'L', 'F', 'S', 'V', 'P', 'p', 'g': // newline-terminated argument
			err = line()
		case 'c', 'i': // GLOBAL, INST: module and name lines
			if err = line(); err == nil {
				err = line()
			}
		}
		if err != nil {
			return at, err
		}
	}
	return at, nil
}
