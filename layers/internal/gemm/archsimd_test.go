//go:build goexperiment.simd && amd64

package gemm

import "simd/archsimd"

// The comparison behind the choice of assembly (doc.go): the best tile that
// Go 1.26's simd/archsimd compiles without spilling, 6×32 with 12
// accumulators, next to the assembly tiles in BenchmarkTile. Run with
// GOEXPERIMENT=simd go test -bench Tile ./layers/internal/gemm.
func init() {
	if archsimd.X86.AVX512() {
		extraTiles = append(extraTiles, tileBench{"archsimd-6x32", 6, 32, archTile6x32})
	}
}

// archTile6x32 is the 6×32 tile written with archsimd; it walks the slivers
// by reslicing so that the loop has no bounds checks, and stores C (beta 0,
// alpha 1) only to keep the work observable.
func archTile6x32(kc int, a, b, c []float32, ldc int) {
	var c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51 archsimd.Float32x16
	a, b = a[:6*kc], b[:32*kc]
	for len(a) >= 6 && len(b) >= 32 {
		b0 := archsimd.LoadFloat32x16((*[16]float32)(b[0:16]))
		b1 := archsimd.LoadFloat32x16((*[16]float32)(b[16:32]))
		x := archsimd.BroadcastFloat32x16(a[0])
		c00, c01 = b0.MulAdd(x, c00), b1.MulAdd(x, c01)
		x = archsimd.BroadcastFloat32x16(a[1])
		c10, c11 = b0.MulAdd(x, c10), b1.MulAdd(x, c11)
		x = archsimd.BroadcastFloat32x16(a[2])
		c20, c21 = b0.MulAdd(x, c20), b1.MulAdd(x, c21)
		x = archsimd.BroadcastFloat32x16(a[3])
		c30, c31 = b0.MulAdd(x, c30), b1.MulAdd(x, c31)
		x = archsimd.BroadcastFloat32x16(a[4])
		c40, c41 = b0.MulAdd(x, c40), b1.MulAdd(x, c41)
		x = archsimd.BroadcastFloat32x16(a[5])
		c50, c51 = b0.MulAdd(x, c50), b1.MulAdd(x, c51)
		a, b = a[6:], b[32:]
	}
	for i, v := range [...]archsimd.Float32x16{c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51} {
		v.StoreSlice(c[i/2*ldc+i%2*16:])
	}
}
