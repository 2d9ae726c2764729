package data

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
)

// The VOC colour map matches the devkit's published colours.
func TestVOCPalette(t *testing.T) {
	for i, want := range refPalette {
		if got := VOCPalette[i].(color.RGBA); got != want {
			t.Errorf("VOCPalette[%d] = %v, want %v", i, got, want)
		}
	}
}

// A palette mask written by EncodeMask decodes to the exact class ids, 255 included, and
// is a palette PNG carrying the VOC colours (what other tools show).
func TestMaskRoundTrip(t *testing.T) {
	w, h := 7, 5
	labels := make([]int32, w*h)
	for i := range labels {
		labels[i] = int32(i % 21)
	}
	labels[0], labels[w*h-1] = 255, 255
	var buf bytes.Buffer
	if err := EncodeMask(&buf, labels, h, w); err != nil {
		t.Fatal(err)
	}
	// Read back with the standard decoder: a palette image with VOC colours.
	img, err := png.Decode(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	pal, ok := img.(*image.Paletted)
	if !ok {
		t.Fatalf("EncodeMask wrote %T, want a palette PNG", img)
	}
	if got := pal.Palette[15].(color.RGBA); got != refPalette[15] {
		t.Errorf("palette entry 15 = %v, want %v", got, refPalette[15])
	}
	if c := pal.At(0, 0).(color.RGBA); c != refPalette[255] {
		t.Errorf("ignore pixel shows %v, want %v", c, refPalette[255])
	}
	got, gh, gw, err := DecodeMask(buf.Bytes(), "m.png")
	if err != nil {
		t.Fatal(err)
	}
	if gh != h || gw != w {
		t.Fatalf("size %d×%d, want %d×%d", gw, gh, w, h)
	}
	for i := range labels {
		if got[i] != labels[i] {
			t.Fatalf("label %d = %d, want %d", i, got[i], labels[i])
		}
	}
}

// Masks in the other accepted encodings decode to the same ids.
func TestDecodeMaskEncodings(t *testing.T) {
	lab := []uint8{0, 1, 2, 255, 15, 20}
	want := []int32{0, 1, 2, 255, 15, 20}
	rgb := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for i, v := range lab {
		rgb.Set(i%3, i/3, refPalette[int(v)])
	}
	g16 := image.NewGray16(image.Rect(0, 0, 3, 2))
	for i, v := range lab {
		g16.SetGray16(i%3, i/3, color.Gray16{Y: uint16(v)})
	}
	// A 4-bit palette PNG (few colours) stores indices with fewer bits.
	small := image.NewPaletted(image.Rect(0, 0, 3, 2), color.Palette{refPalette[0], refPalette[1], refPalette[2], refPalette[3]})
	copy(small.Pix, []uint8{0, 1, 2, 3, 1, 0})
	for _, tc := range []struct {
		name string
		img  image.Image
		want []int32
	}{
		{"palette", paletteMask(3, 2, lab), want},
		{"gray8", grayMask(3, 2, lab), want},
		{"gray16", g16, want},
		{"rgb voc colours", rgb, want},
		{"low bit-depth palette", small, []int32{0, 1, 2, 3, 1, 0}},
	} {
		got, h, w, err := DecodeMask(pngBytes(t, tc.img), tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if h != 2 || w != 3 {
			t.Fatalf("%s: %d×%d", tc.name, w, h)
		}
		for i := range tc.want {
			if got[i] != tc.want[i] {
				t.Fatalf("%s: labels %v, want %v", tc.name, got, tc.want)
			}
		}
	}
}

// Sizes announced by a header are checked before allocation.
func TestDecodeRefusesHugeHeader(t *testing.T) {
	// A valid PNG header announcing 100000×100000 pixels, then nothing.
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1, 1)))
	b := buf.Bytes()
	// IHDR data starts at byte 16: width then height, big-endian.
	b[16], b[17], b[18], b[19] = 0, 1, 0x86, 0xa0
	b[20], b[21], b[22], b[23] = 0, 1, 0x86, 0xa0
	_, _, _, err := DecodeMask(b, "huge.png")
	if err == nil || !strings.Contains(err.Error(), "huge.png") {
		t.Fatalf("want an error naming huge.png, got %v", err)
	}
}

// No input makes the image or mask decoders panic: every prefix of valid files, and
// files with flipped bytes, give either a result of consistent size or an error.
func TestDecodeCorruptNoPanic(t *testing.T) {
	files := [][]byte{
		jpegBytes(t, testImage(16, 12)),
		pngBytes(t, testImage(9, 7)),
		pngBytes(t, paletteMask(9, 7, testLabels(9, 7, 5))),
		pngBytes(t, grayMask(9, 7, testLabels(9, 7, 5))),
	}
	for _, f := range files {
		for cut := 0; cut < len(f); cut += max(1, len(f)/97) {
			checkDecoders(t, f[:cut])
		}
		for k := 0; k < len(f); k += max(1, len(f)/61) {
			g := append([]byte(nil), f...)
			g[k] ^= 0x5a
			checkDecoders(t, g)
		}
	}
}

func checkDecoders(t *testing.T, b []byte) {
	t.Helper()
	if pix, h, w, err := DecodeImage(b, "x.jpg"); err == nil {
		if len(pix) != 3*h*w {
			t.Fatalf("image: %d values for %d×%d", len(pix), w, h)
		}
	} else if !strings.Contains(err.Error(), "x.jpg") {
		t.Fatalf("image error %q does not name the file", err)
	}
	if lab, h, w, err := DecodeMask(b, "x.png"); err == nil {
		if len(lab) != h*w {
			t.Fatalf("mask: %d labels for %d×%d", len(lab), w, h)
		}
	} else if !strings.Contains(err.Error(), "x.png") {
		t.Fatalf("mask error %q does not name the file", err)
	}
}

// FuzzDecodeMask feeds arbitrary bytes to the mask decoder: it must return labels of
// consistent size or an error naming the file, never panic. The seed corpus (valid masks
// of each encoding, truncated and damaged ones) runs under plain `go test`.
func FuzzDecodeMask(f *testing.F) {
	lab := testLabels(6, 5, 5)
	valid := [][]byte{
		pngBytes(f, paletteMask(6, 5, lab)),
		pngBytes(f, grayMask(6, 5, lab)),
		pngBytes(f, testImage(6, 5)),
		jpegBytes(f, testImage(6, 5)),
	}
	for _, v := range valid {
		f.Add(v)
		f.Add(v[:len(v)/2])
		g := append([]byte(nil), v...)
		g[len(g)/3] ^= 0xff
		f.Add(g)
	}
	f.Add([]byte{})
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	// Added with the hostile-input work: 16-bit grey labels (above 255), a 1×1 mask, an
	// RGBA mask whose colours are not VOC's, a palette of two entries.
	g16 := image.NewGray16(image.Rect(0, 0, 3, 2))
	g16.SetGray16(2, 1, color.Gray16{Y: 1000})
	odd := image.NewNRGBA(image.Rect(0, 0, 2, 2))
	odd.Set(1, 1, color.NRGBA{1, 2, 3, 255})
	two := image.NewPaletted(image.Rect(0, 0, 2, 1), color.Palette{color.Black, color.White})
	two.SetColorIndex(1, 0, 1)
	for _, m := range []image.Image{g16, image.NewGray(image.Rect(0, 0, 1, 1)), odd, two} {
		f.Add(pngBytes(f, m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		labels, h, w, err := DecodeMask(b, "fuzz.png")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.png") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if h <= 0 || w <= 0 || len(labels) != h*w {
			t.Fatalf("%d labels for %d×%d", len(labels), w, h)
		}
		for _, v := range labels {
			if v < 0 || v > 65535 {
				t.Fatalf("label %d outside what a PNG can hold", v)
			}
		}
	})
}
