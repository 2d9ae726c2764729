package train

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	fcndata "github.com/fcn-dev/fcn/data"
)

// maxTTAScale bounds a test-time scale: an image 8 times larger on each side is already 64
// times the work.
const maxTTAScale = 8

// TTA is multi-scale and flip test-time augmentation as mmsegmentation's does it: the
// image is run at each scale (resized bilinearly), and with Flip also mirrored left to
// right; each run's scores are brought back (mirrored back, resized bilinearly to the
// image's size), turned into probabilities (softmax over the classes), and the
// probabilities averaged; the prediction is their argmax. The zero TTA is off.
type TTA struct {
	Scales []float64 // in the order given; none: TTA is off
	Flip   bool
}

// On reports whether test-time augmentation is asked for.
func (t TTA) On() bool { return len(t.Scales) > 0 }

func (t TTA) String() string {
	var parts []string
	for i, s := range t.Scales {
		v := strconv.FormatFloat(s, 'g', -1, 64)
		if i == 0 {
			v = "scales=" + v
		}
		parts = append(parts, v)
	}
	if t.Flip {
		parts = append(parts, "flip")
	}
	return strings.Join(parts, ",")
}

// ParseTTA reads --tta: comma-separated items, scales=S1,S2,... (the scales, each in
// (0, 8]; default 1) and flip (also run the mirrored image), in any order, e.g.
// "scales=0.5,0.75,1,1.25,flip", "flip", "scales=1,1.5".
func ParseTTA(text string) (TTA, error) {
	const want = `want comma-separated scales=S1,S2,... and flip, e.g. "scales=0.5,0.75,1,1.25,flip" or "flip"`
	var t TTA
	if strings.TrimSpace(text) == "" {
		return t, fmt.Errorf("--tta: empty; %s", want)
	}
	inScales, sawScales := false, false
	seen := map[float64]bool{}
	for _, item := range strings.Split(text, ",") {
		item = strings.TrimSpace(item)
		num := item
		switch {
		case item == "flip":
			if t.Flip {
				return TTA{}, fmt.Errorf("--tta %q: flip is given twice", text)
			}
			t.Flip, inScales = true, false
			continue
		case strings.HasPrefix(item, "scales="):
			if sawScales {
				return TTA{}, fmt.Errorf("--tta %q: scales= is given twice; list every scale after one scales=", text)
			}
			num, inScales, sawScales = strings.TrimPrefix(item, "scales="), true, true
		case !inScales:
			return TTA{}, fmt.Errorf("--tta %q: %q is neither scales=... nor flip (a scale belongs right after scales=); %s", text, item, want)
		}
		s, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(s) || !(s > 0 && s <= maxTTAScale) {
			return TTA{}, fmt.Errorf("--tta %q: scale %q: want a number in (0, %d]", text, num, maxTTAScale)
		}
		if seen[s] {
			return TTA{}, fmt.Errorf("--tta %q: scale %g is given twice (it would count double in the average)", text, s)
		}
		seen[s] = true
		t.Scales = append(t.Scales, s)
	}
	if !sawScales {
		t.Scales = []float64{1}
	}
	return t, nil
}

// scaledSize is an h×w image's size at scale s, rounded as mmcv's imrescale rounds it
// (⌊h·s + 0.5⌋), at least 1.
func scaledSize(h, w int, s float64) (int, int) {
	if s == 1 {
		return h, w
	}
	return max(1, int(float64(h)*s+0.5)), max(1, int(float64(w)*s+0.5))
}

// tta runs the augmentations of t on the normalised 3×h×w image in, each through run
// (the whole image or its windows, at that augmentation's size), and returns the mean of
// their softmax probabilities, C×h×w, in float64. The image is resized after
// normalisation; normalisation is affine per channel, so this is resizing before it up
// to rounding.
func tta(ctx context.Context, in []float32, h, w, classes int, t TTA, run func(context.Context, []float32, int, int) ([]float32, error)) ([]float64, error) {
	n := h * w
	sum := make([]float64, classes*n)
	runs := 0
	for _, s := range t.Scales {
		sh, sw := scaledSize(h, w, s)
		img := in
		if sh != h || sw != w {
			img = fcndata.ResizeBilinear(in, 3, h, w, sh, sw)
		}
		flips := []bool{false}
		if t.Flip {
			flips = append(flips, true)
		}
		for _, flip := range flips {
			x := img
			if flip {
				x = flipPlanes(img, 3, sh, sw)
			}
			sc, err := run(ctx, x, sh, sw)
			if err != nil {
				what := fmt.Sprintf("--tta scale %g (%d×%d)", s, sh, sw)
				if flip {
					what += ", flipped"
				}
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			// mmsegmentation's order: undo the flip, then resize to the image's size.
			if flip {
				sc = flipPlanes(sc, classes, sh, sw)
			}
			if sh != h || sw != w {
				sc = fcndata.ResizeBilinear(sc, classes, sh, sw, h, w)
			}
			addSoftmax(sum, sc, classes, n)
			runs++
		}
	}
	for i := range sum {
		sum[i] /= float64(runs)
	}
	return sum, nil
}

// flipPlanes mirrors planar ch×h×w values left to right.
func flipPlanes(src []float32, ch, h, w int) []float32 {
	dst := make([]float32, len(src))
	for r := range ch * h {
		s, d := src[r*w:][:w], dst[r*w:][:w]
		for x, v := range s {
			d[w-1-x] = v
		}
	}
	return dst
}

// addSoftmax adds the softmax over the classes of planar C×n scores to sum, in float64
// (the maximum subtracted first, so large scores do not overflow).
func addSoftmax(sum []float64, scores []float32, classes, n int) {
	for i := range n {
		m := math.Inf(-1)
		for c := range classes {
			m = max(m, float64(scores[c*n+i]))
		}
		var z float64
		for c := range classes {
			z += math.Exp(float64(scores[c*n+i]) - m)
		}
		for c := range classes {
			sum[c*n+i] += math.Exp(float64(scores[c*n+i])-m) / z
		}
	}
}
