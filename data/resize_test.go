package data

import (
	"math"
	"testing"
)

// TestResizeBilinearMatchesPyTorch checks ResizeBilinear against values of
// torch.nn.functional.interpolate(x, size=..., mode="bilinear", align_corners=False)
// worked out by hand: output o reads (o+0.5)·in/out − 0.5, clamped below at 0.
func TestResizeBilinearMatchesPyTorch(t *testing.T) {
	for _, c := range []struct {
		name     string
		src      []float32
		ch, h, w int
		nh, nw   int
		want     []float32
	}{
		// 1×4 → 1×2: sources 0.5 and 2.5.
		{"shrink", []float32{0, 1, 2, 3}, 1, 1, 4, 1, 2, []float32{0.5, 2.5}},
		// 1×2 → 1×4: sources −0.25 (clamped to 0), 0.25, 0.75, 1.25 (past the last: 1).
		{"grow", []float32{0, 1}, 1, 1, 2, 1, 4, []float32{0, 0.25, 0.75, 1}},
		// 2×2 → 3×3, two channels: sources −1/6→0, 0.5, 7/6 per axis.
		{"2d", []float32{0, 2, 4, 6, 10, 10, 10, 10}, 2, 2, 2, 3, 3,
			[]float32{0, 1, 2, 2, 3, 4, 4, 5, 6, 10, 10, 10, 10, 10, 10, 10, 10, 10}},
		// 1×3 → 1×2: sources 0.25 and 1.75.
		{"3 to 2", []float32{0, 4, 8}, 1, 1, 3, 1, 2, []float32{1, 7}},
	} {
		got := ResizeBilinear(c.src, c.ch, c.h, c.w, c.nh, c.nw)
		if len(got) != len(c.want) {
			t.Fatalf("%s: %d values, want %d", c.name, len(got), len(c.want))
		}
		for i := range got {
			if math.Abs(float64(got[i]-c.want[i])) > 1e-6 {
				t.Errorf("%s: value %d = %v, want %v (all %v)", c.name, i, got[i], c.want[i], got)
				break
			}
		}
	}
}
