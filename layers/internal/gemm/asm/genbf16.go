//go:build ignore

// Command genbf16 writes fcn's bf16 GEMM micro-kernels and conversion
// routines in Go assembly (kernel_bf16_amd64.s, with their Go declarations
// and table). Go's assembler (1.26) and avo know no AVX512_BF16 mnemonic, so
// VDPBF16PS, VCVTNEPS2BF16 and VCVTNE2PS2BF16 are written as BYTE directives
// from the EVEX encodings below (checked against llvm-mc and, at run time,
// against a scalar reference in bf16_test.go); everything else is ordinary
// Go assembly.
//
// The kernels take packed slivers of bf16 pairs: one uint32 holds op(A) or
// op(B) at k = 2p (low half) and 2p+1 (high half). A 14×32 tile keeps 28
// accumulators and two B vectors in registers and broadcasts A's pairs from
// memory (VDPBF16PS's m32bcst form). Per lane and pair, VDPBF16PS adds the
// odd product, then the even one, each rounded to fp32 (RNE, denormal inputs
// and outputs flushed to zero); bf16 products are exact in fp32, so the only
// rounding is in the additions, in a fixed order for every variant.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"strings"
)

const (
	mr, nr = 14, 32
	unroll = 4
	regAX  = 0 // hardware number of AX, the A pointer in the tile kernels
)

// evex is the 4-byte EVEX prefix for a 512-bit instruction in map 0F38 with
// W0: dst (ModRM.reg), src1 (EVEX.vvvv; -1 if unused), broadcast bit b, and
// pp (1: 66, 2: F3, 3: F2). The rm operand is a legacy register < 8 (memory
// base) or a zmm register rm (reg form, rmVec), whose high bits go in X̄ B̄.
func evex(dst, src1, rm int, rmVec, bcst bool, pp int) []byte {
	inv := func(bit int) byte { return byte(^bit & 1) }
	rmB, rmX := 0, 0
	if rmVec {
		rmB, rmX = rm>>3&1, rm>>4&1
	}
	p0 := inv(dst>>3&1)<<7 | inv(rmX)<<6 | inv(rmB)<<5 | inv(dst>>4&1)<<4 | 0b10
	vvvv, vhi := 0b1111, byte(1)
	if src1 >= 0 {
		vvvv, vhi = ^src1&0b1111, inv(src1>>4&1)
	}
	p1 := byte(vvvv)<<3 | 1<<2 | byte(pp)
	p2 := byte(0b10)<<5 | vhi<<3 // L'L = 512 bits, no mask
	if bcst {
		p2 |= 1 << 4
	}
	return []byte{0x62, p0, p1, p2}
}

func byteLines(comment string, bs []byte) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("BYTE $0x%02x", b)
	}
	return "\t" + strings.Join(parts, "; ") + " // " + comment + "\n"
}

// vdpbf16psBcst is VDPBF16PS zmm(dst), zmm(src1), disp(AX){1to16}:
// EVEX.512.F3.0F38.W0 52 /r, ModRM mod 01 (disp8, scaled by 4 for m32bcst).
func vdpbf16psBcst(dst, src1, disp int) string {
	if disp%4 != 0 || disp/4 > 127 {
		panic("displacement does not fit disp8*4")
	}
	bs := append(evex(dst, src1, regAX, false, true, 2), 0x52, byte(0b01<<6|(dst&7)<<3|regAX), byte(disp/4))
	return byteLines(fmt.Sprintf("VDPBF16PS %d(AX){1to16}, Z%d, Z%d", disp, src1, dst), bs)
}

// vcvtneps2bf16 is VCVTNEPS2BF16 ymm(dst), zmm(src): EVEX.512.F3.0F38.W0 72 /r.
func vcvtneps2bf16(dst, src int) string {
	bs := append(evex(dst, -1, src, true, false, 2), 0x72, byte(0b11<<6|(dst&7)<<3|src&7))
	return byteLines(fmt.Sprintf("VCVTNEPS2BF16 Z%d, Y%d", src, dst), bs)
}

// vcvtne2ps2bf16 is VCVTNE2PS2BF16 zmm(dst), zmm(src1), zmm(src2):
// EVEX.512.F2.0F38.W0 72 /r; src2's values become the low 16 words.
func vcvtne2ps2bf16(dst, src1, src2 int) string {
	bs := append(evex(dst, src1, src2, true, false, 3), 0x72, byte(0b11<<6|(dst&7)<<3|src2&7))
	return byteLines(fmt.Sprintf("VCVTNE2PS2BF16 Z%d, Z%d, Z%d", src2, src1, dst), bs)
}

type writer struct{ bytes.Buffer }

func (w *writer) p(format string, args ...any) { fmt.Fprintf(&w.Buffer, "\t"+format+"\n", args...) }

func tileName(rows, nvec int) string { return fmt.Sprintf("bf16Tile14x32Rows%dVecs%d", rows, nvec) }

// tile writes the kernel for rows×(16·nvec) of a 14×32 tile; the last vector
// of each C row is read and written under the mask argument.
func tile(w *writer, rows, nvec int) {
	name := tileName(rows, nvec)
	fmt.Fprintf(w, "\n// func %s(kp int, a *float32, b *float32, c *float32, ldc int, alpha float32, beta float32, mask uint16)\n", name)
	fmt.Fprintf(w, "TEXT ·%s(SB), NOSPLIT, $0-50\n", name)
	nacc := rows * nvec
	acc := func(i, v int) int { return i*nvec + v }
	bv := func(v int) int { return 28 + v }
	w.p("MOVQ kp+0(FP), CX")
	w.p("MOVQ a+8(FP), AX")
	w.p("MOVQ b+16(FP), BX")
	w.p("MOVQ c+24(FP), DI")
	w.p("MOVQ ldc+32(FP), SI")
	w.p("SHLQ $2, SI")
	w.p("MOVWLZX mask+48(FP), DX")
	w.p("KMOVW DX, K1")
	w.p("MOVQ DI, R8")
	for i := 0; i < rows; i++ {
		w.p("PREFETCHT0 (R8)")
		w.p("PREFETCHT0 %d(R8)", 64*nvec-4)
		if i < rows-1 {
			w.p("ADDQ SI, R8")
		}
	}
	for i := 0; i < nacc; i++ {
		w.p("VPXORD Z%d, Z%d, Z%d", i, i, i)
	}
	step := func(s int) {
		for v := 0; v < nvec; v++ {
			w.p("VMOVUPS %d(BX), Z%d", 4*(s*nr+16*v), bv(v))
		}
		for i := 0; i < rows; i++ {
			for v := 0; v < nvec; v++ {
				w.WriteString(vdpbf16psBcst(acc(i, v), bv(v), 4*(s*mr+i)))
			}
		}
	}
	w.p("CMPQ CX, $%d", unroll)
	w.p("JL tail")
	fmt.Fprintf(w, "loop:\n")
	for s := 0; s < unroll; s++ {
		step(s)
	}
	w.p("ADDQ $%d, AX", 4*unroll*mr)
	w.p("ADDQ $%d, BX", 4*unroll*nr)
	w.p("SUBQ $%d, CX", unroll)
	w.p("CMPQ CX, $%d", unroll)
	w.p("JGE loop")
	fmt.Fprintf(w, "tail:\n")
	w.p("TESTQ CX, CX")
	w.p("JE store")
	fmt.Fprintf(w, "tail1:\n")
	step(0)
	w.p("ADDQ $%d, AX", 4*mr)
	w.p("ADDQ $%d, BX", 4*nr)
	w.p("DECQ CX")
	w.p("JNE tail1")

	// The epilogue is the float32 kernel's: C = alpha·acc (rounded), then
	// + beta·C fused; beta == 0 never reads C.
	fmt.Fprintf(w, "store:\n")
	alpha, beta := 30, 31
	w.p("VBROADCASTSS alpha+40(FP), Z%d", alpha)
	w.p("MOVL beta+44(FP), DX")
	w.p("ANDL $0x7fffffff, DX")
	w.p("JNE accumulate")
	for i := 0; i < rows; i++ {
		for v := 0; v < nvec; v++ {
			w.p("VMULPS Z%d, Z%d, Z%d", alpha, acc(i, v), acc(i, v))
			if v == nvec-1 {
				w.p("VMOVUPS Z%d, K1, %d(DI)", acc(i, v), 64*v)
			} else {
				w.p("VMOVUPS Z%d, %d(DI)", acc(i, v), 64*v)
			}
		}
		if i < rows-1 {
			w.p("ADDQ SI, DI")
		}
	}
	w.p("VZEROUPPER")
	w.p("RET")
	fmt.Fprintf(w, "accumulate:\n")
	w.p("VBROADCASTSS beta+44(FP), Z%d", beta)
	for i := 0; i < rows; i++ {
		for v := 0; v < nvec; v++ {
			w.p("VMULPS Z%d, Z%d, Z%d", alpha, acc(i, v), acc(i, v))
			if v == nvec-1 {
				w.p("VFMADD231PS %d(DI), Z%d, K1, Z%d", 64*v, beta, acc(i, v))
				w.p("VMOVUPS Z%d, K1, %d(DI)", acc(i, v), 64*v)
			} else {
				w.p("VFMADD231PS %d(DI), Z%d, Z%d", 64*v, beta, acc(i, v))
				w.p("VMOVUPS Z%d, %d(DI)", acc(i, v), 64*v)
			}
		}
		if i < rows-1 {
			w.p("ADDQ SI, DI")
		}
	}
	w.p("VZEROUPPER")
	w.p("RET")
}

// cvtRow writes bf16Row(dst *uint16, src *float32, n int): dst[i] = bf16(src[i])
// for i < n, 16 at a time, the last run under a mask.
func cvtRow(w *writer) {
	fmt.Fprintf(w, "\n// func bf16Row(dst *uint16, src *float32, n int)\n")
	fmt.Fprintf(w, "TEXT ·bf16Row(SB), NOSPLIT, $0-24\n")
	w.p("MOVQ dst+0(FP), DI")
	w.p("MOVQ src+8(FP), SI")
	w.p("MOVQ n+16(FP), CX")
	w.p("CMPQ CX, $16")
	w.p("JL rowtail")
	fmt.Fprintf(w, "rowloop:\n")
	w.p("VMOVUPS (SI), Z0")
	w.WriteString(vcvtneps2bf16(1, 0))
	w.p("VMOVDQU Y1, (DI)")
	w.p("ADDQ $64, SI")
	w.p("ADDQ $32, DI")
	w.p("SUBQ $16, CX")
	w.p("CMPQ CX, $16")
	w.p("JGE rowloop")
	fmt.Fprintf(w, "rowtail:\n")
	w.p("TESTQ CX, CX")
	w.p("JE rowdone")
	w.p("MOVL $1, DX")
	w.p("SHLL CX, DX")
	w.p("SUBL $1, DX")
	w.p("KMOVW DX, K1")
	w.p("VMOVUPS.Z (SI), K1, Z0")
	w.WriteString(vcvtneps2bf16(1, 0))
	w.p("VMOVDQU16 Y1, K1, (DI)")
	fmt.Fprintf(w, "rowdone:\n")
	w.p("VZEROUPPER")
	w.p("RET")
}

// cvtPairs writes bf16Pairs(dst *uint32, r0, r1 *float32, n int):
// dst[j] = bf16(r0[j]) | bf16(r1[j])<<16 for j < n (r1 == nil: zero high
// halves), 16 at a time, the last run under a mask. VCVTNE2PS2BF16 gives
// [bf16(r0) | bf16(r1)] as 32 words; VPERMW interleaves them into pairs.
func cvtPairs(w *writer) {
	fmt.Fprintf(w, "\n// bf16PairIndex interleaves words 0–15 with 16–31 (VPERMW).\n")
	for q := 0; q < 8; q++ {
		// Words 4q..4q+3: (2q, 16+2q, 2q+1, 16+2q+1), little-endian in one quadword.
		v := uint64(2*q) | uint64(16+2*q)<<16 | uint64(2*q+1)<<32 | uint64(16+2*q+1)<<48
		fmt.Fprintf(w, "DATA bf16PairIndex<>+%d(SB)/8, $0x%016x\n", 8*q, v)
	}
	fmt.Fprintf(w, "GLOBL bf16PairIndex<>(SB), RODATA|NOPTR, $64\n")
	fmt.Fprintf(w, "\n// func bf16Pairs(dst *uint32, r0 *float32, r1 *float32, n int)\n")
	fmt.Fprintf(w, "TEXT ·bf16Pairs(SB), NOSPLIT, $0-32\n")
	w.p("MOVQ dst+0(FP), DI")
	w.p("MOVQ r0+8(FP), SI")
	w.p("MOVQ r1+16(FP), BX")
	w.p("MOVQ n+24(FP), CX")
	w.p("VMOVDQU64 bf16PairIndex<>(SB), Z5")
	w.p("VPXORD Z1, Z1, Z1")
	w.p("CMPQ CX, $16")
	w.p("JL pairtail")
	fmt.Fprintf(w, "pairloop:\n")
	w.p("VMOVUPS (SI), Z0")
	w.p("TESTQ BX, BX")
	w.p("JE pairzero")
	w.p("VMOVUPS (BX), Z1")
	w.p("ADDQ $64, BX")
	fmt.Fprintf(w, "pairzero:\n")
	w.WriteString(vcvtne2ps2bf16(2, 1, 0))
	w.p("VPERMW Z2, Z5, Z3")
	w.p("VMOVDQU32 Z3, (DI)")
	w.p("ADDQ $64, SI")
	w.p("ADDQ $64, DI")
	w.p("SUBQ $16, CX")
	w.p("CMPQ CX, $16")
	w.p("JGE pairloop")
	fmt.Fprintf(w, "pairtail:\n")
	w.p("TESTQ CX, CX")
	w.p("JE pairdone")
	w.p("MOVL $1, DX")
	w.p("SHLL CX, DX")
	w.p("SUBL $1, DX")
	w.p("KMOVW DX, K1")
	w.p("VMOVUPS.Z (SI), K1, Z0")
	w.p("VPXORD Z1, Z1, Z1")
	w.p("TESTQ BX, BX")
	w.p("JE pairzero2")
	w.p("VMOVUPS.Z (BX), K1, Z1")
	fmt.Fprintf(w, "pairzero2:\n")
	w.WriteString(vcvtne2ps2bf16(2, 1, 0))
	w.p("VPERMW Z2, Z5, Z3")
	w.p("VMOVDQU32 Z3, K1, (DI)")
	fmt.Fprintf(w, "pairdone:\n")
	w.p("VZEROUPPER")
	w.p("RET")
}

// packPairs32 writes bf16PackRows32(dst *uint32, src *float32, ld, kp, n int):
// whole 32-column slivers of packed B pairs straight from a row-major fp32
// block of 2·kp rows (ld floats apart): sliver s, pair p holds columns
// 32s..32s+31 of rows 2p (low halves) and 2p+1 (high halves), as
// bf16Pairs writes them; slivers are kp·32 pairs apart.
func packPairs32(w *writer) {
	fmt.Fprintf(w, "\n// func bf16PackRows32(dst *uint32, src *float32, ld int, kp int, n int)\n")
	fmt.Fprintf(w, "TEXT ·bf16PackRows32(SB), NOSPLIT, $0-40\n")
	w.p("MOVQ dst+0(FP), DI")
	w.p("MOVQ src+8(FP), SI")
	w.p("MOVQ ld+16(FP), R8")
	w.p("SHLQ $2, R8")
	w.p("MOVQ kp+24(FP), CX")
	w.p("MOVQ n+32(FP), R9")
	w.p("MOVQ CX, R10")
	w.p("SHLQ $7, R10") // sliver stride in bytes: kp·32·4
	w.p("VMOVDQU64 bf16PairIndex<>(SB), Z5")
	w.p("TESTQ CX, CX")
	w.p("JE packdone")
	w.p("TESTQ R9, R9")
	w.p("JE packdone")
	fmt.Fprintf(w, "packrow:\n")
	w.p("MOVQ SI, R11")
	w.p("MOVQ DI, R12")
	w.p("MOVQ R9, R13")
	fmt.Fprintf(w, "packsliver:\n")
	for v := 0; v < 2; v++ {
		w.p("VMOVUPS %d(R11), Z0", 64*v)
		w.p("VMOVUPS %d(R11)(R8*1), Z1", 64*v)
		w.WriteString(vcvtne2ps2bf16(2, 1, 0))
		w.p("VPERMW Z2, Z5, Z3")
		w.p("VMOVDQU32 Z3, %d(R12)", 64*v)
	}
	w.p("ADDQ $128, R11")
	w.p("ADDQ R10, R12")
	w.p("DECQ R13")
	w.p("JNE packsliver")
	w.p("LEAQ (SI)(R8*2), SI") // the next pair of rows
	w.p("ADDQ $128, DI")
	w.p("DECQ CX")
	w.p("JNE packrow")
	fmt.Fprintf(w, "packdone:\n")
	w.p("VZEROUPPER")
	w.p("RET")
}

func main() {
	out := flag.String("out", "kernel_bf16_amd64.s", "assembly output")
	stubs := flag.String("stubs", "kernel_bf16_amd64.go", "Go declarations output")
	flag.Parse()
	const header = "// Code generated by command: go run asm/genbf16.go. DO NOT EDIT.\n\n"

	var s writer
	s.WriteString(header)
	s.WriteString("#include \"textflag.h\"\n")
	for rows := 1; rows <= mr; rows++ {
		for nvec := 1; nvec <= nr/16; nvec++ {
			tile(&s, rows, nvec)
		}
	}
	cvtRow(&s)
	cvtPairs(&s)
	packPairs32(&s)
	if err := os.WriteFile(*out, s.Bytes(), 0o644); err != nil {
		panic(err)
	}

	var g bytes.Buffer
	g.WriteString(header + "package gemm\n\n")
	for rows := 1; rows <= mr; rows++ {
		for nvec := 1; nvec <= nr/16; nvec++ {
			fmt.Fprintf(&g, "// %s computes a %d×%d tile from 14×32 packed slivers of bf16 pairs with AVX512_BF16.\n//\n//go:noescape\n", tileName(rows, nvec), rows, 16*nvec)
			fmt.Fprintf(&g, "func %s(kp int, a *float32, b *float32, c *float32, ldc int, alpha float32, beta float32, mask uint16)\n\n", tileName(rows, nvec))
		}
	}
	g.WriteString("// bf16Row rounds n floats to bf16 (RNE, denormals to zero) with AVX512_BF16.\n//\n//go:noescape\nfunc bf16Row(dst *uint16, src *float32, n int)\n\n")
	g.WriteString("// bf16Pairs rounds two rows of n floats to bf16 pairs (r0 low, r1 high; r1 nil: zero) with AVX512_BF16.\n//\n//go:noescape\nfunc bf16Pairs(dst *uint32, r0 *float32, r1 *float32, n int)\n\n")
	g.WriteString("// bf16PackRows32 packs whole 32-column slivers of bf16 pairs from 2·kp rows of floats with AVX512_BF16.\n//\n//go:noescape\nfunc bf16PackRows32(dst *uint32, src *float32, ld int, kp int, n int)\n\n")
	g.WriteString("// bf16Tiles14x32[rows][vectors] computes rows×(16·vectors) of a 14×32 bf16 tile.\nvar bf16Tiles14x32 = [][]avx512Func{\n")
	for rows := 1; rows <= mr; rows++ {
		fmt.Fprintf(&g, "%d: {nil, %s, %s},\n", rows, tileName(rows, 1), tileName(rows, 2))
	}
	g.WriteString("}\n")
	src, err := format.Source(g.Bytes())
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(*stubs, src, 0o644); err != nil {
		panic(err)
	}
}
