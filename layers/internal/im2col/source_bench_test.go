package im2col

import (
	"fmt"
	"testing"
)

// BenchmarkSourcePackB packs whole column matrices of W4's 3×3 convolutions straight
// from the image, as the implicit products do (kc rows at a time, 1024 columns per
// panel), forward (Source) and for the weight gradient (TransposedSource); ns/row is
// per packed 32-float sliver row.
func BenchmarkSourcePackB(b *testing.B) {
	for _, c := range []struct{ ch, hw int }{{32, 128}, {64, 64}, {128, 32}} {
		g := Geom{C: c.ch, H: c.hw, W: c.hw, KH: 3, KW: 3, SH: 1, SW: 1, PadT: 1, PadL: 1, DH: 1, DW: 1, OH: c.hw, OW: c.hw}
		x := make([]float32, g.C*g.H*g.W)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		const kc, nc = 256, 1024
		dst := make([]float32, kc*nc)
		b.Run(fmt.Sprintf("fwd/%dx%d", c.ch, c.hw), func(b *testing.B) {
			s := Source[float32]{G: g, X: x}
			rows := 0
			for range b.N {
				for j0 := 0; j0 < g.Cols(); j0 += nc {
					for p0 := 0; p0 < g.Rows(); p0 += kc {
						k := min(kc, g.Rows()-p0)
						s.PackB(j0, p0, min(nc, g.Cols()-j0), k, 32, dst)
						rows += k * nc / 32
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
		})
		b.Run(fmt.Sprintf("dw/%dx%d", c.ch, c.hw), func(b *testing.B) {
			s := TransposedSource[float32]{G: g, X: x}
			rows := 0
			for range b.N {
				for j0 := 0; j0 < g.Rows(); j0 += nc {
					for p0 := 0; p0 < g.Cols(); p0 += kc {
						k := min(kc, g.Cols()-p0)
						s.PackB(j0, p0, min(nc, g.Rows()-j0), k, 32, dst)
						rows += k * ((min(nc, g.Rows()-j0) + 31) / 32)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
		})
	}
}
