package gemm

import (
	"errors"

	"golang.org/x/sys/cpu"
)

// bf16Missing says why GemmBF16 cannot run here (nil: it can). VPERMW and the
// masked 16-bit stores need AVX512BW besides AVX512_BF16 itself.
var bf16Missing = func() error {
	switch {
	case !cpu.X86.HasAVX512F || !cpu.X86.HasAVX512BW:
		return errors.New("the CPU (or OS) lacks AVX-512 (AVX512F and AVX512BW)")
	case !cpu.X86.HasAVX512BF16:
		return errors.New("the CPU lacks AVX512_BF16 (VDPBF16PS)")
	}
	return nil
}()

// bf16Kernel is the avx512 driver set-up with VDPBF16PS tiles: K counts pairs,
// so a 256-pair block of a 14-row sliver is the same 14 KiB as the float32
// kernel's, and the packing routines move pairs as 32-bit elements.
var bf16Kernel = avx512Kernel("bf16", 14, 32, 256, 336, 1024, bf16Tiles14x32)

// bf16KernelB is bf16Kernel reading op(B) = B (k×n, k even) as floats, with
// its leading dimension doubled so that "row" p is rows 2p and 2p+1: packing
// rounds and interleaves the pairs itself, so the large operand of a
// convolution (its column matrix) is read once instead of converted, written
// and read again. The bits are bf16Kernel's.
var bf16KernelB = func() *kernel[float32] {
	kn := *bf16Kernel
	kn.packB = packPairsB
	return &kn
}()

// packPairsB is packFunc for bf16KernelB (never transposed): columns
// [j0,j0+nc) of pairs [p0,p0+kc) of B, whose rows 2p, 2p+1 start at b[p·ld]
// and b[p·ld+ld/2], into slivers of 32 pairs, zero-padded.
func packPairsB(trans bool, b []float32, ld, j0, p0, nc, kc, nr int, dst []float32) {
	if trans || nr != 32 {
		panic("gemm: packPairsB takes B by rows in 32-column slivers")
	}
	h := ld / 2
	d32 := viewU32(dst)
	s := nc / 32
	if s > 0 {
		src := b[p0*ld+j0 : (p0+kc-1)*ld+h+j0+32*s]
		bf16PackRows32(&d32[0], &src[0], h, kc, s)
	}
	for ; s*32 < nc; s++ {
		d := d32[s*32*kc : (s+1)*32*kc]
		cols, c0 := min(32, nc-s*32), j0+s*32
		for p := range kc {
			r0 := b[(p0+p)*ld+c0:][:cols]
			r1 := b[(p0+p)*ld+h+c0:][:cols]
			bf16Pairs(&d[p*32], &r0[0], &r1[0], cols)
			clear(d[p*32+cols : p*32+32])
		}
	}
}
