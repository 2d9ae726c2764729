package tfevents

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Prefix starts the name of every event file; TensorBoard finds files by it.
const Prefix = "events.out.tfevents."

// Writer appends events to one event file. Each event is one whole record written with
// one write, so a reader sees the file end at most in a torn last record (see Read).
type Writer struct {
	f    *os.File
	path string
	now  func() time.Time
}

// Create starts a new event file events.out.tfevents.<unix seconds>.<host> in dir (with
// a ".N" suffix if a file of that name exists, as when a run resumes within the second
// it stopped in) and writes its file_version event.
func Create(dir string, now func() time.Time) (*Writer, error) {
	if now == nil {
		now = time.Now
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	host = strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, host)
	t := now()
	base := filepath.Join(dir, fmt.Sprintf("%s%d.%s", Prefix, t.Unix(), host))
	path := base
	var f *os.File
	for i := 1; ; i++ {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
		if err == nil || !errors.Is(err, os.ErrExist) || i > 1000 {
			break
		}
		path = fmt.Sprintf("%s.%d", base, i)
	}
	if err != nil {
		return nil, fmt.Errorf("tensorboard event file: %w", err)
	}
	w := &Writer{f: f, path: path, now: now}
	if err := w.Write(&Event{FileVersion: FileVersion}); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Path is the file written.
func (w *Writer) Path() string { return w.path }

// Write appends e, stamping its wall time if it has none.
func (w *Writer) Write(e *Event) error {
	if e.WallTime == 0 {
		e.WallTime = float64(w.now().UnixNano()) / 1e9
	}
	if _, err := w.f.Write(frame(e.Marshal())); err != nil {
		return fmt.Errorf("writing %s: %w", w.path, err)
	}
	return nil
}

// Scalars writes one summary event holding the scalars at step, tags in the order given.
func (w *Writer) Scalars(step int64, tags []string, values []float64) error {
	e := &Event{Step: step}
	for i, tag := range tags {
		e.Values = append(e.Values, Value{Tag: tag, Scalar: float32(values[i])})
	}
	return w.Write(e)
}

// Image writes img as a PNG image summary under tag at step.
func (w *Writer) Image(step int64, tag string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("tensorboard image %s: %w", tag, err)
	}
	r := img.Bounds()
	return w.ImagePNG(step, tag, r.Dx(), r.Dy(), buf.Bytes())
}

// ImagePNG writes an encoded PNG of width×height as an image summary under tag.
func (w *Writer) ImagePNG(step int64, tag string, width, height int, encoded []byte) error {
	im := &Image{Height: int32(height), Width: int32(width), Colorspace: pngColorspace(encoded), Encoded: encoded}
	return w.Write(&Event{Step: step, Values: []Value{{Tag: tag, Image: im}}})
}

// SessionStart writes a SessionLog START at step: TensorBoard then discards events of
// steps ≥ step written before it, the ones a resumed run writes again.
func (w *Writer) SessionStart(step int64) error {
	return w.Write(&Event{Step: step, Session: &SessionLog{Status: SessionStart}})
}

// Close closes the file.
func (w *Writer) Close() error {
	if w == nil || w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Read decodes every record of an event file, checking both CRCs of each. A last record
// cut short (the writer was killed mid-write) is not an error: torn reports it. A CRC
// mismatch or a malformed event in a whole record is an error naming the record's offset.
func Read(r io.Reader) (events []Event, torn bool, err error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, false, err
	}
	off := 0
	for off < len(data) {
		rest := data[off:]
		if len(rest) < 12 {
			return events, true, nil
		}
		n := binary.LittleEndian.Uint64(rest[:8])
		if got, want := binary.LittleEndian.Uint32(rest[8:12]), MaskedCRC(rest[:8]); got != want {
			return events, false, fmt.Errorf("record at byte %d: length CRC %#08x, want %#08x", off, got, want)
		}
		if len(rest) < 16 || n > uint64(len(rest)-16) {
			return events, true, nil
		}
		body := rest[12 : 12+n]
		if got, want := binary.LittleEndian.Uint32(rest[12+n:16+n]), MaskedCRC(body); got != want {
			return events, false, fmt.Errorf("record at byte %d: data CRC %#08x, want %#08x", off, got, want)
		}
		e, err := Unmarshal(body)
		if err != nil {
			return events, false, fmt.Errorf("record at byte %d: %w", off, err)
		}
		events = append(events, e)
		off += 16 + int(n)
	}
	return events, false, nil
}

// ReadFile is Read of the file at path.
func ReadFile(path string) ([]Event, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	ev, torn, err := Read(f)
	if err != nil {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return ev, torn, err
}

// pngColorspace is Summary.Image's colorspace of a PNG (1 grey, 2 grey+alpha, 3 RGB,
// 4 RGBA) from its IHDR colour type; image/png writes an opaque RGBA image as RGB.
func pngColorspace(b []byte) int32 {
	if len(b) < 26 || string(b[12:16]) != "IHDR" {
		return 3
	}
	switch b[25] {
	case 0:
		return 1
	case 4:
		return 2
	case 6:
		return 4
	}
	return 3 // RGB and palette images
}
