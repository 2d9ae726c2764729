package gemm

import (
	"unsafe"

	"github.com/fcn-dev/fcn/internal/par"
)

//go:generate go run ./asm/genbf16.go -out kernel_bf16_amd64.s -stubs kernel_bf16_amd64.go

// GemmBF16 is Gemm for float32 with bf16 operands: every element of op(A) and
// op(B) is rounded to bfloat16 (round to nearest even, as PyTorch's
// conversion; fp32 denormals become zero, as AVX512_BF16 treats them), pairs
// along k are multiplied and accumulated in fp32 with VDPBF16PS, and C,
// alpha and beta stay fp32. Within each K block (see the driver) an element
// of C is the fp32 sum, pair after pair, of the odd product then the even one,
// so results are identical bit for bit whatever GOMAXPROCS is. It panics when
// BF16Supported reports an error: callers check it once, up front.
func GemmBF16(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmBF16(false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmBF16Serial is GemmBF16 on the calling goroutine alone (bit-identical to it).
func GemmBF16Serial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemmBF16(true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// BF16Supported returns nil when GemmBF16 can run here, else an error that
// names the missing CPU feature.
func BF16Supported() error { return bf16Missing }

func gemmBF16(serial, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if bf16Missing != nil {
		panic("gemm: GemmBF16: " + bf16Missing.Error())
	}
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	kp := (k + 1) / 2
	cv := bf16Bufs.get()
	// The pair matrices: op(A)'s pairs as an m×kp matrix (kp×m if transA), op(B)'s
	// as kp×n (n×kp if transB), one uint32 per pair, read by the float32 driver
	// as opaque 32-bit elements (it only moves them).
	cv.a = growU32(cv.a, m*kp)
	cv.toPairs(serial, transA, m, k, a, lda, cv.a)
	lda2 := kp
	if transA {
		lda2 = m
	}
	kern, bp, ldb2 := bf16KernelB, b, 2*ldb // B by rows, k even: packing converts it
	if transB || k%2 == 1 {
		kern, ldb2 = bf16Kernel, n
		if transB {
			ldb2 = kp
		}
		cv.b = growU32(cv.b, kp*n)
		cv.toPairs(serial, !transB, n, k, b, ldb, cv.b)
		bp = view32(cv.b)
	}
	run(kern, serial, transA, transB, m, n, kp, alpha, view32(cv.a), lda2, bp, ldb2, beta, c, ldc)
	cv.src = nil
	bf16Bufs.put(cv)
}

// bf16Conv converts one operand to bf16 pairs, a run of rows per task.
type bf16Conv struct {
	a, b []uint32
	// The conversion in progress (Do):
	src           []float32
	ld            int
	dst           []uint32
	kMajor        bool // src is k×r (pairs interleave two rows), else r×k
	r, k, kp, per int
}

var bf16Bufs freeList[bf16Conv]

// toPairs fills dst with the pairs of an operand of r rows (columns, for B) and
// k elements along the reduction: src is r×k (kMajor false: dst is r×kp, each
// row's pairs are adjacent elements) or k×r (kMajor true: dst is kp×r, pair p of
// column j is (src[2p][j], src[2p+1][j])). An odd k pads the last pair with zero.
func (cv *bf16Conv) toPairs(serial, kMajor bool, r, k int, src []float32, ld int, dst []uint32) {
	cv.src, cv.ld, cv.dst, cv.kMajor, cv.r, cv.k, cv.kp = src, ld, dst, kMajor, r, k, (k+1)/2
	rows := r // dst rows
	if kMajor {
		rows = cv.kp
	}
	// About 64 Ki elements a task: conversion runs at memory speed, and
	// small operands are not worth waking a helper for.
	per := max(1, (1<<16)/max(1, 2*len(dst)/max(rows, 1)))
	cv.per = per
	tasks := (rows + per - 1) / per
	if serial || tasks == 1 {
		for t := range tasks {
			cv.Do(t)
		}
		return
	}
	par.Run(tasks, cv)
}

// Do converts dst rows [t·per, (t+1)·per).
func (cv *bf16Conv) Do(t int) {
	if cv.kMajor {
		for p := t * cv.per; p < min((t+1)*cv.per, cv.kp); p++ {
			r0 := cv.src[2*p*cv.ld:][:cv.r]
			d := cv.dst[p*cv.r:][:cv.r]
			if 2*p+1 < cv.k {
				r1 := cv.src[(2*p+1)*cv.ld:][:cv.r]
				bf16Pairs(&d[0], &r0[0], &r1[0], cv.r)
			} else {
				bf16Pairs(&d[0], &r0[0], nil, cv.r)
			}
		}
		return
	}
	for i := t * cv.per; i < min((t+1)*cv.per, cv.r); i++ {
		s := cv.src[i*cv.ld:][:cv.k]
		d := cv.dst[i*cv.kp:][:cv.kp]
		bf16Row(halves(d), &s[0], cv.k)
		if cv.k%2 == 1 {
			d[cv.kp-1] &= 0xffff // the padding half
		}
	}
}

// growU32 is grow for uint32 (64-byte aligned).
func growU32(s []uint32, n int) []uint32 {
	if cap(s) >= n {
		return s[:n]
	}
	return viewU32(grow[float32](nil, n))
}

func view32(s []uint32) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

func viewU32(s []float32) []uint32 {
	return unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// halves is the first element of s as 16-bit halves, low half first.
func halves(s []uint32) *uint16 { return (*uint16)(unsafe.Pointer(&s[0])) }
