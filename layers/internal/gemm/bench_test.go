package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the square reference product; the three products of a 3×3
// convolution with 64 input and 64 output channels on a 64×64 image (W1, per
// image): forward W·col, input gradient Wᵀ·dY, weight gradient dY·colᵀ; the
// column product of a 4×4 stride-2 transposed convolution 64→64 on 32×32
// (W3: Wᵀ·x, then col2im); the first convolution of fcn16s-tiny (3→32 on
// 128×128, K = 27); and a small product.
var benchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"1024cubed/NN", false, false, 1024, 1024, 1024},
	{"conv-fwd/NN", false, false, 64, 4096, 576},
	{"conv-dx/TN", true, false, 576, 4096, 64},
	{"conv-dw/NT", false, true, 64, 576, 4096},
	{"deconv-fwd/TN", true, false, 1024, 1024, 64},
	{"conv1-fwd/NN", false, false, 32, 16384, 27},
	{"small/NN", false, false, 64, 64, 64},
}

// BenchmarkGemm reports GFLOP/s for every kernel this CPU runs; use -cpu 1,2
// for the thread counts. The naive reference only runs the small shapes.
func BenchmarkGemm(b *testing.B) {
	for _, s := range benchShapes {
		for _, name := range Kernels() {
			kern, err := Lookup(name)
			if err != nil {
				continue
			}
			if name == "naive" && s.m*s.n*s.k > 1<<24 {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", s.name, name), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				o := newOperands(rng, s.transA, s.transB, s.m, s.n, s.k, 0, 1, 0)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					GemmWith(kern, s.transA, s.transB, s.m, s.n, s.k, 1, o.a, o.lda, o.b, o.ldb, 0, o.c, o.ldc)
				}
				b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		if BF16Supported() != nil {
			continue
		}
		// bf16 operands (GemmBF16), the conversion to pairs included.
		b.Run(s.name+"/bf16", func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			o := newOperands(rng, s.transA, s.transB, s.m, s.n, s.k, 0, 1, 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				GemmBF16(s.transA, s.transB, s.m, s.n, s.k, 1, o.a, o.lda, o.b, o.ldb, 0, o.c, o.ldc)
			}
			b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// tileBench is one register tile timed with its packed slivers in L1.
type tileBench struct {
	name   string
	mr, nr int
	run    func(kc int, a, b, c []float32, ldc int)
}

// tileBenches lists the micro-kernels this CPU runs; archsimd_test.go adds
// an archsimd tile when built with GOEXPERIMENT=simd.
func tileBenches() []tileBench {
	var tb []tileBench
	for _, name := range Kernels() {
		kern, err := Lookup(name)
		if err != nil || kern.k32 == nil {
			continue
		}
		kn := kern.k32
		tb = append(tb, tileBench{name, kn.mr, kn.nr, func(kc int, a, b, c []float32, ldc int) {
			kn.tile(kc, a, b, c, ldc, 1, 0)
		}})
	}
	return append(tb, extraTiles...)
}

var extraTiles []tileBench

// BenchmarkTile measures the micro-kernels alone (k = 256, everything in L1):
// the ceiling the blocked product can approach.
func BenchmarkTile(b *testing.B) {
	const kc = 256
	for _, tb := range tileBenches() {
		b.Run(tb.name, func(b *testing.B) {
			a, bb, c := grow[float32](nil, kc*tb.mr), grow[float32](nil, kc*tb.nr), grow[float32](nil, tb.mr*tb.nr)
			for i := 0; i < b.N; i++ {
				tb.run(kc, a, bb, c, tb.nr)
			}
			b.ReportMetric(2*float64(kc*tb.mr*tb.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkTilePanel measures the micro-kernels as the blocked product runs them: one
// packed A sliver in L1 against a kc×nc panel of packed B (1 MiB, in L2), sliver after
// sliver, into a C block of mr×nc.
func BenchmarkTilePanel(b *testing.B) {
	const kc, nc = 256, 1024
	for _, tb := range tileBenches() {
		b.Run(tb.name, func(b *testing.B) {
			a, bb, c := grow[float32](nil, kc*tb.mr), grow[float32](nil, kc*nc), grow[float32](nil, tb.mr*nc)
			for i := 0; i < b.N; i++ {
				for j := 0; j < nc; j += tb.nr {
					tb.run(kc, a, bb[j*kc:], c[j:], nc)
				}
			}
			b.ReportMetric(2*float64(kc*tb.mr*nc)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
