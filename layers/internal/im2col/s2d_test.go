package im2col

import (
	"math/rand/v2"
	"testing"
)

// Z's column matrix is X's with its rows permuted by SpaceToDepthRow, entry for entry,
// for strides 2 and 3, padding inside and beyond the kernel, and window counts that
// leave the bottom and right padding asymmetric; float32 (whose stride-2 rows go by
// vector permutes) and float64.
func TestSpaceToDepthIsARowPermutation(t *testing.T) {
	testSpaceToDepth[float32](t)
	testSpaceToDepth[float64](t)
}

func testSpaceToDepth[T Float](t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, g := range []Geom{
		{C: 2, H: 8, W: 8, KH: 4, KW: 4, SH: 2, SW: 2, PadT: 1, PadL: 1, DH: 1, DW: 1, OH: 4, OW: 4},
		{C: 3, H: 7, W: 9, KH: 4, KW: 2, SH: 2, SW: 2, PadT: 1, PadL: 0, DH: 1, DW: 1, OH: 3, OW: 4},
		{C: 1, H: 10, W: 11, KH: 6, KW: 3, SH: 3, SW: 3, PadT: 2, PadL: 1, DH: 1, DW: 1, OH: 4, OW: 4},
		{C: 2, H: 5, W: 6, KH: 4, KW: 4, SH: 2, SW: 1, PadT: 3, PadL: 2, DH: 1, DW: 1, OH: 4, OW: 6},
		{C: 2, H: 16, W: 16, KH: 16, KW: 16, SH: 8, SW: 8, PadT: 4, PadL: 4, DH: 1, DW: 1, OH: 2, OW: 2},
		{C: 1, H: 6, W: 5, KH: 2, KW: 2, SH: 2, SW: 2, PadT: 0, PadL: 0, DH: 1, DW: 1, OH: 4, OW: 3},     // windows past the bottom and right
		{C: 2, H: 64, W: 70, KH: 4, KW: 4, SH: 2, SW: 2, PadT: 1, PadL: 1, DH: 1, DW: 1, OH: 32, OW: 35}, // rows long enough for the vectors
		{C: 1, H: 9, W: 40, KH: 4, KW: 4, SH: 2, SW: 2, PadT: 5, PadL: 6, DH: 1, DW: 1, OH: 4, OW: 24},   // pad beyond the kernel
	} {
		if !g.SpaceToDepthFits() {
			t.Fatalf("%+v should fit", g)
		}
		x := make([]T, g.C*g.H*g.W)
		for i := range x {
			x[i] = T(rng.Float64() + 1) // never 0, so a misplaced zero shows
		}
		zg := g.SpaceToDepth()
		if zg.SH != 1 || zg.SW != 1 || zg.PadT != 0 || zg.PadL != 0 || zg.Rows() != g.Rows() || zg.Cols() != g.Cols() {
			t.Fatalf("%+v: Z's geometry %+v", g, zg)
		}
		z := make([]T, zg.C*zg.H*zg.W)
		for i := range z {
			z[i] = -7 // every element must be written
		}
		SpaceToDepthImage(g, x, z)
		colX, colZ := make([]T, g.Rows()*g.Cols()), make([]T, zg.Rows()*zg.Cols())
		Im2Col(g, x, colX)
		Im2Col(zg, z, colZ)
		seen := make([]bool, g.Rows())
		for r := range zg.Rows() {
			rx := g.SpaceToDepthRow(r)
			if rx < 0 || rx >= g.Rows() || seen[rx] {
				t.Fatalf("%+v: row %d maps to %d, not a permutation", g, r, rx)
			}
			seen[rx] = true
			for j := range g.Cols() {
				if got, want := colZ[r*g.Cols()+j], colX[rx*g.Cols()+j]; got != want {
					t.Fatalf("%+v: Z's column matrix (%d, %d) = %v, X's row %d has %v", g, r, j, got, rx, want)
				}
			}
		}
	}
	for _, g := range []Geom{
		{C: 1, H: 8, W: 8, KH: 3, KW: 4, SH: 2, SW: 2, DH: 1, DW: 1, OH: 3, OW: 3}, // 3 is not a multiple of 2
		{C: 1, H: 8, W: 8, KH: 4, KW: 4, SH: 2, SW: 2, DH: 2, DW: 1, OH: 2, OW: 3}, // dilated
		{C: 1, H: 8, W: 8, KH: 3, KW: 3, SH: 1, SW: 1, DH: 1, DW: 1, OH: 6, OW: 6}, // stride 1 already
	} {
		if g.SpaceToDepthFits() {
			t.Errorf("%+v should not fit", g)
		}
	}
}
