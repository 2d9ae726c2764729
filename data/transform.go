package data

import (
	"fmt"
	"math"
)

// Transforms turns decoded samples into network input. For training it draws a random
// rescale, a random crop (padding where the image is smaller than the crop) and a random
// horizontal flip; it always normalises. All randomness comes from the rng it is given,
// which the loader derives from (seed, epoch, index).
type Transforms struct {
	cfg    TransformConfig
	ignore int32
	src    [3]int     // input channel of each output channel (BGR for caffe)
	sub    [3]float32 // subtracted per output channel, 0–255 scale
	mul    [3]float32 // then multiplied
}

// NewTransforms checks cfg and prepares the normalisation.
func NewTransforms(cfg TransformConfig, ignoreLabel int) (*Transforms, error) {
	if errs := cfg.validate(); len(errs) > 0 {
		return nil, errs[0]
	}
	t := &Transforms{cfg: cfg, ignore: int32(ignoreLabel), src: [3]int{0, 1, 2}}
	for c := range 3 {
		switch cfg.Normalize {
		case NormNone:
			t.mul[c] = 1.0 / 255
		case NormMeanStd:
			t.sub[c] = float32(cfg.Mean[c] * 255)
			t.mul[c] = float32(1 / (cfg.Std[c] * 255))
		case NormCaffe:
			t.src[c] = 2 - c
			t.sub[c] = float32(cfg.BGRMean[c])
			t.mul[c] = 1
		}
	}
	return t, nil
}

// Normalize maps one raw (0–255) value of RGB channel rgbChannel the way the transforms
// do, returning the output channel it lands in and its value.
func (t *Transforms) Normalize(rgbChannel int, v float32) (outChannel int, out float32) {
	for c := range 3 {
		if t.src[c] == rgbChannel {
			return c, (v - t.sub[c]) * t.mul[c]
		}
	}
	panic(fmt.Sprintf("data: channel %d out of range", rgbChannel))
}

// view is a sample after the geometric transforms, not yet copied: the output is the
// window (y0, x0, h, w) of the (possibly rescaled) source, mirrored if flip; window pixels
// outside the source are padding.
type view struct {
	img        []float32
	lab        []int32
	sh, sw     int // source size
	y0, x0     int
	h, w       int // output size
	flip       bool
	id         string
	datasetIdx int
}

// plan draws the geometric transforms of s (train) or takes s whole (eval).
func (t *Transforms) plan(s Sample, train bool, r *rng) view {
	v := view{img: s.Image, lab: s.Label, sh: s.H, sw: s.W, h: s.H, w: s.W, id: s.ID}
	if !train {
		return v
	}
	// Fixed draw order (scale, crop, flip) whatever the options, so that enabling one
	// transform does not change the draws of the others.
	scale := r.uniform(t.cfg.ScaleMin, t.cfg.ScaleMax)
	if t.cfg.ScaleMin == t.cfg.ScaleMax {
		scale = t.cfg.ScaleMin
	}
	cy, cx := r.float64(), r.float64()
	flip := r.float64() < 0.5
	if scale != 1 {
		nh := max(1, int(math.Round(float64(s.H)*scale)))
		nw := max(1, int(math.Round(float64(s.W)*scale)))
		if nh != s.H || nw != s.W {
			v.img = resizeBilinear(s.Image, s.H, s.W, nh, nw)
			v.lab = resizeNearest(s.Label, s.H, s.W, nh, nw)
			v.sh, v.sw, v.h, v.w = nh, nw, nh, nw
		}
	}
	if c := t.cfg.Crop; c > 0 {
		// Random window inside the source when it is larger than the crop; when it is
		// smaller the window starts at 0 and the excess is padding (bottom, right).
		v.y0 = int(cy * float64(max(0, v.sh-c)+1))
		v.x0 = int(cx * float64(max(0, v.sw-c)+1))
		v.h, v.w = c, c
	}
	v.flip = t.cfg.Flip && flip
	return v
}

// write copies v into one batch slot of size hb×wb (hb ≥ v.h, wb ≥ v.w), normalising;
// padding is 0 in the image (the mean, after normalisation; black for "none") and the
// ignore label in the labels.
func (t *Transforms) write(v view, img []float32, lab []int32, hb, wb int) {
	plane := hb * wb
	splane := v.sh * v.sw
	for y := range hb {
		sy := v.y0 + y
		rowIn := y < v.h && sy < v.sh
		for x := range wb {
			o := y*wb + x
			sx := v.x0 + x
			if v.flip {
				sx = v.x0 + v.w - 1 - x
			}
			if !rowIn || x >= v.w || sx < 0 || sx >= v.sw {
				img[o], img[plane+o], img[2*plane+o] = 0, 0, 0
				lab[o] = t.ignore
				continue
			}
			si := sy*v.sw + sx
			for c := range 3 {
				img[c*plane+o] = (v.img[t.src[c]*splane+si] - t.sub[c]) * t.mul[c]
			}
			lab[o] = v.lab[si]
		}
	}
}

// resizeBilinear resizes a planar 3-channel image with half-pixel centres (as OpenCV's
// INTER_LINEAR and PyTorch's align_corners=False).
func resizeBilinear(src []float32, h, w, nh, nw int) []float32 {
	return ResizeBilinear(src, 3, h, w, nh, nw)
}

// ResizeBilinear resizes planar ch×h×w values to ch×nh×nw as PyTorch's
// F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False): output pixel o
// reads source coordinate (o+0.5)·h/nh − 0.5, clamped below at 0, interpolated between
// its two neighbours (no antialiasing when shrinking, as PyTorch's default and OpenCV's
// INTER_LINEAR).
func ResizeBilinear(src []float32, ch, h, w, nh, nw int) []float32 {
	dst := make([]float32, ch*nh*nw)
	fy, fx := float64(h)/float64(nh), float64(w)/float64(nw)
	y0s, y1s, wys := axisWeights(nh, h, fy)
	x0s, x1s, wxs := axisWeights(nw, w, fx)
	for c := range ch {
		s := src[c*h*w : (c+1)*h*w]
		d := dst[c*nh*nw : (c+1)*nh*nw]
		for y := range nh {
			r0, r1, wy := s[y0s[y]*w:], s[y1s[y]*w:], wys[y]
			for x := range nw {
				a, b, wx := x0s[x], x1s[x], wxs[x]
				top := r0[a] + (r0[b]-r0[a])*wx
				bot := r1[a] + (r1[b]-r1[a])*wx
				d[y*nw+x] = top + (bot-top)*wy
			}
		}
	}
	return dst
}

func axisWeights(n, size int, f float64) (i0, i1 []int, wt []float32) {
	i0, i1, wt = make([]int, n), make([]int, n), make([]float32, n)
	for k := range n {
		s := (float64(k)+0.5)*f - 0.5
		if s < 0 {
			s = 0
		}
		a := int(s)
		if a > size-1 {
			a = size - 1
		}
		b := min(a+1, size-1)
		i0[k], i1[k], wt[k] = a, b, float32(s-float64(a))
	}
	return
}

// resizeNearest resizes labels by nearest neighbour (labels must not be blended).
func resizeNearest(src []int32, h, w, nh, nw int) []int32 {
	dst := make([]int32, nh*nw)
	for y := range nh {
		sy := min(h-1, int((float64(y)+0.5)*float64(h)/float64(nh)))
		for x := range nw {
			sx := min(w-1, int((float64(x)+0.5)*float64(w)/float64(nw)))
			dst[y*nw+x] = src[sy*w+sx]
		}
	}
	return dst
}
