package onnx

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/fcn-dev/fcn/checkpoints"
)

// NumPy's .npy format, version 1.0, for float32 arrays: the magic "\x93NUMPY", the
// version, a little-endian uint16 header length, an ASCII dict padded with spaces to a
// multiple of 64 bytes and ended by '\n', then the C-order little-endian data.

// EncodeNPY returns data (C order, of shape) as a .npy file's bytes.
func EncodeNPY(shape []int, data []float32) ([]byte, error) {
	n := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		n *= d
		dims[i] = strconv.Itoa(d)
	}
	if n != len(data) {
		return nil, fmt.Errorf("npy: %d values for shape %v", len(data), shape)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", tuple)
	pad := 64 - (10+len(hdr)+1)%64
	if pad == 64 {
		pad = 0
	}
	hdr += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	b.WriteString(hdr)
	raw := make([]byte, 4*len(data))
	for i, f := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	b.Write(raw)
	return b.Bytes(), nil
}

// WriteNPY writes a float32 .npy file atomically.
func WriteNPY(path string, shape []int, data []float32) error {
	b, err := EncodeNPY(shape, data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return checkpoints.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

var npyShape = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)

// DecodeNPY reads a little-endian float32 .npy file (version 1 or 2, C order).
func DecodeNPY(b []byte) (shape []int, data []float32, err error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, nil, fmt.Errorf("npy: not a .npy file")
	}
	var hl, off int
	switch b[6] {
	case 1:
		hl, off = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, nil, fmt.Errorf("npy: truncated header")
		}
		hl, off = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		return nil, nil, fmt.Errorf("npy: unknown version %d", b[6])
	}
	if off+hl > len(b) {
		return nil, nil, fmt.Errorf("npy: truncated header")
	}
	hdr := string(b[off : off+hl])
	if !strings.Contains(hdr, "'descr': '<f4'") || !strings.Contains(hdr, "'fortran_order': False") {
		return nil, nil, fmt.Errorf("npy: want little-endian float32 in C order, header %q", strings.TrimSpace(hdr))
	}
	m := npyShape.FindStringSubmatch(hdr)
	if m == nil {
		return nil, nil, fmt.Errorf("npy: no shape in header %q", strings.TrimSpace(hdr))
	}
	n := 1
	for _, f := range strings.Split(m[1], ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, nil, fmt.Errorf("npy: bad shape %q", m[1])
		}
		shape = append(shape, d)
		n *= d
	}
	body := b[off+hl:]
	if len(body) != 4*n {
		return nil, nil, fmt.Errorf("npy: %d data bytes for shape %v", len(body), shape)
	}
	data = make([]float32, n)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
	}
	return shape, data, nil
}
