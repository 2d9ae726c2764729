package data

import (
	"bytes"
	"image"
	"image/color"
	"strings"
	"testing"
)

// FuzzDecodeImage feeds arbitrary bytes to the image reader: it returns an RGB image of
// consistent size with values in [0, 255], or an error naming the file, never a panic.
// The seeds are valid PNGs and JPEGs of several kinds, truncated and damaged ones.
func FuzzDecodeImage(f *testing.F) {
	gray := image.NewGray16(image.Rect(0, 0, 3, 2))
	gray.SetGray16(1, 1, color.Gray16{Y: 40000})
	pal := image.NewPaletted(image.Rect(0, 0, 4, 3), color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{200, 100, 0, 128}})
	pal.SetColorIndex(2, 1, 1)
	nrgba := image.NewNRGBA(image.Rect(0, 0, 2, 5))
	nrgba.Set(1, 4, color.NRGBA{255, 0, 9, 10})
	valid := [][]byte{
		pngBytes(f, testImage(6, 5)),
		jpegBytes(f, testImage(6, 5)),
		pngBytes(f, gray),
		pngBytes(f, pal),
		pngBytes(f, nrgba),
	}
	for _, v := range valid {
		f.Add(v)
		f.Add(v[:len(v)/2])
		g := append([]byte(nil), v...)
		g[len(g)/3] ^= 0xff
		f.Add(g)
	}
	f.Add([]byte{})
	f.Add([]byte("\xff\xd8\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pix, h, w, err := DecodeImage(b, "fuzz.jpg")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.jpg") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if h <= 0 || w <= 0 || len(pix) != 3*h*w {
			t.Fatalf("%d values for a 3×%d×%d image", len(pix), h, w)
		}
		for _, v := range pix {
			if !(v >= 0 && v <= 255) {
				t.Fatalf("value %v outside [0, 255]", v)
			}
		}
	})
}

// FuzzReadSplitList feeds arbitrary bytes to the split-list reader: it never panics, and
// every id it accepts is a non-empty relative name without "..", spaces or control
// characters, so the files it names stay under the dataset root.
func FuzzReadSplitList(f *testing.F) {
	for _, s := range []string{
		"", "2007_000032\n2007_000039\n", "  a  \n\n b -1\r\nc\t1\n", "../../etc/passwd\n", "/etc/passwd\n",
		"a/../../b\n", "sub/dir/img\n", "a\x00b\n", "é\n", "\xff\xfe\n", strings.Repeat("x", 70000) + "\n", "a\\..\\b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := parseSplitList(bytes.NewReader(b), "fuzz.txt")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.txt") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, id := range ids {
			if id == "" || strings.ContainsAny(id, " \t\r\n\x00\\") || strings.HasPrefix(id, "/") {
				t.Fatalf("accepted id %q", id)
			}
			for _, el := range strings.Split(id, "/") {
				if el == ".." {
					t.Fatalf("accepted id %q leads out of the root", id)
				}
			}
		}
	})
}
