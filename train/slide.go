package train

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Slide is sliding-window inference as mmsegmentation's slide mode does it: CropH×CropW
// windows every StrideH rows and StrideW columns, the last window of a row or column
// moved back to end at the image's edge, each window's scores added into a full-size map
// and divided by the number of windows covering each pixel. The zero Slide is off.
type Slide struct {
	CropH, CropW, StrideH, StrideW int
}

// On reports whether sliding-window inference is asked for.
func (s Slide) On() bool { return s.CropH > 0 }

func (s Slide) String() string {
	if s.CropH == s.CropW && s.StrideH == s.StrideW {
		return fmt.Sprintf("%dx%d", s.CropH, s.StrideH)
	}
	return fmt.Sprintf("%dx%dx%dx%d", s.CropH, s.CropW, s.StrideH, s.StrideW)
}

// ParseSlide reads --slide: CROPxSTRIDE (square windows, e.g. 256x170) or
// CROP_HxCROP_WxSTRIDE_HxSTRIDE_W (e.g. 256x512x170x340), positive integers with
// each stride at most its crop (a larger stride would leave pixels no window covers).
func ParseSlide(text string) (Slide, error) {
	const want = "want CROPxSTRIDE (e.g. 256x170) or CROP_HxCROP_WxSTRIDE_HxSTRIDE_W (e.g. 256x512x170x340)"
	parts := strings.Split(strings.ToLower(strings.TrimSpace(text)), "x")
	if len(parts) != 2 && len(parts) != 4 {
		return Slide{}, fmt.Errorf("--slide %q: %s", text, want)
	}
	v := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return Slide{}, fmt.Errorf("--slide %q: %q is not a positive whole number of pixels; %s", text, p, want)
		}
		v[i] = n
	}
	s := Slide{CropH: v[0], CropW: v[0], StrideH: v[1], StrideW: v[1]}
	if len(v) == 4 {
		s = Slide{CropH: v[0], CropW: v[1], StrideH: v[2], StrideW: v[3]}
	}
	if s.StrideH > s.CropH || s.StrideW > s.CropW {
		return Slide{}, fmt.Errorf("--slide %q: a stride (%d×%d) larger than the crop (%d×%d) leaves pixels between windows that no window covers; want each stride ≤ its crop", text, s.StrideH, s.StrideW, s.CropH, s.CropW)
	}
	return s, nil
}

// Window is one window of an image: rows [Y1, Y2), columns [X1, X2).
type Window struct{ Y1, Y2, X1, X2 int }

// Windows lists the windows over an h×w image in mmsegmentation's order (rows of windows
// top to bottom, each left to right), with its grid: max(h − crop + stride − 1, 0)/stride
// + 1 windows down (likewise across), window (i, j) starting at i·stride, ending at most
// at the edge, and starting crop before its end (never before 0). An image no larger than
// the crop is one window, the whole image.
func (s Slide) Windows(h, w int) []Window {
	hGrids := max(h-s.CropH+s.StrideH-1, 0)/s.StrideH + 1
	wGrids := max(w-s.CropW+s.StrideW-1, 0)/s.StrideW + 1
	out := make([]Window, 0, hGrids*wGrids)
	for hi := range hGrids {
		for wi := range wGrids {
			y1, x1 := hi*s.StrideH, wi*s.StrideW
			y2, x2 := min(y1+s.CropH, h), min(x1+s.CropW, w)
			y1, x1 = max(y2-s.CropH, 0), max(x2-s.CropW, 0)
			out = append(out, Window{y1, y2, x1, x2})
		}
	}
	return out
}

// maxWindow is the largest window an h×w image is run in: the crop, or the image where it
// is smaller.
func (s Slide) maxWindow(h, w int) (int, int) {
	if !s.On() {
		return h, w
	}
	return min(h, s.CropH), min(w, s.CropW)
}

// slide runs the net on every window of the normalised 3×h×w image in and returns the
// C×h×w scores: at each pixel the mean of the scores of the windows covering it (summed
// in float64, so that windows agreeing give exactly their value). Each window goes
// through the any-size path (padded to the size the graph takes, cropped back).
func (r *netRunner) slide(ctx context.Context, in []float32, h, w int, s Slide) ([]float32, error) {
	wins := s.Windows(h, w)
	if len(wins) == 1 {
		return r.whole(ctx, in, h, w)
	}
	classes := r.exp.Model.Classes
	n := h * w
	sum := make([]float64, classes*n)
	count := make([]int32, n)
	for _, win := range wins {
		wh, ww := win.Y2-win.Y1, win.X2-win.X1
		crop := make([]float32, 3*wh*ww)
		for c := range 3 {
			for y := range wh {
				copy(crop[(c*wh+y)*ww:][:ww], in[c*n+(win.Y1+y)*w+win.X1:][:ww])
			}
		}
		sc, err := r.whole(ctx, crop, wh, ww)
		if err != nil {
			return nil, fmt.Errorf("--slide window rows %d–%d, columns %d–%d: %w", win.Y1, win.Y2, win.X1, win.X2, err)
		}
		for c := range classes {
			for y := range wh {
				dst := sum[c*n+(win.Y1+y)*w+win.X1:][:ww]
				for x, v := range sc[(c*wh+y)*ww:][:ww] {
					dst[x] += float64(v)
				}
			}
		}
		for y := range wh {
			cnt := count[(win.Y1+y)*w+win.X1:][:ww]
			for x := range cnt {
				cnt[x]++
			}
		}
	}
	out := make([]float32, classes*n)
	for i, v := range sum {
		// The grid covers every pixel (stride ≤ crop), so no count is 0.
		out[i] = float32(v / float64(count[i%n]))
	}
	return out, nil
}
