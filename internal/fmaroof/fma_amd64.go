package fmaroof

import "golang.org/x/sys/cpu"

// fmaLoop512 runs n iterations of 16 independent AVX-512 fused multiply-adds (1·1 added
// to 16 accumulators of 16 lanes) and returns lane 0 of their sum, 16·n.
func fmaLoop512(n int) float32

// fmaLoop256 is the AVX2 version: 12 accumulators of 8 lanes; it returns 12·n.
func fmaLoop256(n int) float32

func pickLoop() (loop, bool) {
	switch {
	case cpu.X86.HasAVX512F:
		return loop{isa: "avx512", run: fmaLoop512, flopsPerIter: 16 * 16 * 2, lanesSum: 16}, true
	case cpu.X86.HasAVX2 && cpu.X86.HasFMA:
		return loop{isa: "avx2", run: fmaLoop256, flopsPerIter: 12 * 8 * 2, lanesSum: 12}, true
	}
	return loop{}, false
}
