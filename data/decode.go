package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"strings"
)

// maxPixels bounds the images and masks we agree to decode (64 Mpx): a corrupt header
// announcing a giant image must not make us allocate gigabytes.
const maxPixels = 1 << 26

// VOCClassNames are the 21 classes of PASCAL VOC 2012 segmentation.
var VOCClassNames = []string{
	"background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
	"chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
	"sheep", "sofa", "train", "tvmonitor",
}

// VOCPalette is the PASCAL VOC colour map (the devkit's bitget construction): entry k
// spreads the bits of k over the high bits of R, G and B; 255 → (224, 224, 192).
var VOCPalette = vocPalette()

func vocPalette() color.Palette {
	p := make(color.Palette, 256)
	for i := range 256 {
		var r, g, b uint8
		c := i
		for j := range 8 {
			r |= uint8(c&1) << (7 - j)
			g |= uint8((c>>1)&1) << (7 - j)
			b |= uint8((c>>2)&1) << (7 - j)
			c >>= 3
		}
		p[i] = color.RGBA{r, g, b, 255}
	}
	return p
}

// vocColourIndex maps a palette colour (packed 0xRRGGBB) back to its index.
var vocColourIndex = func() map[uint32]int32 {
	m := make(map[uint32]int32, 256)
	for i, c := range VOCPalette {
		rgba := c.(color.RGBA)
		m[uint32(rgba.R)<<16|uint32(rgba.G)<<8|uint32(rgba.B)] = int32(i)
	}
	return m
}()

// decodeConfig reads the header and refuses absurd sizes before any allocation.
func decodeConfig(b []byte, name string) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return cfg, format, decodeError(name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return cfg, format, fmt.Errorf("%s: empty image (%d×%d)", name, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return cfg, format, fmt.Errorf("%s: image of %d×%d pixels exceeds the %d-pixel limit", name, cfg.Width, cfg.Height, maxPixels)
	}
	return cfg, format, nil
}

// safeDecode runs a decoder, turning a panic on malformed input into an error: a corrupt
// file must never bring the trainer down.
func safeDecode(b []byte, name string) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("%s: corrupt image (decoder failed: %v)", name, r)
		}
	}()
	img, _, err = image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, decodeError(name, err)
	}
	return img, nil
}

// decodeError says whether the file looks cut short or is otherwise unreadable.
func decodeError(name string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "not enough pixel data") { // PNG's word for short IDAT data
		return fmt.Errorf("%s: truncated image (the file ends early): %w", name, err)
	}
	return fmt.Errorf("%s: unreadable image: %w", name, err)
}

// ReadImageFile decodes a JPEG or PNG file into a planar RGB float32 image (0–255).
func ReadImageFile(path string) (pix []float32, h, w int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, osReason(err))
	}
	return DecodeImage(b, path)
}

// DecodeImage decodes JPEG or PNG bytes into a planar RGB float32 image (0–255); name
// is used in errors.
func DecodeImage(b []byte, name string) (pix []float32, h, w int, err error) {
	if _, _, err := decodeConfig(b, name); err != nil {
		return nil, 0, 0, err
	}
	img, err := safeDecode(b, name)
	if err != nil {
		return nil, 0, 0, err
	}
	pix, h, w = imageToRGB(img)
	return pix, h, w, nil
}

// imageToRGB converts with fast paths for the types the JPEG and PNG decoders return.
func imageToRGB(img image.Image) ([]float32, int, int) {
	r := img.Bounds()
	h, w := r.Dy(), r.Dx()
	n := h * w
	out := make([]float32, 3*n)
	R, G, B := out[:n], out[n:2*n], out[2*n:]
	switch m := img.(type) {
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				yi := m.YOffset(r.Min.X+x, r.Min.Y+y)
				ci := m.COffset(r.Min.X+x, r.Min.Y+y)
				rr, gg, bb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				k := y*w + x
				R[k], G[k], B[k] = float32(rr), float32(gg), float32(bb)
			}
		}
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				k := y*w + x
				R[k], G[k], B[k] = float32(v), float32(v), float32(v)
			}
		}
	case *image.RGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				k := y*w + x
				R[k], G[k], B[k] = float32(row[4*x]), float32(row[4*x+1]), float32(row[4*x+2])
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				k := y*w + x
				R[k], G[k], B[k] = float32(row[4*x]), float32(row[4*x+1]), float32(row[4*x+2])
			}
		}
	case *image.Paletted:
		pal := make([][3]float32, len(m.Palette))
		for i, c := range m.Palette {
			cr, cg, cb, _ := c.RGBA()
			pal[i] = [3]float32{float32(cr >> 8), float32(cg >> 8), float32(cb >> 8)}
		}
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				k := y*w + x
				if int(v) < len(pal) {
					R[k], G[k], B[k] = pal[v][0], pal[v][1], pal[v][2]
				}
			}
		}
	default:
		for y := range h {
			for x := range w {
				cr, cg, cb, _ := img.At(r.Min.X+x, r.Min.Y+y).RGBA()
				k := y*w + x
				R[k], G[k], B[k] = float32(cr>>8), float32(cg>>8), float32(cb>>8)
			}
		}
	}
	return out, h, w
}

// ReadMaskFile decodes a PNG label mask (see DecodeMask).
func ReadMaskFile(path string) (labels []int32, h, w int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, osReason(err))
	}
	return DecodeMask(b, path)
}

// DecodeMask decodes a PNG label mask into class ids, row-major H×W:
//   - palette PNG: the palette index is the class id (VOC's SegmentationClass);
//   - 8- or 16-bit grayscale PNG: the value is the class id;
//   - RGB(A) PNG: each colour must be a VOC palette colour and maps to its index.
//
// Lossy formats (JPEG) are refused: their compression invents labels at edges.
// name is used in errors.
func DecodeMask(b []byte, name string) (labels []int32, h, w int, err error) {
	_, format, err := decodeConfig(b, name)
	if err != nil {
		return nil, 0, 0, err
	}
	if format != "png" {
		return nil, 0, 0, fmt.Errorf("%s: mask is %s; masks must be PNG (palette or 8-bit grayscale)", name, format)
	}
	img, err := safeDecode(b, name)
	if err != nil {
		return nil, 0, 0, err
	}
	r := img.Bounds()
	h, w = r.Dy(), r.Dx()
	labels = make([]int32, h*w)
	switch m := img.(type) {
	case *image.Paletted:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				labels[y*w+x] = int32(v)
			}
		}
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				labels[y*w+x] = int32(v)
			}
		}
	case *image.Gray16:
		for y := range h {
			for x := range w {
				labels[y*w+x] = int32(m.Gray16At(r.Min.X+x, r.Min.Y+y).Y)
			}
		}
	default:
		for y := range h {
			for x := range w {
				cr, cg, cb, _ := img.At(r.Min.X+x, r.Min.Y+y).RGBA()
				key := (cr>>8)<<16 | (cg>>8)<<8 | cb>>8
				k, ok := vocColourIndex[key]
				if !ok {
					return nil, 0, 0, fmt.Errorf("%s: colour mask pixel (%d,%d) is #%06x, not a VOC palette colour; save masks as palette or grayscale PNG", name, x, y, key)
				}
				labels[y*w+x] = k
			}
		}
	}
	return labels, h, w, nil
}

// checkLabels reports the first label that is neither a class id nor the ignore label.
func checkLabels(labels []int32, w, classes, ignore int, name string) error {
	for i, v := range labels {
		if (v < 0 || int(v) >= classes) && int(v) != ignore {
			return fmt.Errorf("%s: label %d at pixel (%d,%d) is not a class id (0..%d) nor the ignore label %d",
				name, v, i%w, i/w, classes-1, ignore)
		}
	}
	return nil
}

// EncodeMask writes labels (H×W, each in 0..255) as a palette PNG with the VOC colours,
// the format of VOC's SegmentationClass masks.
func EncodeMask(wr io.Writer, labels []int32, h, w int) error {
	if len(labels) != h*w {
		return fmt.Errorf("EncodeMask: %d labels for %d×%d", len(labels), h, w)
	}
	img := image.NewPaletted(image.Rect(0, 0, w, h), VOCPalette)
	for i, v := range labels {
		if v < 0 || v > 255 {
			return fmt.Errorf("EncodeMask: label %d at pixel (%d,%d) does not fit a palette PNG (0..255)", v, i%w, i/w)
		}
		img.Pix[i] = uint8(v)
	}
	return png.Encode(wr, img)
}

// EncodeJPEG writes a planar RGB float32 image (0–255) as a JPEG.
func EncodeJPEG(wr io.Writer, pix []float32, h, w, quality int) error {
	if len(pix) != 3*h*w {
		return fmt.Errorf("EncodeJPEG: %d values for 3×%d×%d", len(pix), h, w)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	n := h * w
	for k := range n {
		img.Pix[4*k] = clampByte(pix[k])
		img.Pix[4*k+1] = clampByte(pix[n+k])
		img.Pix[4*k+2] = clampByte(pix[2*n+k])
		img.Pix[4*k+3] = 255
	}
	return jpeg.Encode(wr, img, &jpeg.Options{Quality: quality})
}

func clampByte(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
