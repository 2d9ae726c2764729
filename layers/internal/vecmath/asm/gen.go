//go:build ignore

// Command gen writes the AVX-512 kernel of package vecmath in Go assembly with avo
// (github.com/mmcloughlin/avo). Run it through `go generate` in the vecmath package.
//
// expSubAcc16 is Exp32 on 16 lanes with the very same float32 operations in the same
// order (multiplies and adds, no fused multiply-add), so each lane's bits are Exp32's.
package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The constants of Exp32 (exp.go), as float32 bits.
var (
	log2e = float32(1.44269504088896341)
	ln2hi = float32(0.693359375)
	ln2lo = float32(-2.12194440e-4)
	maxX  = float32(88.72283905206835)
	minX  = float32(-87.33654475055310)
	round = float32(12582912)
	poly  = []float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1}
)

func bcast(bits uint32, z VecPhysical) {
	MOVL(U32(bits), EAX)
	VPBROADCASTD(EAX, z)
}

func addr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

func f(v float32) uint32 { return math.Float32bits(v) }

// lanes16 writes the function name(sig): its pointer parameters loaded into regs (in
// order), n into RCX as a count of 16-lane blocks, setup run once, then body once per
// block, each pointer advancing by its element size times 16.
func lanes16(name, sig, doc string, params []string, regs []Register, sizes []int, setup, body func()) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(doc)
	for i, p := range params {
		MOVQ(addr(p), regs[i])
	}
	MOVQ(addr("n"), RCX)
	SHRQ(Imm(4), RCX)
	setup()
	Label("loop")
	body()
	for i, r := range regs {
		ADDQ(Imm(uint64(16*sizes[i])), r)
	}
	DECQ(RCX)
	JNE(LabelRef("loop"))
	VZEROUPPER()
	RET()
}

// relu16 writes dst[i] = max(src[i], 0) as Go's max does: src where src > 0 or NaN,
// +0 elsewhere (-0 included), n a positive multiple of 16.
func relu16() {
	lanes16("relu16", "func(dst, src *float32, n int)",
		"relu16 sets dst[i] = max(src[i], 0) with Go's semantics (NaN kept, −0 to +0), 16 lanes at a time.",
		[]string{"dst", "src"}, []Register{RDI, RSI}, []int{4, 4},
		func() { VPXORD(Z1, Z1, Z1) },
		func() {
			VMOVUPS(Mem{Base: RSI}, Z0)
			VCMPPS(U8(0x1e), Z1, Z0, K1) // src > 0 (GT_OQ)
			VCMPPS(U8(0x03), Z0, Z0, K2) // src NaN (UNORD_Q)
			KORW(K2, K1, K1)
			VMOVAPS_Z(Z0, K1, Z2)
			VMOVUPS(Z2, Mem{Base: RDI})
		})
}

// reluBack16 writes dx[i] = dy[i]·(1 if y[i] > 0 else 0), the multiply as the scalar
// code's (so a non-finite dy at a dead unit gives NaN), n a positive multiple of 16.
func reluBack16() {
	lanes16("reluBack16", "func(dx, y, dy *float32, n int)",
		"reluBack16 sets dx[i] = dy[i]·[y[i] > 0], 16 lanes at a time.",
		[]string{"dx", "y", "dy"}, []Register{RDI, RSI, RDX}, []int{4, 4, 4},
		func() {
			VPXORD(Z1, Z1, Z1)
			bcast(f(1), Z3)
		},
		func() {
			VMOVUPS(Mem{Base: RSI}, Z0)
			VCMPPS(U8(0x1e), Z1, Z0, K1) // y > 0
			VMOVAPS_Z(Z3, K1, Z2)        // 1 or 0
			VMULPS(Mem{Base: RDX}, Z2, Z2)
			VMOVUPS(Z2, Mem{Base: RDI})
		})
}

// expSubAcc16 is Exp32 on 16 lanes (see the package comment) with the sums.
func expSubAcc16() {
	lanes16("expSubAcc16", "func(dst, x, m *float32, se *float64, n int)",
		"expSubAcc16 sets dst[i] = Exp32(x[i]−m[i]) and adds it to se[i] as float64, 16 lanes at a time (n a positive multiple of 16).",
		[]string{"dst", "x", "m", "se"}, []Register{RDI, RSI, RDX, R8}, []int{4, 4, 4, 8},
		func() {
			bcast(f(log2e), Z16)
			bcast(f(round), Z17)
			bcast(f(ln2hi), Z18)
			bcast(f(ln2lo), Z19)
			for i, c := range poly {
				bcast(f(c), []VecPhysical{Z20, Z21, Z22, Z23, Z24, Z25}[i])
			}
			bcast(f(1), Z26)
			bcast(f(maxX), Z27)
			bcast(f(minX), Z28)
			bcast(f(float32(math.Inf(1))), Z29)
			bcast(127, Z30)
			bcast(uint32(0xffffffff-125), Z31) // int32 −126
			bcast(f(2), Z15)
			bcast(f(0.5), Z14)
			bcast(1, Z13)
			VPXORD(Z12, Z12, Z12)
		},
		func() {
			VMOVUPS(Mem{Base: RSI}, Z0)
			VMOVUPS(Mem{Base: RDX}, Z1)
			VSUBPS(Z1, Z0, Z0) // v = x − m
			// k = (v·log2e + round) − round
			VMULPS(Z16, Z0, Z2)
			VADDPS(Z17, Z2, Z2)
			VSUBPS(Z17, Z2, Z2)
			// r = v − k·ln2hi − k·ln2lo
			VMULPS(Z18, Z2, Z3)
			VSUBPS(Z3, Z0, Z4)
			VMULPS(Z19, Z2, Z3)
			VSUBPS(Z3, Z4, Z4)
			VMULPS(Z4, Z4, Z5) // z = r·r
			// p = ((((((c0·r+c1)·r+c2)·r+c3)·r+c4)·r+c5)·z + r) + 1
			VMULPS(Z20, Z4, Z6)
			VADDPS(Z21, Z6, Z6)
			VMULPS(Z4, Z6, Z6)
			VADDPS(Z22, Z6, Z6)
			VMULPS(Z4, Z6, Z6)
			VADDPS(Z23, Z6, Z6)
			VMULPS(Z4, Z6, Z6)
			VADDPS(Z24, Z6, Z6)
			VMULPS(Z4, Z6, Z6)
			VADDPS(Z25, Z6, Z6)
			VMULPS(Z5, Z6, Z6)
			VADDPS(Z4, Z6, Z6)
			VADDPS(Z26, Z6, Z6)
			// 2^k, with k = 128 as 2·2^127 and k < −126 as 2^(k+1)/2.
			VCVTTPS2DQ(Z2, Z7)
			VPCMPGTD(Z30, Z7, K1) // k > 127
			VMULPS(Z15, Z6, K1, Z6)
			VPSUBD(Z13, Z7, K1, Z7)
			VPCMPGTD(Z7, Z31, K2) // −126 > k
			VMULPS(Z14, Z6, K2, Z6)
			VPADDD(Z13, Z7, K2, Z7)
			VPADDD(Z30, Z7, Z7)
			VPSLLD(Imm(23), Z7, Z7)
			VMULPS(Z7, Z6, Z6)
			// Out of range: +Inf above maxX, 0 below minX, NaN stays NaN.
			VCMPPS(U8(0x1e), Z27, Z0, K3) // v > maxX (GT_OQ)
			VMOVAPS(Z29, K3, Z6)
			VCMPPS(U8(0x11), Z28, Z0, K4) // v < minX (LT_OQ)
			VMOVAPS(Z12, K4, Z6)
			VCMPPS(U8(0x03), Z0, Z0, K5) // v unordered (NaN)
			VMOVAPS(Z0, K5, Z6)
			VMOVUPS(Z6, Mem{Base: RDI})
			// se += float64(e), eight lanes at a time.
			VCVTPS2PD(Z6.AsY(), Z8)
			VADDPD(Mem{Base: R8}, Z8, Z8)
			VMOVUPD(Z8, Mem{Base: R8})
			VEXTRACTF32X8(Imm(1), Z6, Y9)
			VCVTPS2PD(Y9, Z9)
			VADDPD(Mem{Base: R8, Disp: 64}, Z9, Z9)
			VMOVUPD(Z9, Mem{Base: R8, Disp: 64})
		})
}

// addBias16 writes dst[i] += b, n a positive multiple of 16.
func addBias16() {
	lanes16("addBias16", "func(dst *float32, b float32, n int)",
		"addBias16 sets dst[i] += b, 16 lanes at a time.",
		[]string{"dst"}, []Register{RDI}, []int{4},
		func() { VBROADCASTSS(addr("b"), Z1) },
		func() {
			VADDPS(Mem{Base: RDI}, Z1, Z0)
			VMOVUPS(Z0, Mem{Base: RDI})
		})
}

// addBiasReLU16 writes dst[i] = max(dst[i] + b, 0) with Go's max (as relu16), n a
// positive multiple of 16.
func addBiasReLU16() {
	lanes16("addBiasReLU16", "func(dst *float32, b float32, n int)",
		"addBiasReLU16 sets dst[i] = max(dst[i] + b, 0) with Go's semantics, 16 lanes at a time.",
		[]string{"dst"}, []Register{RDI}, []int{4},
		func() {
			VBROADCASTSS(addr("b"), Z1)
			VPXORD(Z3, Z3, Z3)
		},
		func() {
			VADDPS(Mem{Base: RDI}, Z1, Z0)
			VCMPPS(U8(0x1e), Z3, Z0, K1) // v > 0 (GT_OQ)
			VCMPPS(U8(0x03), Z0, Z0, K2) // v NaN
			KORW(K2, K1, K1)
			VMOVAPS_Z(Z0, K1, Z2)
			VMOVUPS(Z2, Mem{Base: RDI})
		})
}

// maskSum16 writes d[i] = d[i]·[y[i] > 0] (mask) or leaves d (no mask) and returns the
// sum of d's new values in 16 lane sums, lane l taking i ≡ l (mod 16) in order, then
// folded as s[l] += s[l+w] for w = 8, 4, 2, 1 (MaskSum states it), n a positive
// multiple of 16.
func maskSum16() {
	TEXT("maskSum16", NOSPLIT, "func(d, y *float32, mask bool, n int) float32")
	Pragma("noescape")
	Doc("maskSum16 masks d by y > 0 (if mask) and sums it in 16 lanes, folded in halves (see MaskSum).")
	MOVQ(addr("d"), RDI)
	MOVQ(addr("y"), RSI)
	MOVQ(addr("n"), RCX)
	SHRQ(Imm(4), RCX)
	VPXORD(Z1, Z1, Z1) // 0
	VPXORD(Z4, Z4, Z4) // the lane sums
	bcast(f(1), Z3)
	MOVBLZX(addr("mask"), EAX)
	TESTL(EAX, EAX)
	JE(LabelRef("plain"))
	Label("masked")
	VMOVUPS(Mem{Base: RSI}, Z0)
	VCMPPS(U8(0x1e), Z1, Z0, K1) // y > 0
	VMOVAPS_Z(Z3, K1, Z2)        // 1 or 0
	VMULPS(Mem{Base: RDI}, Z2, Z2)
	VMOVUPS(Z2, Mem{Base: RDI})
	VADDPS(Z2, Z4, Z4)
	ADDQ(Imm(64), RDI)
	ADDQ(Imm(64), RSI)
	DECQ(RCX)
	JNE(LabelRef("masked"))
	JMP(LabelRef("fold"))
	Label("plain")
	VADDPS(Mem{Base: RDI}, Z4, Z4)
	ADDQ(Imm(64), RDI)
	DECQ(RCX)
	JNE(LabelRef("plain"))
	Label("fold")
	VEXTRACTF32X8(Imm(1), Z4, Y5)
	VADDPS(Y5, Y4, Y4) // s[l] + s[l+8]
	VEXTRACTF128(Imm(1), Y4, X5)
	VADDPS(X5, X4, X4) // + 4
	VMOVHLPS(X4, X4, X5)
	VADDPS(X5, X4, X4) // + 2
	VMOVSHDUP(X4, X5)
	VADDSS(X5, X4, X4) // + 1
	VZEROUPPER()       // keeps X4
	Store(X4, ReturnIndex(0))
	RET()
}

// maxInto16 writes dst[i] = max(dst[i], src[i]) with Go's max, n a positive multiple
// of 16.
func maxInto16() {
	lanes16("maxInto16", "func(dst, src *float32, n int)",
		"maxInto16 sets dst[i] = max(dst[i], src[i]) with Go's semantics, 16 lanes at a time.",
		[]string{"dst", "src"}, []Register{RDI, RSI}, []int{4, 4},
		func() {},
		func() {
			VMOVUPS(Mem{Base: RDI}, Z0)
			VMOVUPS(Mem{Base: RSI}, Z1)
			goMax(Z2, Z0, Z1, Z3)
			VMOVUPS(Z2, Mem{Base: RDI})
		})
}

// mulWhere16 writes dst[i] = a[i]·e[i] where a[i] != 0, else 0 (or, accumulating, adds
// a[i]·e[i] where a[i] != 0), n a positive multiple of 16.
func mulWhere16() {
	lanes16("mulWhere16", "func(dst, a, e *float32, accumulate bool, n int)",
		"mulWhere16 sets (or adds to) dst[i] a[i]·e[i] where a[i] != 0, 16 lanes at a time (see MulWhere).",
		[]string{"dst", "a", "e"}, []Register{RDI, RSI, RDX}, []int{4, 4, 4},
		func() {
			VPXORD(Z3, Z3, Z3)
			MOVBLZX(addr("accumulate"), EAX)
		},
		func() {
			VMOVUPS(Mem{Base: RSI}, Z0)
			VCMPPS(U8(0x04), Z3, Z0, K1) // a != 0 (NEQ_UQ: NaN too)
			VMULPS_Z(Mem{Base: RDX}, Z0, K1, Z1)
			TESTL(EAX, EAX)
			JE(LabelRef("assign"))
			VADDPS(Mem{Base: RDI}, Z1, Z2)
			VMOVUPS(Mem{Base: RDI}, Z1)
			VMOVAPS(Z2, K1, Z1) // dst where a == 0
			Label("assign")
			VMOVUPS(Z1, Mem{Base: RDI})
		})
}

// axpy16 writes dst[i] += a·src[i], the multiply rounded before the add (no fused
// multiply-add, as the scalar code), n a positive multiple of 16.
func axpy16() {
	lanes16("axpy16", "func(dst, src *float32, a float32, n int)",
		"axpy16 sets dst[i] += a·src[i] (multiply, then add), 16 lanes at a time.",
		[]string{"dst", "src"}, []Register{RDI, RSI}, []int{4, 4},
		func() { VBROADCASTSS(addr("a"), Z1) },
		func() {
			VMULPS(Mem{Base: RSI}, Z1, Z0)
			VADDPS(Mem{Base: RDI}, Z0, Z0)
			VMOVUPS(Z0, Mem{Base: RDI})
		})
}

// indexTable is a read-only table of 16 dword lane indices, for VPERMI2PS.
func indexTable(name string, idx func(i int) uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := range 16 {
		DATA(4*i, U32(idx(i)))
	}
	return m
}

// goMax sets dst = max(x, y) with Go's semantics: NaN if either is, +0 for a pair of
// zeros unless both are −0, else the larger. VMAXPS returns its second source for a
// NaN or a pair of zeros; the equal lanes take x AND y (the same bits, or the zero
// with the sign only both carry) and a NaN x is kept. tmp is clobbered; K6, K7 too.
func goMax(dst, x, y, tmp VecPhysical) {
	VMAXPS(y, x, dst)          // x > y ? x : y (y for NaN or equal)
	VCMPPS(U8(0x00), y, x, K6) // x == y (EQ_OQ)
	VPANDD(y, x, tmp)
	VMOVAPS(tmp, K6, dst)
	VCMPPS(U8(0x03), x, x, K7) // x NaN
	VMOVAPS(x, K7, dst)
}

// maxPool2x2x16 pools 16 windows of two rows at a time: see MaxPool2x2Row.
func maxPool2x2x16(ev, od Mem) {
	lanes16("maxPool2x2x16", "func(y *float32, arg *int32, r0, r1 *float32, at, w int32, n int)",
		"maxPool2x2x16 pools 2×2 windows of rows r0 and r1 into y and their argmax into arg, 16 windows at a time (see MaxPool2x2Row).",
		[]string{"y", "arg", "r0", "r1"}, []Register{RDI, RSI, RDX, R8}, []int{4, 4, 8, 8},
		func() {
			VMOVDQU32(ev, Z14)
			VMOVDQU32(od, Z15)
			// at + 2·lane, and the step of 32 per block.
			MOVL(addr("at"), EAX)
			VPBROADCASTD(EAX, Z16)
			VPADDD(Z14, Z16, Z16) // the even indices are 2·lane
			MOVL(U32(32), EAX)
			VPBROADCASTD(EAX, Z18)
			MOVL(addr("w"), EAX)
			VPBROADCASTD(EAX, Z19) // w
			MOVL(U32(1), EAX)
			VPBROADCASTD(EAX, Z20)
			VPADDD(Z20, Z19, Z21) // w + 1
			VPXORD(Z22, Z22, Z22) // 0
		},
		func() {
			// a, b: even and odd of r0; c, d: of r1.
			VMOVUPS(Mem{Base: RDX}, Z0)
			VMOVUPS(Mem{Base: RDX, Disp: 64}, Z1)
			VMOVAPS(Z14, Z2)
			VPERMI2PS(Z1, Z0, Z2) // a
			VMOVAPS(Z15, Z3)
			VPERMI2PS(Z1, Z0, Z3) // b
			VMOVUPS(Mem{Base: R8}, Z0)
			VMOVUPS(Mem{Base: R8, Disp: 64}, Z1)
			VMOVAPS(Z14, Z4)
			VPERMI2PS(Z1, Z0, Z4) // c
			VMOVAPS(Z15, Z5)
			VPERMI2PS(Z1, Z0, Z5) // d
			goMax(Z6, Z2, Z3, Z9) // max(a, b)
			goMax(Z7, Z4, Z5, Z9) // max(c, d)
			goMax(Z8, Z6, Z7, Z9) // m
			VMOVUPS(Z8, Mem{Base: RDI})
			// k: w+1, then w where c hits, 1 where b does, 0 where a does; a hit is
			// x == m, or x NaN (m is NaN then, and the first NaN wins).
			VMOVDQA32(Z21, Z10)
			for _, h := range []struct {
				x VecPhysical
				k VecPhysical
			}{{Z4, Z19}, {Z3, Z20}, {Z2, Z22}} {
				VCMPPS(U8(0x00), Z8, h.x, K1)  // x == m
				VCMPPS(U8(0x03), h.x, h.x, K2) // x NaN
				KORW(K2, K1, K1)
				VMOVDQA32(h.k, K1, Z10)
			}
			VPADDD(Z16, Z10, Z10)
			VMOVDQU32(Z10, Mem{Base: RSI})
			VPADDD(Z18, Z16, Z16)
		})
}

// rows2D writes name(sig): for each of rows rows, body over n/16 blocks with the
// pointers in regs, each advancing by its per-block step, then tail once on what is
// left of the row (masks passed in K3–K5, the parameters m1, m2 and ms, zero ms for
// nothing left); between rows every pointer moves on by its stride (the parameter
// named in strides, in bytes) from the row's start.
func rows2D(name, sig, doc string, params []string, regs []Register, steps []int, strides []string, setup, body, tail func()) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(doc)
	starts := []Register{R9, R10, R11}
	for i, p := range params {
		MOVQ(addr(p), starts[i])
	}
	MOVQ(addr("rows"), R12)
	for i, m := range []string{"m1", "m2", "ms"} {
		MOVWLZX(addr(m), EAX)
		KMOVW(EAX, []Op{K3, K4, K5}[i])
	}
	setup()
	Label("row")
	for i := range params {
		MOVQ(starts[i], regs[i])
	}
	MOVQ(addr("n"), RCX)
	SHRQ(Imm(4), RCX)
	TESTQ(RCX, RCX)
	JE(LabelRef("tail"))
	Label("block")
	body()
	for i, r := range regs {
		ADDQ(Imm(uint64(steps[i])), r)
	}
	DECQ(RCX)
	JNE(LabelRef("block"))
	Label("tail")
	KORTESTW(K5, K5)
	JE(LabelRef("next"))
	tail()
	Label("next")
	for i := range params {
		ADDQ(addr(strides[i]), starts[i])
	}
	DECQ(R12)
	JNE(LabelRef("row"))
	VZEROUPPER()
	RET()
}

// interleave2Rows16 writes dst[2i] = a[i] + bias and dst[2i+1] = b[i] + bias on rows
// rows: see Interleave2Rows. The tail
// loads under K5 and stores the two halves under K3 and K4.
func interleave2Rows16(lo, hi Mem) {
	weave := func(mask bool) {
		if mask {
			VADDPS_Z(Mem{Base: RSI}, Z3, K5, Z0)
			VADDPS_Z(Mem{Base: RDX}, Z3, K5, Z1)
		} else {
			VADDPS(Mem{Base: RSI}, Z3, Z0)
			VADDPS(Mem{Base: RDX}, Z3, Z1)
		}
		VMOVAPS(Z4, Z5)
		VPERMI2PS(Z1, Z0, Z5)
		VMOVAPS(Z6, Z7)
		VPERMI2PS(Z1, Z0, Z7)
		if mask {
			VMOVUPS(Z5, K3, Mem{Base: RDI})
			VMOVUPS(Z7, K4, Mem{Base: RDI, Disp: 64})
		} else {
			VMOVUPS(Z5, Mem{Base: RDI})
			VMOVUPS(Z7, Mem{Base: RDI, Disp: 64})
		}
	}
	rows2D("interleave2Rows16", "func(dst, a, b *float32, bias float32, n, rows, dstStride, aStride, bStride int, m1, m2, ms uint16)",
		"interleave2Rows16 weaves rows of a and b (plus bias) into dst with a masked tail, strides in bytes (see Interleave2Rows).",
		[]string{"dst", "a", "b"}, []Register{RDI, RSI, RDX}, []int{128, 64, 64}, []string{"dstStride", "aStride", "bStride"},
		func() {
			VBROADCASTSS(addr("bias"), Z3)
			VMOVDQU32(lo, Z4)
			VMOVDQU32(hi, Z6)
		},
		func() { weave(false) }, func() { weave(true) })
}

// deinterleave2Rows16 writes even[i] = src[2i] and odd[i] = src[2i+1] on rows rows:
// see Deinterleave2Rows. The
// tail loads the two halves under K3 and K4 and stores under K5.
func deinterleave2Rows16(ev, od Mem) {
	split := func(mask bool) {
		if mask {
			VMOVUPS_Z(Mem{Base: RDX}, K3, Z0)
			VMOVUPS_Z(Mem{Base: RDX, Disp: 64}, K4, Z1)
		} else {
			VMOVUPS(Mem{Base: RDX}, Z0)
			VMOVUPS(Mem{Base: RDX, Disp: 64}, Z1)
		}
		VMOVAPS(Z4, Z5)
		VPERMI2PS(Z1, Z0, Z5)
		VMOVAPS(Z6, Z7)
		VPERMI2PS(Z1, Z0, Z7)
		if mask {
			VMOVUPS(Z5, K5, Mem{Base: RDI})
			VMOVUPS(Z7, K5, Mem{Base: RSI})
		} else {
			VMOVUPS(Z5, Mem{Base: RDI})
			VMOVUPS(Z7, Mem{Base: RSI})
		}
	}
	rows2D("deinterleave2Rows16", "func(even, odd, src *float32, n, rows, evenStride, oddStride, srcStride int, m1, m2, ms uint16)",
		"deinterleave2Rows16 splits rows of src into even and odd with a masked tail, strides in bytes (see Deinterleave2Rows).",
		[]string{"even", "odd", "src"}, []Register{RDI, RSI, RDX}, []int{64, 64, 128}, []string{"evenStride", "oddStride", "srcStride"},
		func() {
			VMOVDQU32(ev, Z4)
			VMOVDQU32(od, Z6)
		},
		func() { split(false) }, func() { split(true) })
}

// pairPlane writes name(sig), a plane of rows with one or two taps each (InterpRows,
// ScatterRows): the rows of stream (RDI, the parameter named stream) one after another,
// n elements each, and per row the one or two rows of the parameter tabbed (R8) at the
// offsets tab[2r], tab[2r+1] (−1: none) into RSI and RDX, with the weights w[2r] and
// w[2r+1] in Z1 and Z2. setup runs once; two and one process a block of 16 lanes
// (masked by K1, the parameter tail, for what a row leaves past its multiples of 16)
// with two taps or one.
func pairPlane(name, sig, doc, stream, tabbed string, setup func(), two, one func(mask bool)) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(doc)
	MOVQ(addr(stream), RDI)
	MOVQ(addr(tabbed), R8)
	MOVQ(addr("tab"), R9)
	MOVQ(addr("w"), R10)
	MOVQ(addr("rows"), R12)
	MOVWLZX(addr("tail"), EAX)
	KMOVW(EAX, K1)
	setup()
	Label("row")
	MOVLQSX(Mem{Base: R9}, RSI)
	LEAQ(Mem{Base: R8, Index: RSI, Scale: 4}, RSI)
	VBROADCASTSS(Mem{Base: R10}, Z1)
	MOVLQSX(Mem{Base: R9, Disp: 4}, RDX)
	MOVQ(addr("n"), RCX)
	SHRQ(Imm(4), RCX)
	TESTQ(RDX, RDX)
	JS(LabelRef("one"))
	LEAQ(Mem{Base: R8, Index: RDX, Scale: 4}, RDX)
	VBROADCASTSS(Mem{Base: R10, Disp: 4}, Z2)
	for _, v := range []struct {
		name string
		body func(bool)
		ptrs []Register
	}{{"two", two, []Register{RSI, RDX}}, {"one", one, []Register{RSI}}} {
		if v.name == "one" {
			Label("one")
		}
		TESTQ(RCX, RCX)
		JE(LabelRef(v.name + "tail"))
		Label(v.name + "block")
		v.body(false)
		ADDQ(Imm(64), RDI)
		for _, r := range v.ptrs {
			ADDQ(Imm(64), r)
		}
		DECQ(RCX)
		JNE(LabelRef(v.name + "block"))
		Label(v.name + "tail")
		KORTESTW(K1, K1)
		JE(LabelRef("next"))
		v.body(true)
		MOVQ(addr("n"), RAX)
		ANDQ(Imm(15), RAX)
		LEAQ(Mem{Base: RDI, Index: RAX, Scale: 4}, RDI)
		JMP(LabelRef("next"))
	}
	Label("next")
	ADDQ(Imm(8), R9)
	ADDQ(Imm(8), R10)
	DECQ(R12)
	JNE(LabelRef("row"))
	VZEROUPPER()
	RET()
}

// interpPlane writes each dst row as init + w0·a (+ w1·b): see InterpRows.
func interpPlane() {
	pairPlane("interpPlane", "func(dst, src *float32, tab *int32, w *float32, n, rows int, init float32, tail uint16)",
		"interpPlane sets each dst row to init + w0·src[tab0:] (+ w1·src[tab1:]), rows of n (see InterpRows).",
		"dst", "src", func() { VBROADCASTSS(addr("init"), Z3) },
		func(mask bool) {
			if mask {
				VMULPS_Z(Mem{Base: RSI}, Z1, K1, Z0)
				VADDPS(Z3, Z0, Z0)
				VMULPS_Z(Mem{Base: RDX}, Z2, K1, Z4)
				VADDPS(Z4, Z0, Z0)
				VMOVUPS(Z0, K1, Mem{Base: RDI})
				return
			}
			VMULPS(Mem{Base: RSI}, Z1, Z0)
			VADDPS(Z3, Z0, Z0)
			VMULPS(Mem{Base: RDX}, Z2, Z4)
			VADDPS(Z4, Z0, Z0)
			VMOVUPS(Z0, Mem{Base: RDI})
		},
		func(mask bool) {
			if mask {
				VMULPS_Z(Mem{Base: RSI}, Z1, K1, Z0)
				VADDPS(Z3, Z0, Z0)
				VMOVUPS(Z0, K1, Mem{Base: RDI})
				return
			}
			VMULPS(Mem{Base: RSI}, Z1, Z0)
			VADDPS(Z3, Z0, Z0)
			VMOVUPS(Z0, Mem{Base: RDI})
		})
}

// scatterPlane adds each src row, scaled, into one or two dst rows: see ScatterRows.
func scatterPlane() {
	pairPlane("scatterPlane", "func(dst, src *float32, tab *int32, w *float32, n, rows int, tail uint16)",
		"scatterPlane adds w0·src row to dst[tab0:] (and w1· to dst[tab1:]) for each src row of n (see ScatterRows).",
		"src", "dst", func() {},
		func(mask bool) {
			if mask {
				VMOVUPS_Z(Mem{Base: RDI}, K1, Z5)
				VMULPS(Z5, Z1, Z0)
				VADDPS_Z(Mem{Base: RSI}, Z0, K1, Z0)
				VMOVUPS(Z0, K1, Mem{Base: RSI})
				VMULPS(Z5, Z2, Z4)
				VADDPS_Z(Mem{Base: RDX}, Z4, K1, Z4)
				VMOVUPS(Z4, K1, Mem{Base: RDX})
				return
			}
			VMOVUPS(Mem{Base: RDI}, Z5)
			VMULPS(Z5, Z1, Z0)
			VADDPS(Mem{Base: RSI}, Z0, Z0)
			VMOVUPS(Z0, Mem{Base: RSI})
			VMULPS(Z5, Z2, Z4)
			VADDPS(Mem{Base: RDX}, Z4, Z4)
			VMOVUPS(Z4, Mem{Base: RDX})
		},
		func(mask bool) {
			if mask {
				VMOVUPS_Z(Mem{Base: RDI}, K1, Z5)
				VMULPS(Z5, Z1, Z0)
				VADDPS_Z(Mem{Base: RSI}, Z0, K1, Z0)
				VMOVUPS(Z0, K1, Mem{Base: RSI})
				return
			}
			VMULPS(Mem{Base: RDI}, Z1, Z0)
			VADDPS(Mem{Base: RSI}, Z0, Z0)
			VMOVUPS(Z0, Mem{Base: RSI})
		})
}

func main() {
	// Lane i of the interleaved low half is a's i/2 (even i) or b's (odd i, +16 selects
	// the second table); of the high half the same from lane 8 on.
	lo := indexTable("interleaveLo", func(i int) uint32 { return uint32(i/2 + 16*(i%2)) })
	hi := indexTable("interleaveHi", func(i int) uint32 { return uint32(8 + i/2 + 16*(i%2)) })
	ev := indexTable("deinterleaveEven", func(i int) uint32 { return uint32(2 * i) })
	od := indexTable("deinterleaveOdd", func(i int) uint32 { return uint32(2*i + 1) })
	interleave2Rows16(lo, hi)
	deinterleave2Rows16(ev, od)
	maxPool2x2x16(ev, od)
	relu16()
	addBias16()
	addBiasReLU16()
	maskSum16()
	maxInto16()
	mulWhere16()
	interpPlane()
	scatterPlane()
	axpy16()
	reluBack16()
	expSubAcc16()
	Generate()
}
