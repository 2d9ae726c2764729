package im2col

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// refIm2Col is the definition, written independently of the range arithmetic of Im2Col:
// for every column-matrix entry, compute the pixel it reads and test it against the image.
func refIm2Col(g Geom, im []float64) []float64 {
	col := make([]float64, g.Rows()*g.Cols())
	for c := 0; c < g.C; c++ {
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				r := (c*g.KH+kh)*g.KW + kw
				for oh := 0; oh < g.OH; oh++ {
					for ow := 0; ow < g.OW; ow++ {
						y := oh*g.SH - g.PadT + kh*g.DH
						x := ow*g.SW - g.PadL + kw*g.DW
						v := 0.0
						if y >= 0 && y < g.H && x >= 0 && x < g.W {
							v = im[(c*g.H+y)*g.W+x]
						}
						col[r*g.Cols()+oh*g.OW+ow] = v
					}
				}
			}
		}
	}
	return col
}

func randomGeoms(rng *rand.Rand, n int) []Geom {
	gs := []Geom{
		// Hand-picked corners: window larger than the image, pads larger than the kernel,
		// more window positions than the image allows (TF 'SAME' / output_padding).
		{C: 1, H: 1, W: 1, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadL: 1, DH: 1, DW: 1, OH: 1, OW: 1},
		{C: 2, H: 3, W: 2, KH: 2, KW: 3, SH: 2, SW: 3, PadT: 4, PadL: 0, DH: 2, DW: 1, OH: 5, OW: 2},
		{C: 1, H: 5, W: 4, KH: 1, KW: 1, SH: 1, SW: 1, PadT: 0, PadL: 0, DH: 1, DW: 1, OH: 5, OW: 4},
		{C: 3, H: 4, W: 7, KH: 3, KW: 2, SH: 3, SW: 2, PadT: 0, PadL: 2, DH: 1, DW: 3, OH: 3, OW: 6},
		// Stride 1 with as many window columns as image columns: the contiguous copy path,
		// with 'same' padding, dilation, and a negative pad (windows start inside).
		{C: 2, H: 5, W: 6, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadL: 1, DH: 1, DW: 1, OH: 5, OW: 6},
		{C: 2, H: 6, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 2, DH: 2, DW: 2, OH: 6, OW: 5},
		{C: 1, H: 4, W: 4, KH: 2, KW: 3, SH: 1, SW: 1, PadT: -1, PadL: -1, DH: 1, DW: 1, OH: 2, OW: 4},
		{C: 1, H: 3, W: 4, KH: 5, KW: 5, SH: 1, SW: 1, PadT: 4, PadL: 4, DH: 1, DW: 1, OH: 7, OW: 4},
	}
	for range n {
		gs = append(gs, Geom{
			C: 1 + rng.IntN(3), H: 1 + rng.IntN(9), W: 1 + rng.IntN(9),
			KH: 1 + rng.IntN(4), KW: 1 + rng.IntN(4),
			SH: 1 + rng.IntN(3), SW: 1 + rng.IntN(3),
			PadT: rng.IntN(5) - 1, PadL: rng.IntN(5) - 1,
			DH: 1 + rng.IntN(3), DW: 1 + rng.IntN(3),
			OH: 1 + rng.IntN(8), OW: 1 + rng.IntN(8),
		})
		if g := &gs[len(gs)-1]; rng.IntN(3) == 0 {
			g.SH, g.SW, g.OW = 1, 1, g.W // the contiguous path
		}
	}
	return gs
}

func randSlice(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}

func TestIm2ColMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, g := range randomGeoms(rng, 300) {
		im := randSlice(rng, g.C*g.H*g.W)
		want := refIm2Col(g, im)
		got := randSlice(rng, g.Rows()*g.Cols()) // garbage must be overwritten
		Im2Col(g, im, got)
		if !slices.Equal(got, want) {
			t.Fatalf("%+v: Im2Col differs from the definition\n got %v\nwant %v", g, got, want)
		}
		got32 := make([]float32, len(want))
		im32 := make([]float32, len(im))
		for i, v := range im {
			im32[i] = float32(v)
		}
		Im2Col(g, im32, got32)
		for i := range want {
			if got32[i] != float32(want[i]) {
				t.Fatalf("%+v: float32 Im2Col differs at %d", g, i)
			}
		}
	}
}

// Col2Im is the adjoint of Im2Col: ⟨Im2Col(x), c⟩ = ⟨x, Col2Im(c)⟩ for all x, c; and it
// accumulates into its destination.
func TestCol2ImIsAdjoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, g := range randomGeoms(rng, 300) {
		x := randSlice(rng, g.C*g.H*g.W)
		c := randSlice(rng, g.Rows()*g.Cols())
		var lhs float64
		for i, v := range refIm2Col(g, x) {
			lhs += v * c[i]
		}
		base := randSlice(rng, len(x))
		im := slices.Clone(base)
		Col2Im(g, c, im)
		var rhs float64
		for i := range x {
			rhs += x[i] * (im[i] - base[i])
		}
		if d := lhs - rhs; d > 1e-12 || d < -1e-12 {
			t.Fatalf("%+v: <im2col(x), c> = %v but <x, col2im(c)> = %v", g, lhs, rhs)
		}
	}
}

// A worked example by hand: a 1×3×3 image 1..9, a 2×2 window, stride 2, pad 1, so
// OH = OW = floor((3+2−2)/2)+1 = 2. Window (oh, ow) starts at pixel (2oh−1, 2ow−1).
//
//	image     padded (pad 1)
//	1 2 3     0 0 0 0 0
//	4 5 6     0 1 2 3 0
//	7 8 9     0 4 5 6 0
//	          0 7 8 9 0
//
// Row (kh, kw) of the column matrix lists tap (kh, kw) of the 4 windows:
// tap (0,0): 0 0 0 5;  tap (0,1): 0 0 4 6;  tap (1,0): 0 2 0 8;  tap (1,1): 1 3 7 9.
func TestIm2ColByHand(t *testing.T) {
	g := Geom{C: 1, H: 3, W: 3, KH: 2, KW: 2, SH: 2, SW: 2, PadT: 1, PadL: 1, DH: 1, DW: 1}
	g.OH, g.OW = OutSize(3, 2, 2, 1, 1), OutSize(3, 2, 2, 1, 1)
	if g.OH != 2 {
		t.Fatalf("OutSize = %d, want 2", g.OH)
	}
	im := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	col := make([]float64, 16)
	Im2Col(g, im, col)
	want := []float64{0, 0, 0, 5, 0, 0, 4, 6, 0, 2, 0, 8, 1, 3, 7, 9}
	if !slices.Equal(col, want) {
		t.Fatalf("col = %v, want %v", col, want)
	}
	// Col2Im of all-ones counts how many windows read each pixel: each pixel is read
	// exactly once here (stride = kernel), so the result is all ones.
	ones := []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	back := make([]float64, 9)
	Col2Im(g, ones, back)
	if !slices.Equal(back, []float64{1, 1, 1, 1, 1, 1, 1, 1, 1}) {
		t.Fatalf("col2im(ones) = %v", back)
	}
}

func TestOutSize(t *testing.T) {
	for _, tc := range []struct{ in, k, s, p, d, want int }{
		{7, 3, 1, 1, 1, 7},
		{7, 3, 2, 0, 1, 3},  // floor(4/2)+1
		{7, 3, 3, 1, 2, 2},  // k_eff 5: floor((7+2−5)/3)+1 = 2
		{5, 2, 2, 0, 1, 2},  // floor(3/2)+1
		{2, 3, 1, 0, 1, 0},  // window larger than the image
		{1, 5, 2, 0, 1, -1}, // floor(−4/2)+1 = −1, not 1 as truncation would give
		{1, 4, 3, 0, 1, 0},  // floor(−3/3)+1 = 0
	} {
		if got := OutSize(tc.in, tc.k, tc.s, tc.p, tc.d); got != tc.want {
			t.Errorf("OutSize(%d,%d,%d,%d,%d) = %d, want %d", tc.in, tc.k, tc.s, tc.p, tc.d, got, tc.want)
		}
	}
}

// The Part variants write exactly their block, wherever it is placed (leading dimension,
// column offset), and blocks that tile the matrix give Im2Col's matrix; Col2ImPart over
// such a tiling adds up to Col2Im (bit for bit: each pixel gets its terms in the same
// order).
func TestPartsTileTheMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, g := range randomGeoms(rng, 300) {
		im := randSlice(rng, g.C*g.H*g.W)
		want := refIm2Col(g, im)
		// Cut channels and window rows at random points.
		cc := cuts(rng, g.C)
		rc := cuts(rng, g.OH)
		kk := g.KH * g.KW
		c := randSlice(rng, g.Rows()*g.Cols())
		full := randSlice(rng, len(im))
		parts := slices.Clone(full)
		Col2Im(g, c, full)
		for i := 0; i+1 < len(cc); i++ {
			for j := 0; j+1 < len(rc); j++ {
				c0, c1, oh0, oh1 := cc[i], cc[i+1], rc[j], rc[j+1]
				ncol := (oh1 - oh0) * g.OW
				ld := ncol + rng.IntN(3)
				const guard = 12345.0
				blk := make([]float64, g.Rows()*ld)
				for k := range blk {
					blk[k] = guard
				}
				Im2ColPart(g, im, blk, ld, c0, c1, oh0, oh1)
				for r := 0; r < g.Rows(); r++ {
					for k := 0; k < ld; k++ {
						got := blk[r*ld+k]
						inside := r >= c0*kk && r < c1*kk && k < ncol
						switch {
						case inside && got != want[r*g.Cols()+oh0*g.OW+k]:
							t.Fatalf("%+v block c[%d,%d) oh[%d,%d) ld %d: entry (%d,%d) = %v, want %v", g, c0, c1, oh0, oh1, ld, r, k, got, want[r*g.Cols()+oh0*g.OW+k])
						case !inside && got != guard:
							t.Fatalf("%+v block c[%d,%d) oh[%d,%d) ld %d: wrote outside the block at (%d,%d)", g, c0, c1, oh0, oh1, ld, r, k)
						}
					}
				}
				// The same block of c, placed with ld, added back.
				for r := c0 * kk; r < c1*kk; r++ {
					copy(blk[r*ld:r*ld+ncol], c[r*g.Cols()+oh0*g.OW:])
				}
				Col2ImPart(g, blk, parts, ld, c0, c1, oh0, oh1)
			}
		}
		if len(rc) == 2 && !slices.Equal(parts, full) {
			t.Fatalf("%+v: Col2ImPart over channel blocks differs from Col2Im", g)
		}
		for i := range full {
			if d := parts[i] - full[i]; d > 1e-12 || d < -1e-12 {
				t.Fatalf("%+v: Col2ImPart over blocks gives %v at %d, Col2Im %v", g, parts[i], i, full[i])
			}
		}
	}
}

// cuts returns 0 = b0 < b1 < ... < bk = n at random.
func cuts(rng *rand.Rand, n int) []int {
	b := []int{0}
	for i := 1; i < n; i++ {
		if rng.IntN(3) == 0 {
			b = append(b, i)
		}
	}
	return append(b, n)
}
