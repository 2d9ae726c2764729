package im2col

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fcn-dev/fcn/layers/internal/gemm"
)

// TestSourcePacksIm2Col: a product with B packed by Source equals, bit for bit, the
// same product on the column matrix Im2Col writes, for geometries that take the
// gathered slivers (stride 1, rows of window positions a multiple of 16 wide) and
// those packed element by element (odd widths, stride 2, dilation, negative padding),
// in float32 and float64.
func TestSourcePacksIm2Col(t *testing.T) {
	geoms := []Geom{
		{C: 3, H: 32, W: 32, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadL: 1, DH: 1, DW: 1},
		{C: 5, H: 16, W: 16, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadL: 1, DH: 1, DW: 1},
		{C: 2, H: 9, W: 48, KH: 5, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 1, DH: 1, DW: 1},
		{C: 4, H: 7, W: 5, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadL: 1, DH: 1, DW: 1},
		{C: 3, H: 11, W: 13, KH: 3, KW: 3, SH: 2, SW: 2, PadT: 1, PadL: 1, DH: 1, DW: 1},
		{C: 2, H: 20, W: 36, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 2, PadL: 2, DH: 2, DW: 2},
		{C: 2, H: 10, W: 40, KH: 2, KW: 4, SH: 2, SW: 1, PadT: 0, PadL: -1, DH: 1, DW: 1},
		{C: 40, H: 16, W: 32, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadL: 1, DH: 1, DW: 1}, // K > one K block
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, g := range geoms {
		g.OH = OutSize(g.H, g.KH, g.SH, max(g.PadT, 0), g.DH)
		g.OW = OutSize(g.W, g.KW, g.SW, max(g.PadL, 0), g.DW)
		if g.PadL < 0 {
			g.OW = (g.W+2*g.PadL-g.KW)/g.SW + 1
		}
		t.Run(fmt.Sprintf("%+v", g), func(t *testing.T) {
			checkSource[float32](t, g, rng)
			checkSource[float64](t, g, rng)
		})
	}
}

func checkSource[T Float](t *testing.T, g Geom, rng *rand.Rand) {
	m, n, k := 19, g.Cols(), g.Rows()
	x, w := make([]T, g.C*g.H*g.W), make([]T, m*k)
	for i := range x {
		x[i] = T(rng.NormFloat64())
	}
	for i := range w {
		w[i] = T(rng.NormFloat64())
	}
	col := make([]T, k*n)
	Im2Col(g, x, col)
	want, got := make([]T, m*n), make([]T, m*n)
	gemm.Gemm(false, false, m, n, k, 1, w, k, col, n, 0, want, n)
	for _, serial := range []bool{false, true} {
		gemm.GemmSource(serial, false, m, n, k, 1, w, k, &Source[T]{G: g, X: x}, 0, got, n)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%T serial=%v: C[%d] = %v, with Im2Col %v", got[0], serial, i, got[i], want[i])
			}
		}
	}
	// The transposed source: dY·im2col(x)ᵀ as a weight gradient takes it, the
	// reduction over window positions (n of them), k outputs per row.
	dy := make([]T, m*n)
	for i := range dy {
		dy[i] = T(rng.NormFloat64())
	}
	wantT, gotT := make([]T, m*k), make([]T, m*k)
	gemm.Gemm(false, true, m, k, n, 1, dy, n, col, n, 0, wantT, k)
	for _, serial := range []bool{false, true} {
		gemm.GemmSource(serial, false, m, k, n, 1, dy, n, &TransposedSource[T]{G: g, X: x}, 0, gotT, k)
		for i := range wantT {
			if gotT[i] != wantT[i] {
				t.Fatalf("%T serial=%v: transposed C[%d] = %v, with Im2Col %v", gotT[0], serial, i, gotT[i], wantT[i])
			}
		}
	}
}
