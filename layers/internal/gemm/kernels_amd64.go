package gemm

import "golang.org/x/sys/cpu"

// avx512Func is the signature of the generated AVX-512 kernels: the last
// 16-lane vector of each C row is read and written under mask.
type avx512Func func(kc int, a, b, c *float32, ldc int, alpha, beta float32, mask uint16)

// avx512Kernel wraps a generated table of AVX-512 kernels, indexed
// [rows][vectors], for mr×nr tiles; edge tiles run in registers under a mask.
func avx512Kernel(name string, mr, nr, kc, mc, nc int, tab [][]avx512Func) *kernel[float32] {
	full := tab[mr][nr/16]
	return &kernel[float32]{
		name: name, mr: mr, nr: nr, kc: kc, mc: mc, nc: nc, maxShared: defaultMaxShared,
		packA: packA512, packB: packB512, balanced: true,
		tile: func(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
			// Bounds checks here keep the assembly inside the slices.
			_, _, _ = a[kc*mr-1], b[kc*nr-1], c[(mr-1)*ldc+nr-1]
			full(kc, &a[0], &b[0], &c[0], ldc, alpha, beta, 0xffff)
		},
		edge: func(rows, cols, kc int, a, b, c []float32, ldc int, alpha, beta float32) {
			_, _, _ = a[kc*mr-1], b[kc*nr-1], c[(rows-1)*ldc+cols-1]
			vecs := (cols + 15) / 16
			mask := uint16(1<<(cols-16*(vecs-1)) - 1)
			tab[rows][vecs](kc, &a[0], &b[0], &c[0], ldc, alpha, beta, mask)
		},
	}
}

func avx2Kernel() *kernel[float32] {
	const mr, nr = 6, 16
	return &kernel[float32]{
		name: "avx2", mr: mr, nr: nr, kc: 256, mc: 144, nc: 512, maxShared: defaultMaxShared,
		tile: func(kc int, a, b, c []float32, ldc int, alpha, beta float32) {
			_, _, _ = a[kc*mr-1], b[kc*nr-1], c[(mr-1)*ldc+nr-1]
			avx2Tile6x16(kc, &a[0], &b[0], &c[0], ldc, alpha, beta)
		},
	}
}

// kernelList is every kernel for this architecture, fastest first.
func kernelList() []*Kernel {
	no512, no2 := "", ""
	if !cpu.X86.HasAVX512F {
		no512 = "the CPU (or OS) lacks AVX-512F"
	}
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		no2 = "the CPU lacks AVX2 or FMA"
	}
	return []*Kernel{
		{name: "avx512", why: no512, k32: avx512Kernel("avx512", 14, 32, 256, 336, 1024, avx512Tiles14x32)},
		{name: "avx2", why: no2, k32: avx2Kernel()},
		{name: "portable", k32: portableKernel[float32]("portable")},
		{name: "naive"},
	}
}

// lanes is a mask of the first n of 16 lanes.
func lanes(n int) uint16 { return uint16(1<<min(max(n, 0), 16) - 1) }

// packA512 is packA with AVX-512 transposes and copies (w ≤ 16).
func packA512(trans bool, a []float32, lda, i0, p0, mc, kc, mr int, dst []float32) {
	for s := 0; s*mr < mc; s++ {
		d := dst[s*mr*kc : (s+1)*mr*kc]
		rows := min(mr, mc-s*mr)
		r0 := i0 + s*mr
		if trans {
			// op(A)(i,p) = a[p·lda+i]: kc runs of rows values.
			src := a[p0*lda+r0 : (p0+kc-1)*lda+r0+rows]
			copy16(&d[0], mr, &src[0], lda, kc, lanes(rows), lanes(mr))
			continue
		}
		// op(A)(i,p) = a[i·lda+p]: transpose 16 values of k at a time.
		for pb := 0; pb < kc; pb += 16 {
			cols := min(16, kc-pb)
			src := a[r0*lda+p0+pb : (r0+rows-1)*lda+p0+pb+cols]
			transpose16(&d[pb*mr], mr, &src[0], lda, rows, cols, lanes(mr), lanes(cols))
		}
	}
}

// packB512 is packB with AVX-512 copies and transposes (w a multiple of 16).
func packB512(trans bool, b []float32, ldb, j0, p0, nc, kc, nr int, dst []float32) {
	s := 0
	if !trans && nr == 32 {
		// Whole slivers row by row, reading B in order; the rest below.
		if s = nc / 32; s > 0 {
			src := b[p0*ldb+j0 : (p0+kc-1)*ldb+j0+32*s]
			packRows32(&dst[0], &src[0], ldb, kc, s)
		}
	}
	for ; s*nr < nc; s++ {
		d := dst[s*nr*kc : (s+1)*nr*kc]
		cols := min(nr, nc-s*nr)
		for v := 0; v < nr; v += 16 {
			w := min(16, cols-v) // columns of op(B) in this vector; ≤ 0: padding
			c0 := j0 + s*nr + v
			if !trans {
				// op(B)(p,j) = b[p·ldb+j]: kc runs of w values.
				src, ld := b[:1], 0 // padding: nothing is read
				if w > 0 {
					src, ld = b[p0*ldb+c0:(p0+kc-1)*ldb+c0+w], ldb
				}
				copy16(&d[v], nr, &src[0], ld, kc, lanes(w), 0xffff)
				continue
			}
			// op(B)(p,j) = b[j·ldb+p]: transpose 16 values of k at a time.
			for pb := 0; pb < kc; pb += 16 {
				n := min(16, kc-pb)
				src := b[:1]
				if w > 0 {
					src = b[c0*ldb+p0+pb : (c0+w-1)*ldb+p0+pb+n]
				}
				transpose16(&d[pb*nr+v], nr, &src[0], ldb, max(w, 0), n, 0xffff, lanes(n))
			}
		}
	}
}

// gatherSupported says whether GatherSliver32 runs here: AVX-512, and the 32-column
// AVX-512 kernel in use for float32 products.
var gatherSupported = cpu.X86.HasAVX512F && defaultKernel.k32 != nil && defaultKernel.k32.nr == 32
