//go:build ignore

// Command gen writes fcn's GEMM micro-kernels in Go assembly with avo
// (github.com/mmcloughlin/avo). Run it through `go generate` in the gemm
// package; it writes kernel_amd64.s and the Go declarations in
// kernel_amd64.go.
//
// Every kernel computes one register tile of C from packed panels:
//
//	C[i][j] = alpha·Σ_p a[p·mr+i]·b[p·nr+j] + beta·C[i][j]    (beta == 0: C is not read)
//
// for i < rows, j < nr (the last 16-lane vector of each row masked for the
// AVX-512 kernels). The sum runs over p in order with one fused multiply-add
// per step, so every lane of every variant (full or edge) does the same
// arithmetic: a C element's bits do not depend on which variant computed it.
package main

import (
	"flag"
	"fmt"
	"go/format"
	"os"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// unroll is the number of k steps per loop iteration.
const unroll = 4

func addr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

func zmm(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

func ymm(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// avx512 writes a kernel for rows×(16·nvec) tiles (mr is the packed A sliver
// width, rows ≤ mr). The last vector of each C row is loaded and stored under
// the mask argument; full tiles pass 0xffff.
func avx512(name string, mr, nr, rows, nvec int) {
	TEXT(name, NOSPLIT, "func(kc int, a, b, c *float32, ldc int, alpha, beta float32, mask uint16)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %d×%d tile from %d×%d packed slivers with AVX-512.", name, rows, 16*nvec, mr, nr))

	nacc := rows * nvec
	acc := func(i, v int) VecPhysical { return zmm(i*nvec + v) }
	bv := func(v int) VecPhysical { return zmm(nacc + v) }
	// The remaining registers rotate as broadcast targets so consecutive
	// rows do not wait on one register.
	nbc := 32 - nacc - nvec
	bc := func(i int) VecPhysical { return zmm(nacc + nvec + i%nbc) }

	MOVQ(addr("kc"), RCX)
	MOVQ(addr("a"), RAX)
	MOVQ(addr("b"), RBX)
	MOVQ(addr("c"), RDI)
	MOVQ(addr("ldc"), RSI)
	SHLQ(Imm(2), RSI)
	MOVWLZX(addr("mask"), EDX)
	KMOVW(EDX, K1)

	// Pull the C tile towards L1 while the products are computed.
	MOVQ(RDI, R8)
	for i := 0; i < rows; i++ {
		PREFETCHT0(Mem{Base: R8})
		PREFETCHT0(Mem{Base: R8, Disp: 64*nvec - 4})
		if i < rows-1 {
			ADDQ(RSI, R8)
		}
	}

	for i := 0; i < nacc; i++ {
		VPXORD(zmm(i), zmm(i), zmm(i))
	}
	step := func(s int) {
		for v := 0; v < nvec; v++ {
			VMOVUPS(Mem{Base: RBX, Disp: 4 * (s*nr + 16*v)}, bv(v))
		}
		for i := 0; i < rows; i++ {
			VBROADCASTSS(Mem{Base: RAX, Disp: 4 * (s*mr + i)}, bc(i))
			for v := 0; v < nvec; v++ {
				VFMADD231PS(bv(v), bc(i), acc(i, v))
			}
		}
	}
	CMPQ(RCX, Imm(unroll))
	JL(LabelRef("tail"))
	Label("loop")
	for s := 0; s < unroll; s++ {
		step(s)
	}
	ADDQ(U32(4*unroll*mr), RAX)
	ADDQ(U32(4*unroll*nr), RBX)
	SUBQ(Imm(unroll), RCX)
	CMPQ(RCX, Imm(unroll))
	JGE(LabelRef("loop"))
	Label("tail")
	TESTQ(RCX, RCX)
	JE(LabelRef("store"))
	Label("tail1")
	step(0)
	ADDQ(U32(4*mr), RAX)
	ADDQ(U32(4*nr), RBX)
	DECQ(RCX)
	JNE(LabelRef("tail1"))

	Label("store")
	alpha, beta := zmm(30), zmm(31)
	if nacc >= 30 {
		// Only when every accumulator is live: reuse B registers.
		alpha, beta = bv(0), bv(1%nvec)
		if nvec < 2 {
			panic("too many accumulators")
		}
	}
	VBROADCASTSS(addr("alpha"), alpha)
	MOVL(addr("beta"), EDX)
	ANDL(U32(0x7fffffff), EDX)
	JNE(LabelRef("accumulate"))
	// beta == 0: C is overwritten and never read, so NaN in C is ignored.
	for i := 0; i < rows; i++ {
		for v := 0; v < nvec; v++ {
			VMULPS(alpha, acc(i, v), acc(i, v))
			m := Mem{Base: RDI, Disp: 64 * v}
			if v == nvec-1 {
				VMOVUPS(acc(i, v), K1, m)
			} else {
				VMOVUPS(acc(i, v), m)
			}
		}
		if i < rows-1 {
			ADDQ(RSI, RDI)
		}
	}
	VZEROUPPER()
	RET()

	Label("accumulate")
	VBROADCASTSS(addr("beta"), beta)
	for i := 0; i < rows; i++ {
		for v := 0; v < nvec; v++ {
			VMULPS(alpha, acc(i, v), acc(i, v))
			m := Mem{Base: RDI, Disp: 64 * v}
			if v == nvec-1 {
				VFMADD231PS(m, beta, K1, acc(i, v))
				VMOVUPS(acc(i, v), K1, m)
			} else {
				VFMADD231PS(m, beta, acc(i, v))
				VMOVUPS(acc(i, v), m)
			}
		}
		if i < rows-1 {
			ADDQ(RSI, RDI)
		}
	}
	VZEROUPPER()
	RET()
}

// avx2 writes the full mr×(8·nvec) kernel for AVX2+FMA; edge tiles go
// through a scratch tile in Go.
func avx2(name string, mr, nvec int) {
	nr := 8 * nvec
	TEXT(name, NOSPLIT, "func(kc int, a, b, c *float32, ldc int, alpha, beta float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %d×%d tile with AVX2 and FMA.", name, mr, nr))
	nacc := mr * nvec
	acc := func(i, v int) VecPhysical { return ymm(i*nvec + v) }
	bv := func(v int) VecPhysical { return ymm(nacc + v) }
	nbc := 16 - nacc - nvec
	bc := func(i int) VecPhysical { return ymm(nacc + nvec + i%nbc) }

	MOVQ(addr("kc"), RCX)
	MOVQ(addr("a"), RAX)
	MOVQ(addr("b"), RBX)
	MOVQ(addr("c"), RDI)
	MOVQ(addr("ldc"), RSI)
	SHLQ(Imm(2), RSI)
	MOVQ(RDI, R8)
	for i := 0; i < mr; i++ {
		PREFETCHT0(Mem{Base: R8})
		PREFETCHT0(Mem{Base: R8, Disp: 4*nr - 4})
		if i < mr-1 {
			ADDQ(RSI, R8)
		}
	}
	for i := 0; i < nacc; i++ {
		VXORPS(ymm(i), ymm(i), ymm(i))
	}
	step := func(s int) {
		for v := 0; v < nvec; v++ {
			VMOVUPS(Mem{Base: RBX, Disp: 4 * (s*nr + 8*v)}, bv(v))
		}
		for i := 0; i < mr; i++ {
			VBROADCASTSS(Mem{Base: RAX, Disp: 4 * (s*mr + i)}, bc(i))
			for v := 0; v < nvec; v++ {
				VFMADD231PS(bv(v), bc(i), acc(i, v))
			}
		}
	}
	CMPQ(RCX, Imm(unroll))
	JL(LabelRef("tail"))
	Label("loop")
	for s := 0; s < unroll; s++ {
		step(s)
	}
	ADDQ(U32(4*unroll*mr), RAX)
	ADDQ(U32(4*unroll*nr), RBX)
	SUBQ(Imm(unroll), RCX)
	CMPQ(RCX, Imm(unroll))
	JGE(LabelRef("loop"))
	Label("tail")
	TESTQ(RCX, RCX)
	JE(LabelRef("store"))
	Label("tail1")
	step(0)
	ADDQ(U32(4*mr), RAX)
	ADDQ(U32(4*nr), RBX)
	DECQ(RCX)
	JNE(LabelRef("tail1"))

	Label("store")
	alpha, beta := ymm(14), ymm(15)
	VBROADCASTSS(addr("alpha"), alpha)
	MOVL(addr("beta"), EDX)
	ANDL(U32(0x7fffffff), EDX)
	JNE(LabelRef("accumulate"))
	for i := 0; i < mr; i++ {
		for v := 0; v < nvec; v++ {
			VMULPS(alpha, acc(i, v), acc(i, v))
			VMOVUPS(acc(i, v), Mem{Base: RDI, Disp: 32 * v})
		}
		if i < mr-1 {
			ADDQ(RSI, RDI)
		}
	}
	VZEROUPPER()
	RET()
	Label("accumulate")
	VBROADCASTSS(addr("beta"), beta)
	for i := 0; i < mr; i++ {
		for v := 0; v < nvec; v++ {
			m := Mem{Base: RDI, Disp: 32 * v}
			VMULPS(alpha, acc(i, v), acc(i, v))
			VFMADD231PS(m, beta, acc(i, v))
			VMOVUPS(acc(i, v), m)
		}
		if i < mr-1 {
			ADDQ(RSI, RDI)
		}
	}
	VZEROUPPER()
	RET()
}

// transposeRegs transposes the 16×16 block of floats in Z0–Z15 (row i in Zi) in
// place, with Z16–Z31 as scratch: pairs of rows interleaved, then pairs of pairs, then
// 128-bit lanes twice.
func transposeRegs() {
	r := func(i int) VecPhysical { return zmm(i) }
	t := func(i int) VecPhysical { return zmm(16 + i) }
	for i := 0; i < 8; i++ {
		VUNPCKLPS(r(2*i+1), r(2*i), t(2*i))
		VUNPCKHPS(r(2*i+1), r(2*i), t(2*i+1))
	}
	for g := 0; g < 4; g++ {
		VUNPCKLPD(t(4*g+2), t(4*g), r(4*g))
		VUNPCKHPD(t(4*g+2), t(4*g), r(4*g+1))
		VUNPCKLPD(t(4*g+3), t(4*g+1), r(4*g+2))
		VUNPCKHPD(t(4*g+3), t(4*g+1), r(4*g+3))
	}
	for q := 0; q < 4; q++ {
		VSHUFF32X4(U8(0x88), r(4+q), r(q), t(q))
		VSHUFF32X4(U8(0xdd), r(4+q), r(q), t(4+q))
		VSHUFF32X4(U8(0x88), r(12+q), r(8+q), t(8+q))
		VSHUFF32X4(U8(0xdd), r(12+q), r(8+q), t(12+q))
	}
	for q := 0; q < 4; q++ {
		VSHUFF32X4(U8(0x88), t(8+q), t(q), r(q))
		VSHUFF32X4(U8(0x88), t(12+q), t(4+q), r(4+q))
		VSHUFF32X4(U8(0xdd), t(8+q), t(q), r(8+q))
		VSHUFF32X4(U8(0xdd), t(12+q), t(4+q), r(12+q))
	}
}

// transpose16 writes the transpose of a rows×cols block (both ≤ 16) of
// 32-bit values: dst[c·dstStride+r] = src[r·srcStride+c], lanes r ≥ rows of
// each output row being zero. Only the lanes in rowMask are stored and only
// the cols first output rows; colMask = 1<<cols - 1 limits the loads.
func transpose16() {
	TEXT("transpose16", NOSPLIT, "func(dst *float32, dstStride int, src *float32, srcStride int, rows, cols int, rowMask, colMask uint16)")
	Pragma("noescape")
	Doc("transpose16 transposes a block of up to 16×16 floats with AVX-512 (see gen.go).")
	MOVQ(addr("dst"), RDI)
	MOVQ(addr("dstStride"), R8)
	SHLQ(Imm(2), R8)
	MOVQ(addr("src"), RSI)
	MOVQ(addr("srcStride"), R9)
	SHLQ(Imm(2), R9)
	MOVQ(addr("rows"), R10)
	MOVQ(addr("cols"), R11)
	MOVWLZX(addr("rowMask"), EDX)
	KMOVW(EDX, K2)
	MOVWLZX(addr("colMask"), EDX)
	KMOVW(EDX, K1)
	r := func(i int) VecPhysical { return zmm(i) }
	for i := 0; i < 16; i++ {
		CMPQ(R10, U8(i))
		JLE(LabelRef(fmt.Sprintf("zero%d", i)))
		VMOVUPS_Z(Mem{Base: RSI}, K1, r(i))
		if i < 15 {
			ADDQ(R9, RSI)
		}
	}
	JMP(LabelRef("transpose"))
	for i := 0; i < 16; i++ {
		Label(fmt.Sprintf("zero%d", i))
		VPXORD(r(i), r(i), r(i))
	}
	Label("transpose")
	// Interleave pairs of rows, then pairs of pairs, then 128-bit lanes twice.
	transposeRegs()
	for c := 0; c < 16; c++ {
		CMPQ(R11, U8(c))
		JLE(LabelRef("done"))
		VMOVUPS(r(c), K2, Mem{Base: RDI})
		if c < 15 {
			ADDQ(R8, RDI)
		}
	}
	Label("done")
	VZEROUPPER()
	RET()
}

// copy16 copies rows rows of up to 16 floats: the lanes in loadMask are read
// (the others are zero) and the lanes in storeMask written.
func copy16() {
	TEXT("copy16", NOSPLIT, "func(dst *float32, dstStride int, src *float32, srcStride int, rows int, loadMask, storeMask uint16)")
	Pragma("noescape")
	Doc("copy16 copies rows of up to 16 floats with AVX-512 (see gen.go).")
	MOVQ(addr("dst"), RDI)
	MOVQ(addr("dstStride"), R8)
	SHLQ(Imm(2), R8)
	MOVQ(addr("src"), RSI)
	MOVQ(addr("srcStride"), R9)
	SHLQ(Imm(2), R9)
	MOVQ(addr("rows"), RCX)
	MOVWLZX(addr("loadMask"), EDX)
	KMOVW(EDX, K1)
	MOVWLZX(addr("storeMask"), EDX)
	KMOVW(EDX, K2)
	CMPQ(RCX, Imm(4))
	JL(LabelRef("tail"))
	Label("loop")
	for i := 0; i < 4; i++ {
		VMOVUPS_Z(Mem{Base: RSI}, K1, zmm(i))
		ADDQ(R9, RSI)
	}
	for i := 0; i < 4; i++ {
		VMOVUPS(zmm(i), K2, Mem{Base: RDI})
		ADDQ(R8, RDI)
	}
	SUBQ(Imm(4), RCX)
	CMPQ(RCX, Imm(4))
	JGE(LabelRef("loop"))
	Label("tail")
	TESTQ(RCX, RCX)
	JE(LabelRef("done"))
	Label("tail1")
	VMOVUPS_Z(Mem{Base: RSI}, K1, Z0)
	VMOVUPS(Z0, K2, Mem{Base: RDI})
	ADDQ(R9, RSI)
	ADDQ(R8, RDI)
	DECQ(RCX)
	JNE(LabelRef("tail1"))
	Label("done")
	VZEROUPPER()
	RET()
}

// packRows32 packs kc rows of n·32 floats (row stride ld) into n slivers of
// 32 columns, each k-major (kc×32, sliver stride kc·32): row by row, so the
// source streams through memory in order.
func packRows32() {
	TEXT("packRows32", NOSPLIT, "func(dst *float32, src *float32, ld, kc, n int)")
	Pragma("noescape")
	Doc("packRows32 packs whole 32-column slivers of a row-major block with AVX-512 (see gen.go).")
	MOVQ(addr("dst"), RDI)
	MOVQ(addr("src"), RSI)
	MOVQ(addr("ld"), R8)
	SHLQ(Imm(2), R8)
	MOVQ(addr("kc"), RCX)
	MOVQ(addr("n"), R9)
	MOVQ(RCX, R10)
	SHLQ(Imm(7), R10) // sliver stride in bytes: kc·32·4
	TESTQ(RCX, RCX)
	JE(LabelRef("done"))
	TESTQ(R9, R9)
	JE(LabelRef("done"))
	Label("row")
	MOVQ(RSI, R11)
	MOVQ(RDI, R12)
	MOVQ(R9, R13)
	Label("sliver")
	VMOVUPS(Mem{Base: R11}, Z0)
	VMOVUPS(Mem{Base: R11, Disp: 64}, Z1)
	VMOVUPS(Z0, Mem{Base: R12})
	VMOVUPS(Z1, Mem{Base: R12, Disp: 64})
	ADDQ(U32(128), R11)
	ADDQ(R10, R12)
	DECQ(R13)
	JNE(LabelRef("sliver"))
	ADDQ(R8, RSI)
	ADDQ(U32(128), RDI)
	DECQ(RCX)
	JNE(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// gatherRows32 packs kc rows of one 32-column sliver (kc×32, row stride 32) whose
// rows are gathered from src rather than read at a fixed stride: row r is two
// 16-float runs, its low half at element offset offs[2t] from the current base and
// its high half at offs[2t+1], with t = (t0 + r) mod taps; the lanes outside
// masks[2t] and masks[2t+1] are zero and their memory is not read. The base starts at
// src and moves by chStride elements each time t wraps to 0. This is a convolution's
// column matrix packed straight from the image: t is the kernel tap, the base the
// input channel.
func gatherRows32() {
	tapRows("gatherRows32", "offs", "gatherRows32 packs a sliver of 32 columns from masked runs at per-row offsets with AVX-512 (see gen.go).", func() {
		MOVLQSX(Mem{Base: R8, Index: RDX, Scale: 8}, R12)
		MOVLQSX(Mem{Base: R8, Index: RDX, Scale: 8, Disp: 4}, R13)
		KMOVW(Mem{Base: R9, Index: RDX, Scale: 4}, K1)
		KMOVW(Mem{Base: R9, Index: RDX, Scale: 4, Disp: 2}, K2)
		VMOVUPS_Z(Mem{Base: RSI, Index: R12, Scale: 4}, K1, Z0)
		VMOVUPS_Z(Mem{Base: RSI, Index: R13, Scale: 4}, K2, Z1)
	})
}

// tapRows writes a sliver packer over kc rows whose tap t = (t0 + r) mod taps picks
// its row of the table (the parameter named table) and its two masks, and whose base
// (RSI, from src) moves by chStride each time t wraps: row loads the row's two halves
// into Z0 and Z1 (RDX is t, R8 the table, R9 the masks), and tapRows stores them.
func tapRows(name, table, doc string, row func()) {
	TEXT(name, NOSPLIT, "func(dst *float32, src *float32, "+table+" *int32, masks *uint16, taps, t0, kc, chStride int)")
	Pragma("noescape")
	Doc(doc)
	MOVQ(addr("dst"), RDI)
	MOVQ(addr("src"), RSI)
	MOVQ(addr(table), R8)
	MOVQ(addr("masks"), R9)
	MOVQ(addr("taps"), R10)
	MOVQ(addr("t0"), RDX)
	MOVQ(addr("kc"), RCX)
	MOVQ(addr("chStride"), R11)
	SHLQ(Imm(2), R11)
	TESTQ(RCX, RCX)
	JE(LabelRef("done"))
	Label("row")
	row()
	VMOVUPS(Z0, Mem{Base: RDI})
	VMOVUPS(Z1, Mem{Base: RDI, Disp: 64})
	ADDQ(U32(128), RDI)
	INCQ(RDX)
	CMPQ(RDX, R10)
	JNE(LabelRef("next"))
	XORQ(RDX, RDX)
	ADDQ(R11, RSI)
	Label("next")
	DECQ(RCX)
	JNE(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// storeRows16 stores Z0–Z15 at RDI, R8 bytes apart, and returns.
func storeRows16() {
	for c := 0; c < 16; c++ {
		VMOVUPS(zmm(c), Mem{Base: RDI})
		if c < 15 {
			ADDQ(R8, RDI)
		}
	}
	VZEROUPPER()
	RET()
}

// transposeGather16 writes the transpose of 16 gathered rows of 16 floats:
// dst[c·dstStride+r] = src[offs[r]+c] for the lanes c in row r's mask
// tapMask[tapOf[r]], zero in the others (their memory is not read). It packs a sliver
// of the transposed column matrix (a weight gradient's im2col(x)ᵀ) straight from the
// image: row r is one column-matrix row's run of 16 window positions, and its mask
// that of its kernel tap, looked up here so the caller updates one mask per tap, not
// one per row.
func transposeGather16() {
	TEXT("transposeGather16", NOSPLIT, "func(dst *float32, dstStride int, src *float32, offs *int32, tapOf *uint8, tapMask *uint16)")
	Pragma("noescape")
	Doc("transposeGather16 transposes 16 masked runs of 16 floats at per-row offsets with AVX-512 (see gen.go).")
	MOVQ(addr("dst"), RDI)
	MOVQ(addr("dstStride"), R8)
	SHLQ(Imm(2), R8)
	MOVQ(addr("src"), RSI)
	MOVQ(addr("offs"), R9)
	MOVQ(addr("tapOf"), R12)
	MOVQ(addr("tapMask"), R10)
	r := func(i int) VecPhysical { return zmm(i) }
	for i := 0; i < 16; i++ {
		MOVLQSX(Mem{Base: R9, Disp: 4 * i}, R11)
		MOVBQZX(Mem{Base: R12, Disp: i}, R13)
		KMOVW(Mem{Base: R10, Index: R13, Scale: 2}, K1)
		VMOVUPS_Z(Mem{Base: RSI, Index: R11, Scale: 4}, K1, r(i))
	}
	// Interleave pairs of rows, then pairs of pairs, then 128-bit lanes twice
	// (as transpose16).
	transposeRegs()
	storeRows16()
}

// gatherIdx32 is gatherRows32 with a lane index for every lane: row r of the
// sliver is src[base+idx[32t+l]] for lane l, t = (t0 + r) mod taps, under
// masks[2t] (lanes 0–15) and masks[2t+1] (16–31), zero elsewhere (not read). It
// packs the slivers whose window positions span rows of them, or stride along
// the width, with VGATHERDPS.
func gatherIdx32() {
	tapRows("gatherIdx32", "idx", "gatherIdx32 packs a sliver of 32 columns by per-lane indices with AVX-512 gathers (see gen.go).", func() {
		MOVQ(RDX, R12)
		SHLQ(Imm(7), R12) // 32 indices of 4 bytes per tap
		ADDQ(R8, R12)
		VMOVDQU32(Mem{Base: R12}, Z2)
		VMOVDQU32(Mem{Base: R12, Disp: 64}, Z3)
		KMOVW(Mem{Base: R9, Index: RDX, Scale: 4}, K1)
		KMOVW(Mem{Base: R9, Index: RDX, Scale: 4, Disp: 2}, K2)
		VPXORD(Z0, Z0, Z0)
		VPXORD(Z1, Z1, Z1)
		VGATHERDPS(Mem{Base: RSI, Index: Z2, Scale: 4}, K1, Z0)
		VGATHERDPS(Mem{Base: RSI, Index: Z3, Scale: 4}, K2, Z1)
	})
}

// transposeGatherIdx16 is transposeGather16 for window positions anywhere: row r
// (a column-matrix row) lane l (a window position) is src[pos[l]+rel[r]] when
// 0 ≤ oh[l]+dh[r] < H and 0 ≤ ow[l]+dw[r] < W (unsigned compares, so negatives
// fail too), zero otherwise (not read); the 16×16 block is stored transposed,
// rows dstStride apart.
func transposeGatherIdx16() {
	TEXT("transposeGatherIdx16", NOSPLIT, "func(dst *float32, dstStride int, src *float32, pos, oh, ow, rel, dh, dw *int32, h, w int)")
	Pragma("noescape")
	Doc("transposeGatherIdx16 gathers 16 column-matrix rows at 16 window positions and transposes them with AVX-512 (see gen.go).")
	MOVQ(addr("dst"), RDI)
	MOVQ(addr("dstStride"), R8)
	SHLQ(Imm(2), R8)
	MOVQ(addr("src"), RSI)
	MOVQ(addr("pos"), RAX)
	VMOVDQU32(Mem{Base: RAX}, Z16)
	MOVQ(addr("oh"), RAX)
	VMOVDQU32(Mem{Base: RAX}, Z17)
	MOVQ(addr("ow"), RAX)
	VMOVDQU32(Mem{Base: RAX}, Z18)
	MOVQ(addr("h"), RAX)
	VPBROADCASTD(EAX, Z19)
	MOVQ(addr("w"), RAX)
	VPBROADCASTD(EAX, Z20)
	MOVQ(addr("rel"), R9)
	MOVQ(addr("dh"), R10)
	MOVQ(addr("dw"), R11)
	r := func(i int) VecPhysical { return zmm(i) }
	for i := 0; i < 16; i++ {
		VPBROADCASTD(Mem{Base: R9, Disp: 4 * i}, Z21)
		VPADDD(Z16, Z21, Z21)
		VPBROADCASTD(Mem{Base: R10, Disp: 4 * i}, Z22)
		VPADDD(Z17, Z22, Z22)
		VPBROADCASTD(Mem{Base: R11, Disp: 4 * i}, Z23)
		VPADDD(Z18, Z23, Z23)
		VPCMPUD(U8(1), Z19, Z22, K1)     // ih < h
		VPCMPUD(U8(1), Z20, Z23, K1, K2) // and iw < w
		VPXORD(r(i), r(i), r(i))
		VGATHERDPS(Mem{Base: RSI, Index: Z21, Scale: 4}, K2, r(i))
	}
	// The transpose of transpose16.
	transposeRegs()
	storeRows16()
}

var table = flag.String("table", "", "write the Go table of AVX-512 kernels to this file")

func main() {
	flag.Parse()
	var tab strings.Builder
	tab.WriteString("// Code generated by command: go run asm/gen.go. DO NOT EDIT.\n\npackage gemm\n\n")
	// The AVX-512 tile: 14×32 uses 28 accumulators, two B vectors and two
	// broadcast registers. All four shapes tried reach the FMA roof alone in
	// L1; in a 1024³ product (one thread, per CPU-second) 14×32 gave 146
	// GFLOP/s, 12×32 130–140, 6×64 124–130 and 8×48 about 103. Every row
	// count and vector count is generated, so edge tiles run in registers too.
	for _, s := range []struct{ mr, nvec int }{{14, 2}} {
		nr := 16 * s.nvec
		fmt.Fprintf(&tab, "// avx512Tiles%dx%d[rows][vectors] computes rows×(16·vectors) of a %d×%d tile.\n", s.mr, nr, s.mr, nr)
		fmt.Fprintf(&tab, "var avx512Tiles%dx%d = [][]avx512Func{\n", s.mr, nr)
		for rows := 1; rows <= s.mr; rows++ {
			fmt.Fprintf(&tab, "\t%d: {nil, ", rows)
			for v := 1; v <= s.nvec; v++ {
				name := fmt.Sprintf("avx512Tile%dx%dRows%dVecs%d", s.mr, nr, rows, v)
				avx512(name, s.mr, nr, rows, v)
				fmt.Fprintf(&tab, "%s, ", name)
			}
			tab.WriteString("},\n")
		}
		tab.WriteString("}\n\n")
	}
	transpose16()
	copy16()
	packRows32()
	gatherRows32()
	transposeGather16()
	gatherIdx32()
	transposeGatherIdx16()
	avx2("avx2Tile6x16", 6, 2)
	Generate()
	if *table != "" {
		src, err := format.Source([]byte(tab.String()))
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile(*table, src, 0o644); err != nil {
			panic(err)
		}
	}
}
