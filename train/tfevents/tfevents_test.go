package tfevents

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMaskedCRC checks against values worked out independently: CRC-32C("123456789") is
// the standard check value 0xe3069283 (RFC 3720 §B.4), and the masked values were computed
// with a bitwise CRC-32C (polynomial 0x82F63B78) in Python:
// ((c>>15 | c<<17) & 0xffffffff) + 0xa282ead8.
func TestMaskedCRC(t *testing.T) {
	tests := []struct {
		in   []byte
		want uint32
	}{
		{[]byte("123456789"), 0xc78ab0e5},
		{binary.LittleEndian.AppendUint64(nil, 14), 0x3f69e5c5},
	}
	for _, tc := range tests {
		if got := MaskedCRC(tc.in); got != tc.want {
			t.Errorf("MaskedCRC(%q) = %#08x, want %#08x", tc.in, got, tc.want)
		}
	}
}

// TestMarshalByHand compares an encoded event with the bytes worked out by hand from the
// proto field numbers: Event{wall_time: 1.5, step: 3, summary {value {tag: "a",
// simple_value: 2}}}.
func TestMarshalByHand(t *testing.T) {
	e := Event{WallTime: 1.5, Step: 3, Values: []Value{{Tag: "a", Scalar: 2}}}
	want := []byte{
		0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // field 1, fixed64: 1.5
		0x10, 0x03, // field 2, varint: 3
		0x2a, 0x0a, // field 5, 10 bytes: Summary
		0x0a, 0x08, // Summary field 1, 8 bytes: Value
		0x0a, 0x01, 'a', // Value.tag
		0x15, 0, 0, 0, 0x40, // Value.simple_value, fixed32: 2.0
	}
	got := e.Marshal()
	if !bytes.Equal(got, want) {
		t.Fatalf("Marshal = % x\nwant      % x", got, want)
	}
	// The framed record: length 23, masked CRCs of the length and of the data.
	rec := frame(got)
	if len(rec) != 16+len(want) || binary.LittleEndian.Uint64(rec) != uint64(len(want)) {
		t.Fatalf("frame: % x", rec)
	}
	if binary.LittleEndian.Uint32(rec[8:]) != MaskedCRC(rec[:8]) || binary.LittleEndian.Uint32(rec[12+len(want):]) != MaskedCRC(want) {
		t.Fatalf("frame CRCs wrong: % x", rec)
	}
	back, err := Unmarshal(got)
	if err != nil || back.WallTime != 1.5 || back.Step != 3 || len(back.Values) != 1 || back.Values[0].Tag != "a" || back.Values[0].Scalar != 2 {
		t.Fatalf("Unmarshal = %+v, %v", back, err)
	}
}

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	clock := time.Unix(1700000000, 0)
	w, err := Create(dir, func() time.Time { clock = clock.Add(time.Second); return clock })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(w.Path()), Prefix+"1700000001.") {
		t.Errorf("file name %s", w.Path())
	}
	img := image.NewRGBA(image.Rect(0, 0, 5, 3))
	img.Set(1, 2, color.RGBA{200, 10, 20, 255})
	steps := []int64{1, 2, 3}
	for _, s := range steps {
		if err := w.Scalars(s, []string{"train/loss", "train/lr"}, []float64{1 / float64(s), 0.01 * float64(s)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Image(3, "val/overlay/0", img); err != nil {
		t.Fatal(err)
	}
	if err := w.SessionStart(2); err != nil {
		t.Fatal(err)
	}
	w.Close()

	ev, torn, err := ReadFile(w.Path())
	if err != nil || torn {
		t.Fatalf("ReadFile: torn %v, %v", torn, err)
	}
	if len(ev) != 6 || ev[0].FileVersion != FileVersion {
		t.Fatalf("%d events, first %+v", len(ev), ev[0])
	}
	for i, s := range steps {
		e := ev[1+i]
		if e.Step != s || len(e.Values) != 2 || e.Values[0].Tag != "train/loss" || e.Values[0].Scalar != float32(1/float64(s)) ||
			e.Values[1].Scalar != float32(0.01*float64(s)) {
			t.Errorf("event %d: %+v", i+1, e)
		}
		// The clock ticked for the file name and the file_version event first.
		if e.WallTime != float64(1700000003+i) {
			t.Errorf("event %d wall time %v", i+1, e.WallTime)
		}
	}
	im := ev[4].Values[0].Image
	if im == nil || im.Width != 5 || im.Height != 3 {
		t.Fatalf("image event %+v", ev[4])
	}
	dec, err := png.Decode(bytes.NewReader(im.Encoded))
	if err != nil || dec.Bounds().Dx() != 5 {
		t.Fatalf("image: %v", err)
	}
	if r, _, _, _ := dec.At(1, 2).RGBA(); r>>8 != 200 {
		t.Errorf("image pixel red %d, want 200", r>>8)
	}
	if s := ev[5].Session; s == nil || s.Status != SessionStart || ev[5].Step != 2 {
		t.Errorf("session event %+v", ev[5])
	}

	// A second file in the same second gets its own name.
	clock = clock.Add(-time.Second)
	w2, err := Create(dir, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	w2.Close()
	if w2.Path() == w.Path() {
		t.Errorf("second file reuses %s", w.Path())
	}
}

func TestReadTornAndCorrupt(t *testing.T) {
	var file []byte
	for _, e := range []Event{{FileVersion: FileVersion}, {Step: 1, Values: []Value{{Tag: "x", Scalar: float32(math.Pi)}}}} {
		file = append(file, frame(e.Marshal())...)
	}
	whole := len(file)
	last := frame((&Event{Step: 2, Values: []Value{{Tag: "x", Scalar: 1}}}).Marshal())
	for cut := 1; cut < len(last); cut++ {
		ev, torn, err := Read(bytes.NewReader(append(file[:whole:whole], last[:cut]...)))
		if err != nil || !torn || len(ev) != 2 {
			t.Fatalf("cut at %d: %d events, torn %v, %v", cut, len(ev), torn, err)
		}
	}
	// A flipped bit in a whole record is a CRC error.
	for _, at := range []int{3, 10, 20, whole - 2} {
		bad := append([]byte(nil), file...)
		bad[at] ^= 0x10
		if _, _, err := Read(bytes.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "CRC") {
			t.Errorf("bit flipped at %d: err %v, want a CRC error", at, err)
		}
	}
}

func TestCreateError(t *testing.T) {
	if _, err := Create(filepath.Join(t.TempDir(), "missing"), nil); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("Create in a missing folder: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestPublishedValues checks the checksum and the framing against values published
// outside this code: RFC 3720's CRC-32C of 32 zero bytes (0x8a9136aa, masked by hand:
// 0x8a9136aa>>15 = 0x00011522, 0x36aa<<17 = 0x6d540000, or = 0x6d551522, + 0xa282ead8 =
// 0x0fd7fffa), a record of a real TensorFlow event file quoted in TensorBoard's
// masked_crc.rs, and a whole TFRecord published in TensorBoard's tf_record.rs (an Event
// with wall_time 1599759586 and file_version "brain.Event:2").
func TestPublishedValues(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want uint32
	}{
		{make([]byte, 32), 0x0fd7fffa},
		{[]byte("\x1a\x11CRC test, one two"), 0x5794d08a},
	} {
		if got := MaskedCRC(tc.data); got != tc.want {
			t.Errorf("MaskedCRC(%q) = %#08x, want %#08x", tc.data, got, tc.want)
		}
	}
	const known = "\x18\x00\x00\x00\x00\x00\x00\x00" + "\xa3\x7f\x4b\x22" +
		"\x09\x00\x00\x80\x38\x99\xd6\xd7\x41\x1a\x0dbrain.Event:2" + "\x12\x4b\x36\xab"
	e := Event{WallTime: 1599759586, FileVersion: FileVersion}
	if got := frame(e.Marshal()); string(got) != known {
		t.Errorf("record\n%q, want\n%q", got, known)
	}
	ev, torn, err := Read(strings.NewReader(known))
	if err != nil || torn || len(ev) != 1 || ev[0].WallTime != e.WallTime || ev[0].FileVersion != FileVersion {
		t.Errorf("read back %+v, torn %v, %v", ev, torn, err)
	}
}

// TestProtocEncodesTheSame encodes events with protoc from their text form, with the
// message and field numbers of TensorBoard's protos (testdata/event.proto), and checks
// that Marshal gives the same bytes and Unmarshal reads them back.
func TestProtocEncodesTheSame(t *testing.T) {
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc not found: install it (Debian: apt-get install protobuf-compiler) to check the encoding against TensorBoard's schema")
	}
	tests := []struct {
		text string
		e    Event
	}{
		{`wall_time: 1700000000.25 file_version: "brain.Event:2"`, Event{WallTime: 1700000000.25, FileVersion: FileVersion}},
		{`wall_time: 2.5 step: 7 summary { value { tag: "train/loss" simple_value: 0.125 } value { tag: "train/lr" simple_value: 0 } }`,
			Event{WallTime: 2.5, Step: 7, Values: []Value{{Tag: "train/loss", Scalar: 0.125}, {Tag: "train/lr", Scalar: 0}}}},
		{`step: 1234567 summary { value { tag: "val/prediction/0" image { height: 16 width: 24 colorspace: 3 encoded_image_string: "\211PNG" } } }`,
			Event{Step: 1234567, Values: []Value{{Tag: "val/prediction/0", Image: &Image{Height: 16, Width: 24, Colorspace: 3, Encoded: []byte("\x89PNG")}}}}},
		{`wall_time: 3 step: 3 session_log { status: START }`, Event{WallTime: 3, Step: 3, Session: &SessionLog{Status: SessionStart}}},
	}
	for _, tc := range tests {
		cmd := exec.Command(protoc, "-Itestdata", "--encode=tensorboard.Event", "testdata/event.proto")
		cmd.Stdin = strings.NewReader(tc.text)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("protoc --encode %s: %v\n%s", tc.text, err, stderr.String())
		}
		if got := tc.e.Marshal(); !bytes.Equal(got, want) {
			t.Errorf("%s:\nMarshal %x\nprotoc  %x", tc.text, got, want)
		}
		back, err := Unmarshal(want)
		if err != nil || !bytes.Equal(back.Marshal(), want) {
			t.Errorf("%s: Unmarshal of protoc's bytes gives %+v, %v", tc.text, back, err)
		}
	}
}
