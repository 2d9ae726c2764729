package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// matrixSource is a BSource that packs a plain row-major k×n matrix with the portable
// packB, so GemmSource can be checked against Gemm on the same operands.
type matrixSource[T Float] struct {
	b   []T
	ldb int
}

func (s matrixSource[T]) PackB(j0, p0, cols, kc, nr int, dst []T) {
	packB(false, s.b, s.ldb, j0, p0, cols, kc, nr, dst)
}

func (s matrixSource[T]) Finish(c []T, ldc, i0, rows, j0, cols int) {}

// TestGemmSourceMatchesGemm: with B from a source the product is Gemm's, bit for bit,
// at sizes that take both splits of the driver (by columns and by rows), K blocks and
// edge tiles, on one thread and two.
func TestGemmSourceMatchesGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][3]int{{32, 500, 288}, {256, 20, 300}, {13, 7, 5}, {64, 1024, 576}, {3, 33, 1}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, transA := range []bool{false, true} {
			for _, beta := range []float32{0, 1} {
				o := newOperands(rng, transA, false, m, n, k, 3, 1, beta)
				want := o.run(defaultKernel)
				for _, serial := range []bool{false, true} {
					got := append([]float32(nil), o.c...)
					GemmSource(serial, transA, m, n, k, o.alpha, o.a, o.lda, matrixSource[float32]{o.b, o.ldb}, o.beta, got, o.ldc)
					for i := range want {
						if got[i] != want[i] && !(got[i] != got[i] && want[i] != want[i]) {
							t.Fatalf("%v serial=%v: C[%d] = %v, Gemm gives %v", o, serial, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	// float64 takes the portable driver.
	a, b := make([]float64, 9*11), make([]float64, 11*40)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	want, got := make([]float64, 9*40), make([]float64, 9*40)
	Gemm(false, false, 9, 40, 11, 1, a, 11, b, 40, 0, want, 40)
	GemmSource(false, false, 9, 40, 11, 1, a, 11, matrixSource[float64]{b, 40}, 0, got, 40)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatal("float64 GemmSource differs from Gemm")
	}
}

// TestGatherSlivers checks both sliver gathers against their contract read literally:
// row r's lane l comes from base + its offset at tap t = (t0+r) mod taps under the
// lane's mask bit, zero elsewhere; the base moves by chStride on each wrap. The offset
// of lane l is offs[2t+l/16] + l%16 for GatherSliver32 (two runs) and idx[32t+l] for
// GatherSliverIdx32 (one index per lane).
func TestGatherSlivers(t *testing.T) {
	if runtime.GOARCH != "amd64" || !gatherSupported {
		t.Skip("the gathers need AVX-512 and the avx512 kernel")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, 12000)
	for i := range src {
		src[i] = float32(i) + 0.5
	}
	for _, tc := range []struct{ taps, t0, kc, chStride, start int }{
		{9, 0, 288, 300, 20}, {9, 4, 17, 300, 20}, {1, 0, 5, 50, 0}, {25, 24, 60, 40, 100}, {3, 2, 0, 7, 0}, {9, 7, 3, 40, 30},
	} {
		offs, idx := make([]int32, 2*tc.taps), make([]int32, 32*tc.taps)
		masks := make([]uint16, 2*tc.taps)
		for i := range offs {
			offs[i] = int32(rng.IntN(40)) - 10 // may start before the base
		}
		for i := range idx {
			idx[i] = int32(rng.IntN(60)) - 30
		}
		for i := range masks {
			masks[i] = uint16(rng.Uint32())
		}
		for name, at := range map[string]func(tap, l int) int{
			"GatherSliver32":    func(tap, l int) int { return int(offs[2*tap+l/16]) + l%16 },
			"GatherSliverIdx32": func(tap, l int) int { return int(idx[32*tap+l]) },
		} {
			m := append([]uint16(nil), masks...)
			for tap := range tc.taps { // keep every read lane inside src
				for l := range 32 {
					if tc.start+at(tap, l) < 0 {
						m[2*tap+l/16] &^= 1 << (l % 16)
					}
				}
			}
			dst := make([]float32, max(tc.kc, 1)*32)
			for i := range dst {
				dst[i] = -1
			}
			var ok bool
			if name == "GatherSliver32" {
				ok = GatherSliver32(dst, src, tc.start, offs, m, tc.taps, tc.t0, tc.kc, tc.chStride)
			} else {
				ok = GatherSliverIdx32(dst, src, tc.start, idx, m, tc.taps, tc.t0, tc.kc, tc.chStride)
			}
			if !ok {
				t.Fatalf("%s reports no support where gatherSupported is set", name)
			}
			base, tap := tc.start, tc.t0
			for r := range tc.kc {
				for l := range 32 {
					want := float32(0)
					if m[2*tap+l/16]&(1<<(l%16)) != 0 {
						want = src[base+at(tap, l)]
					}
					if got := dst[r*32+l]; got != want {
						t.Fatalf("%s %+v: row %d lane %d = %v, want %v", name, tc, r, l, got, want)
					}
				}
				if tap++; tap == tc.taps {
					tap, base = 0, base+tc.chStride
				}
			}
			if tc.kc == 0 && dst[0] != -1 {
				t.Fatalf("%s %+v: kc 0 wrote dst", name, tc)
			}
		}
	}
}

// TestTransposeGather16 checks the assembly against its contract: the transpose of 16
// masked runs at their offsets, each under its tap's mask, into rows dstStride apart.
func TestTransposeGather16(t *testing.T) {
	if runtime.GOARCH != "amd64" || !gatherSupported {
		t.Skip("TransposeGather16 needs AVX-512 and the avx512 kernel")
	}
	rng := rand.New(rand.NewPCG(5, 6))
	src := make([]float32, 600)
	for i := range src {
		src[i] = float32(i) + 0.25
	}
	const start, stride = 40, 37
	for trial := range 20 {
		var offs [16]int32
		var tapOf [16]uint8
		var tapMask [256]uint16
		for r := range 16 {
			offs[r] = int32(rng.IntN(520)) - 45
			tapOf[r] = uint8(rng.IntN(256))
			if trial == 0 {
				offs[r] = int32(r * 30)
			}
		}
		for i := range tapMask {
			tapMask[i] = uint16(rng.Uint32())
			if trial == 0 {
				tapMask[i] = 0xffff
			}
		}
		for r := range 16 {
			for l := range 16 {
				if start+int(offs[r])+l < 0 {
					tapMask[tapOf[r]] &^= 1 << l // lanes before src: never read
				}
			}
		}
		dst := make([]float32, 15*stride+16+5)
		for i := range dst {
			dst[i] = -1
		}
		TransposeGather16(dst, stride, src, start, &offs, &tapOf, &tapMask)
		for c := range 16 {
			for r := range 16 {
				want := float32(0)
				if tapMask[tapOf[r]]&(1<<c) != 0 {
					want = src[start+int(offs[r])+c]
				}
				if got := dst[c*stride+r]; got != want {
					t.Fatalf("trial %d: dst[%d][%d] = %v, want %v", trial, c, r, got, want)
				}
			}
			if c < 15 && dst[c*stride+16] != -1 {
				t.Fatalf("trial %d: wrote past lane 15 of row %d", trial, c)
			}
		}
	}
}

// finishingSource is a matrix source that counts how often Finish touched each element of
// C and squares what it finds there.
type finishingSource struct {
	matrixSource[float32] // its Finish is shadowed below
	mu                    sync.Mutex
	touched               []int
	n                     int
}

func (s *finishingSource) Finish(c []float32, ldc, i0, rows, j0, cols int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := i0; i < i0+rows; i++ {
		for j := j0; j < j0+cols; j++ {
			s.touched[i*s.n+j]++
			c[i*ldc+j] *= c[i*ldc+j]
		}
	}
}

// Finish runs exactly once on every element of C, after its sum is complete, in both
// splits of the driver and across K super-blocks.
func TestGemmSourceFinish(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, sz := range [][3]int{{32, 500, 288}, {256, 20, 300}, {13, 7, 5}, {40, 70, 3000}} {
		m, n, k := sz[0], sz[1], sz[2]
		o := newOperands(rng, false, false, m, n, k, 2, 1, 1)
		want := o.run(defaultKernel)
		for _, serial := range []bool{false, true} {
			got := append([]float32(nil), o.c...)
			src := &finishingSource{matrixSource: matrixSource[float32]{o.b, o.ldb}, touched: make([]int, m*n), n: n}
			GemmSource(serial, false, m, n, k, o.alpha, o.a, o.lda, src, o.beta, got, o.ldc)
			for i := range m {
				for j := range n {
					if src.touched[i*n+j] != 1 {
						t.Fatalf("%v: C[%d][%d] finished %d times", o, i, j, src.touched[i*n+j])
					}
					if w := want[i*o.ldc+j] * want[i*o.ldc+j]; got[i*o.ldc+j] != w {
						t.Fatalf("%v: C[%d][%d] = %v, want %v squared", o, i, j, got[i*o.ldc+j], want[i*o.ldc+j])
					}
				}
			}
		}
	}
}

// TestTransposeGatherIdx16: each element from its own offset, where its coordinates are
// inside the image, transposed.
func TestTransposeGatherIdx16(t *testing.T) {
	if runtime.GOARCH != "amd64" || !gatherSupported {
		t.Skip("TransposeGatherIdx16 needs AVX-512 and the avx512 kernel")
	}
	rng := rand.New(rand.NewPCG(13, 14))
	const h, w, start, stride = 9, 11, 5, 35
	src := make([]float32, start+3*h*w)
	for i := range src {
		src[i] = float32(i) + 0.75
	}
	for range 20 {
		var b IdxBlock16
		for l := range 16 {
			b.OH[l], b.OW[l] = int32(rng.IntN(h)), int32(rng.IntN(w))
			b.Pos[l] = b.OH[l]*w + b.OW[l]
		}
		for r := range 16 {
			b.DH[r], b.DW[r] = int32(rng.IntN(5)-2), int32(rng.IntN(5)-2)
			b.Rel[r] = int32(rng.IntN(3))*h*w + b.DH[r]*w + b.DW[r]
			if r == 15 {
				b.DH[r] = -1 << 20 // a row past the matrix: all zero
			}
		}
		dst := make([]float32, 15*stride+16)
		TransposeGatherIdx16(dst, stride, src, start, &b, h, w)
		for l := range 16 {
			for r := range 16 {
				ih, iw := b.OH[l]+b.DH[r], b.OW[l]+b.DW[r]
				want := float32(0)
				if ih >= 0 && ih < h && iw >= 0 && iw < w {
					want = src[start+int(b.Pos[l]+b.Rel[r])]
				}
				if got := dst[l*stride+r]; got != want {
					t.Fatalf("dst[%d][%d] = %v, want %v", l, r, got, want)
				}
			}
		}
	}
}

// With A packed beforehand the product is GemmSource's bit for bit, at sizes where
// GemmSource itself splits by rows (the packed product always splits by columns), with
// K blocks and edge tiles, one thread and two, one PackedA reused for several products.
func TestGemmSourcePackedMatchesGemmSource(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var p PackedA[float32]
	for _, sz := range [][3]int{{32, 500, 288}, {256, 20, 300}, {13, 7, 5}, {64, 1024, 576}, {3, 33, 1}, {40, 70, 3000}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, transA := range []bool{false, true} {
			for _, beta := range []float32{0, 1} {
				o := newOperands(rng, transA, false, m, n, k, 3, 1.5, beta)
				p.Pack(transA, m, k, o.a, o.lda)
				for _, serial := range []bool{false, true} {
					want := append([]float32(nil), o.c...)
					GemmSource(serial, transA, m, n, k, o.alpha, o.a, o.lda, matrixSource[float32]{o.b, o.ldb}, o.beta, want, o.ldc)
					got := append([]float32(nil), o.c...)
					GemmSourcePacked(serial, &p, n, o.alpha, matrixSource[float32]{o.b, o.ldb}, o.beta, got, o.ldc)
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
							t.Fatalf("%v serial=%v: C[%d] = %v, GemmSource gives %v", o, serial, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	// float64 (the portable kernel) too.
	var p64 PackedA[float64]
	m, n, k := 20, 90, 300
	a, b := make([]float64, m*k), make([]float64, k*n)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	p64.Pack(false, m, k, a, k)
	want, got := make([]float64, m*n), make([]float64, m*n)
	GemmSource(false, false, m, n, k, 1, a, k, matrixSource[float64]{b, n}, 0, want, n)
	GemmSourcePacked(false, &p64, n, 1, matrixSource[float64]{b, n}, 0, got, n)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("float64: C[%d] = %v, GemmSource gives %v", i, got[i], want[i])
		}
	}
}
