package data

import (
	"math"
	"testing"
)

// rampSample is a w×h sample whose R channel is 10·x + y, G is 100 + x, B is 200 − y, and
// whose label is x mod 3 (so flips and windows are recognisable).
func rampSample(w, h int) Sample {
	s := Sample{Image: make([]float32, 3*w*h), Label: make([]int32, w*h), H: h, W: w, ID: "ramp"}
	n := w * h
	for y := range h {
		for x := range w {
			k := y*w + x
			s.Image[k] = float32(10*x + y)
			s.Image[n+k] = float32(100 + x)
			s.Image[2*n+k] = float32(200 - y)
			s.Label[k] = int32(x % 3)
		}
	}
	return s
}

func plainTransforms(t *testing.T, mod func(*TransformConfig)) *Transforms {
	t.Helper()
	c := DefaultTransformConfig()
	c.Normalize = NormNone
	c.Flip = false
	mod(&c)
	tf, err := NewTransforms(c, 255)
	if err != nil {
		t.Fatal(err)
	}
	return tf
}

func apply(tf *Transforms, s Sample, train bool, seed uint64) (img []float32, lab []int32, h, w int) {
	v := tf.plan(s, train, newRNG(seed))
	img, lab = make([]float32, 3*v.h*v.w), make([]int32, v.h*v.w)
	tf.write(v, img, lab, v.h, v.w)
	return img, lab, v.h, v.w
}

// Normalisation against values worked out by hand from the published constants.
func TestNormalisation(t *testing.T) {
	s := Sample{Image: []float32{10, 20, 30}, Label: []int32{0}, H: 1, W: 1}
	cases := []struct {
		name string
		mod  func(*TransformConfig)
		want [3]float64
	}{
		// Caffe FCN: BGR order, 0–255, minus the VOC BGR mean.
		{"caffe", func(c *TransformConfig) { c.Normalize = NormCaffe },
			[3]float64{30 - 104.00699, 20 - 116.66877, 10 - 122.67892}},
		// torchvision style: x/255, minus the ImageNet mean, over the ImageNet std.
		{"meanstd", func(c *TransformConfig) { c.Normalize = NormMeanStd },
			[3]float64{(10.0/255 - 0.485) / 0.229, (20.0/255 - 0.456) / 0.224, (30.0/255 - 0.406) / 0.225}},
		{"none", func(c *TransformConfig) { c.Normalize = NormNone }, [3]float64{10.0 / 255, 20.0 / 255, 30.0 / 255}},
	}
	for _, tc := range cases {
		tf := plainTransforms(t, tc.mod)
		img, _, _, _ := apply(tf, s, false, 1)
		for c := range 3 {
			if math.Abs(float64(img[c])-tc.want[c]) > 1e-5 {
				t.Errorf("%s: channel %d = %v, want %v", tc.name, c, img[c], tc.want[c])
			}
		}
	}
}

// Evaluation applies no random transform, whatever the options and the seed.
func TestEvalIsDeterministicAndPlain(t *testing.T) {
	tf := plainTransforms(t, func(c *TransformConfig) {
		c.ScaleMin, c.ScaleMax, c.Crop, c.Flip = 0.5, 2, 4, true
	})
	s := rampSample(7, 5)
	for seed := range uint64(20) {
		img, lab, h, w := apply(tf, s, false, seed)
		if h != 5 || w != 7 {
			t.Fatalf("eval changed the size to %d×%d", w, h)
		}
		for k := range s.Image {
			if math.Abs(float64(img[k])-float64(s.Image[k])/255) > 1e-6 {
				t.Fatalf("eval changed value %d", k)
			}
		}
		for k := range s.Label {
			if lab[k] != s.Label[k] {
				t.Fatalf("eval changed label %d", k)
			}
		}
	}
}

// A crop larger than the image pads: image with 0 (the mean after normalisation), labels
// with the ignore label; the image itself is kept at the top left.
func TestCropPads(t *testing.T) {
	tf := plainTransforms(t, func(c *TransformConfig) { c.Crop = 8; c.Normalize = NormMeanStd })
	s := rampSample(5, 4)
	img, lab, h, w := apply(tf, s, true, 3)
	if h != 8 || w != 8 {
		t.Fatalf("crop gave %d×%d, want 8×8", w, h)
	}
	for y := range 8 {
		for x := range 8 {
			k := y*8 + x
			inside := y < 4 && x < 5
			if !inside {
				if lab[k] != 255 || img[k] != 0 || img[64+k] != 0 || img[128+k] != 0 {
					t.Fatalf("pad pixel (%d,%d) = label %d image %v %v %v", x, y, lab[k], img[k], img[64+k], img[128+k])
				}
				continue
			}
			if lab[k] != int32(x%3) {
				t.Fatalf("pixel (%d,%d) label %d, want %d", x, y, lab[k], x%3)
			}
			want := (float64(10*x+y)/255 - 0.485) / 0.229
			if math.Abs(float64(img[k])-want) > 1e-5 {
				t.Fatalf("pixel (%d,%d) R %v, want %v", x, y, img[k], want)
			}
		}
	}
}

// A smaller crop is a window of the image at a random place, and its place varies.
func TestCropWindow(t *testing.T) {
	tf := plainTransforms(t, func(c *TransformConfig) { c.Crop = 3 })
	s := rampSample(10, 10)
	offsets := map[[2]int]bool{}
	for seed := range uint64(30) {
		img, _, _, _ := apply(tf, s, true, seed)
		// R = 10x + y identifies the top-left source pixel.
		r := int(math.Round(float64(img[0]) * 255))
		x0, y0 := r/10, r%10
		if x0 > 7 || y0 > 7 {
			t.Fatalf("window at (%d,%d) leaves the 10×10 image", x0, y0)
		}
		for y := range 3 {
			for x := range 3 {
				want := float64(10*(x0+x) + y0 + y)
				if got := float64(img[y*3+x]) * 255; math.Abs(got-want) > 1e-3 {
					t.Fatalf("seed %d: window pixel (%d,%d) = %v, want %v", seed, x, y, got, want)
				}
			}
		}
		offsets[[2]int{x0, y0}] = true
	}
	if len(offsets) < 5 {
		t.Fatalf("only %d distinct crop positions in 30 draws", len(offsets))
	}
}

// Flips mirror image and label together, about half of the time.
func TestFlip(t *testing.T) {
	tf := plainTransforms(t, func(c *TransformConfig) { c.Flip = true })
	s := rampSample(6, 2)
	flipped := 0
	for seed := range uint64(200) {
		img, lab, _, _ := apply(tf, s, true, seed)
		isFlipped := lab[0] != 0
		if isFlipped {
			flipped++
		}
		for y := range 2 {
			for x := range 6 {
				sx := x
				if isFlipped {
					sx = 5 - x
				}
				if lab[y*6+x] != int32(sx%3) || math.Abs(float64(img[y*6+x])*255-float64(10*sx+y)) > 1e-3 {
					t.Fatalf("seed %d pixel (%d,%d) does not come from (%d,%d)", seed, x, y, sx, y)
				}
			}
		}
	}
	if flipped < 70 || flipped > 130 {
		t.Fatalf("%d of 200 samples flipped, want about 100", flipped)
	}
}

// Bilinear resize with half-pixel centres, checked on a ramp against the formula
// out(k) = in(clamp((k+0.5)·in/out − 0.5)) worked out by hand for ×2: k/2 − 1/4.
func TestResize(t *testing.T) {
	w := 4
	src := make([]float32, 3*w) // 1×4 per channel, R = x
	for x := range w {
		src[x] = float32(x)
	}
	dst := resizeBilinear(src, 1, w, 1, 2*w)
	want := []float64{0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3}
	for k, v := range want {
		if math.Abs(float64(dst[k])-v) > 1e-6 {
			t.Fatalf("resized[%d] = %v, want %v (all %v)", k, dst[k], v, dst[:2*w])
		}
	}
	lab := resizeNearest([]int32{1, 2, 3}, 1, 3, 1, 6)
	for k, v := range []int32{1, 1, 2, 2, 3, 3} {
		if lab[k] != v {
			t.Fatalf("nearest resize %v, want [1 1 2 2 3 3]", lab)
		}
	}
	// Halving a label map picks, never blends.
	lab = resizeNearest([]int32{1, 255, 2, 255}, 1, 4, 1, 2)
	if lab[0] != 255 || lab[1] != 255 {
		t.Fatalf("nearest ×½ = %v, want [255 255]", lab)
	}
}

// Random scale changes the size within [min, max]·size and keeps labels unblended.
func TestRandomScale(t *testing.T) {
	tf := plainTransforms(t, func(c *TransformConfig) { c.ScaleMin, c.ScaleMax = 0.5, 1.5 })
	s := rampSample(20, 20)
	sizes := map[int]bool{}
	for seed := range uint64(40) {
		_, lab, h, w := apply(tf, s, true, seed)
		if h != w || h < 10 || h > 30 {
			t.Fatalf("scaled size %d×%d outside [10, 30]", w, h)
		}
		sizes[h] = true
		for _, v := range lab {
			if v < 0 || v > 2 {
				t.Fatalf("label %d was blended", v)
			}
		}
	}
	if len(sizes) < 8 {
		t.Fatalf("only %d distinct scaled sizes in 40 draws", len(sizes))
	}
}

func TestTransformConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*TransformConfig)
		want string
	}{
		{func(c *TransformConfig) { c.ScaleMin = 0 }, "scale_min"},
		{func(c *TransformConfig) { c.ScaleMax = 0.5 }, "scale_max"},
		{func(c *TransformConfig) { c.Crop = -1 }, "crop"},
		{func(c *TransformConfig) { c.Normalize = "zscore" }, "normalize"},
		{func(c *TransformConfig) { c.Std = []float64{1, 0, 1} }, "std"},
		{func(c *TransformConfig) { c.Mean = []float64{1} }, "mean"},
		{func(c *TransformConfig) { c.Normalize = NormCaffe; c.BGRMean = nil }, "bgr_mean"},
	} {
		c := DefaultTransformConfig()
		tc.mod(&c)
		if _, err := NewTransforms(c, 255); err == nil || !contains(err.Error(), "data.transforms."+tc.want) {
			t.Errorf("want an error naming data.transforms.%s, got %v", tc.want, err)
		}
	}
}
