package gemm

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func needBF16(t testing.TB) {
	t.Helper()
	if err := BF16Supported(); err != nil {
		t.Skip(err)
	}
}

// roundBF16 is the scalar bf16 conversion of the tests: round to nearest even on
// the upper 16 bits (PyTorch's round_to_nearest_even), NaN made quiet, and, as
// VCVTNEPS2BF16 and VDPBF16PS do, zero or denormal inputs become signed zero.
func roundBF16(x float32) uint16 {
	u := math.Float32bits(x)
	switch {
	case u&0x7f800000 == 0:
		return uint16(u>>16) & 0x8000
	case u&0x7fffffff > 0x7f800000:
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

func bf16Value(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// ftz flushes an fp32 denormal to signed zero, as VDPBF16PS does with its results.
func ftz(x float32) float32 {
	if u := math.Float32bits(x); u&0x7f800000 == 0 {
		return math.Float32frombits(u & 0x80000000)
	}
	return x
}

// TestRoundBF16Examples pins the scalar conversion to hand-worked values.
func TestRoundBF16Examples(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // 1 + 2⁻⁸: a tie, to the even 1
		{0x3f818000, 0x3f82}, // 1 + 3·2⁻⁸: a tie, to the even 1 + 2⁻⁶
		{0x3f808001, 0x3f81}, // just above the tie: up
		{0xbf807fff, 0xbf80}, // just below the tie: down (sign kept)
		{0x7f7fffff, 0x7f80}, // the largest float rounds to +Inf
		{0x7f800000, 0x7f80}, // +Inf
		{0x00400000, 0x0000}, // a denormal: zero
		{0x80000001, 0x8000}, // a negative denormal: -0
		{0x7f800001, 0x7fc0}, // a signalling NaN comes back quiet
	} {
		if got := roundBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("roundBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

// TestBF16Conversions checks the assembly conversions against roundBF16, bit for
// bit, on special values and random floats, for every length up to 40 (the
// masked tails included) and both forms (rows, interleaved pairs).
func TestBF16Conversions(t *testing.T) {
	needBF16(t)
	rng := rand.New(rand.NewPCG(3, 4))
	special := []uint32{0, 0x80000000, 0x3f808000, 0x3f818000, 0x7f7fffff, 0xff800000, 0x7fc00000, 0x7f800001, 0x00400000, 0x807fffff, 0x00800000}
	vals := func(n int) []float32 {
		s := make([]float32, n+1)
		for i := range s {
			switch rng.IntN(3) {
			case 0:
				s[i] = math.Float32frombits(special[rng.IntN(len(special))])
			case 1:
				s[i] = math.Float32frombits(rng.Uint32())
			default:
				s[i] = float32(rng.NormFloat64())
			}
		}
		return s
	}
	for n := 1; n <= 40; n++ {
		src := vals(n)
		dst := make([]uint16, n+1)
		dst[n] = 0xbeef // past the end: must stay
		bf16Row(&dst[0], &src[0], n)
		for i := range n {
			if want := roundBF16(src[i]); dst[i] != want {
				t.Fatalf("bf16Row n=%d [%d] of %#08x = %#04x, want %#04x", n, i, math.Float32bits(src[i]), dst[i], want)
			}
		}
		if dst[n] != 0xbeef {
			t.Fatalf("bf16Row n=%d wrote past the end", n)
		}
		r0, r1 := vals(n), vals(n)
		pairs := make([]uint32, n+1)
		for _, withR1 := range []bool{true, false} {
			pairs[n] = 0xdeadbeef
			if withR1 {
				bf16Pairs(&pairs[0], &r0[0], &r1[0], n)
			} else {
				bf16Pairs(&pairs[0], &r0[0], nil, n)
			}
			for j := range n {
				hi := uint16(0)
				if withR1 {
					hi = roundBF16(r1[j])
				}
				if want := uint32(roundBF16(r0[j])) | uint32(hi)<<16; pairs[j] != want {
					t.Fatalf("bf16Pairs n=%d r1=%v [%d] = %#08x, want %#08x", n, withR1, j, pairs[j], want)
				}
			}
			if pairs[n] != 0xdeadbeef {
				t.Fatalf("bf16Pairs n=%d wrote past the end", n)
			}
		}
	}
}

// bf16Reference is GemmBF16 written out in scalar Go: operands rounded by
// roundBF16, k padded to pairs, and each K block of kcb pairs (the driver's
// blocking, a function of k only) accumulated in fp32 from zero, pair by pair,
// odd product first, as VDPBF16PS does; then C = alpha·acc + beta·C, later
// blocks adding with beta 1. A product of two bf16 values is exact in fp32, so
// each step rounds once, like the instruction's fused step, and for data
// without underflow (these tests') and beta a power of two (beta·C exact) the
// kernel must match this bit for bit.
func bf16Reference(o *operands) []float32 {
	opA := func(i, p int) float32 {
		if p >= o.k {
			return 0
		}
		if o.transA {
			return bf16Value(roundBF16(o.a[p*o.lda+i]))
		}
		return bf16Value(roundBF16(o.a[i*o.lda+p]))
	}
	opB := func(p, j int) float32 {
		if p >= o.k {
			return 0
		}
		if o.transB {
			return bf16Value(roundBF16(o.b[j*o.ldb+p]))
		}
		return bf16Value(roundBF16(o.b[p*o.ldb+j]))
	}
	kp := (o.k + 1) / 2
	kcb := ceilDiv(kp, ceilDiv(kp, bf16Kernel.kc))
	c := append([]float32(nil), o.c...)
	for i := range o.m {
		for j := range o.n {
			cij := c[i*o.ldc+j]
			for q0 := 0; q0 < kp; q0 += kcb {
				var acc float32
				for q := q0; q < min(q0+kcb, kp); q++ {
					acc = ftz(acc + opA(i, 2*q+1)*opB(2*q+1, j))
					acc = ftz(acc + opA(i, 2*q)*opB(2*q, j))
				}
				beta := o.beta
				if q0 > 0 {
					beta = 1
				}
				t := float32(o.alpha * acc)
				if beta == 0 {
					cij = t
				} else {
					cij = t + float32(beta*cij)
				}
			}
			c[i*o.ldc+j] = cij
		}
	}
	return c
}

func (o *operands) runBF16() []float32 {
	c := append([]float32(nil), o.c...)
	GemmBF16(o.transA, o.transB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, c, o.ldc)
	return c
}

// checkBF16 compares got with the scalar reference bit for bit (padding
// included: it must be left alone) and with the exact float64 product within
// the error bf16 operands allow: |ab − ãb̃| ≤ (2⁻⁷ + 2⁻¹⁶)|a||b| per product,
// plus fp32 accumulation over k.
func checkBF16(t *testing.T, o *operands, got []float32) {
	t.Helper()
	ref := bf16Reference(o)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
			t.Fatalf("%v: element %d (row %d col %d) = %v, scalar reference %v", o, i, i/o.ldc, i%o.ldc, got[i], ref[i])
		}
	}
	want, mag := o.reference()
	tol := math.Ldexp(1, -7) + math.Ldexp(1, -16) + float64(o.k+4)*math.Ldexp(1, -23)
	for i := range o.m {
		for j := range o.n {
			x := i*o.ldc + j
			if d := math.Abs(float64(got[x]) - want[x]); d > tol*mag[x]+1e-30 {
				t.Fatalf("%v: C[%d][%d] = %v, exact %v: error %g beyond %g", o, i, j, got[x], want[x], d, tol*mag[x])
			}
		}
	}
}

// TestGemmBF16 runs odd sizes (edge tiles, odd k, K blocks), all transposes,
// padded leading dimensions and several alpha/beta.
func TestGemmBF16(t *testing.T) {
	needBF16(t)
	sizes := []int{1, 2, 3, 15, 17, 31, 33, 65, 200, 513, 1030}
	rng := rand.New(rand.NewPCG(5, 6))
	for tr := range 4 {
		transA, transB := tr&1 != 0, tr&2 != 0
		for i, m := range sizes[:9] {
			for j, n := range sizes[:9] {
				k := sizes[(i+2*j+tr)%len(sizes)]
				ab := alphaBeta[(i+j+tr)%len(alphaBeta)]
				o := newOperands(rng, transA, transB, m, n, k, (i+j)%3*2, ab.alpha, ab.beta)
				checkBF16(t, o, o.runBF16())
			}
		}
	}
}

// TestGemmBF16ThreadInvariance: the same bits for 1–4 threads and serially.
func TestGemmBF16ThreadInvariance(t *testing.T) {
	needBF16(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(7, 8))
	for _, s := range []struct {
		transA, transB bool
		m, n, k        int
	}{
		{false, false, 64, 2100, 577}, // a conv forward: wide, odd k, converted in parallel
		{true, false, 576, 1000, 64},
		{false, true, 64, 577, 1500},
		{false, true, 2000, 40, 97},  // tall: split by rows
		{false, false, 2000, 40, 98}, // tall, B by rows (packing converts it), shared
	} {
		o := newOperands(rng, s.transA, s.transB, s.m, s.n, s.k, 1, 1, 1)
		var first []float32
		for _, procs := range []int{1, 2, 3, 4} {
			runtime.GOMAXPROCS(procs)
			got := o.runBF16()
			if first == nil {
				checkBF16(t, o, got)
				first = got
				continue
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
					t.Fatalf("%v: GOMAXPROCS=%d differs from 1 at %d", o, procs, i)
				}
			}
		}
		got := append([]float32(nil), o.c...)
		GemmBF16Serial(o.transA, o.transB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, got, o.ldc)
		for i := range got {
			if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
				t.Fatalf("GemmBF16Serial %v differs from GemmBF16 at %d", o, i)
			}
		}
	}
}
