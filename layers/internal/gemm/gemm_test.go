package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// knownKernels are the kernels every build is checked with; ones this CPU
// cannot run are skipped with the reason.
var knownKernels = []string{"naive", "portable", "avx2", "avx512"}

// operands is one test problem: float32 inputs with padding (NaN in A and B,
// a sentinel in C) between the end of each row and its leading dimension.
type operands struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
}

const sentinel = float32(-12345.5)

func newOperands(rng *rand.Rand, transA, transB bool, m, n, k, pad int, alpha, beta float32) *operands {
	o := &operands{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta}
	fill := func(rows, cols, ld int, padVal float32) []float32 {
		s := make([]float32, rows*ld)
		for i := range s {
			if i%ld < cols {
				s[i] = float32(rng.NormFloat64())
			} else {
				s[i] = padVal
			}
		}
		return s
	}
	nan := float32(math.NaN())
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	o.lda, o.ldb, o.ldc = ac+pad, bc+pad, n+pad
	o.a = fill(ar, ac, o.lda, nan)
	o.b = fill(br, bc, o.ldb, nan)
	o.c = fill(m, n, o.ldc, sentinel)
	if beta == 0 {
		// beta == 0 must overwrite C without reading it.
		for i := range o.c {
			if i%o.ldc < n {
				o.c[i] = nan
			}
		}
	}
	return o
}

// reference computes the product in float64 with the naive definition, and the
// magnitude |alpha|·Σ|a||b| + |beta|·|c| that bounds each element's rounding error.
func (o *operands) reference() (want, mag []float64) {
	f64 := func(s []float32) []float64 {
		d := make([]float64, len(s))
		for i, v := range s {
			d[i] = float64(v)
		}
		return d
	}
	abs := func(s []float64) []float64 {
		d := make([]float64, len(s))
		for i, v := range s {
			d[i] = math.Abs(v)
		}
		return d
	}
	a, b := f64(o.a), f64(o.b)
	want = f64(o.c)
	mag = abs(want)
	if o.beta == 0 {
		clear(mag) // NaN in C is ignored
	}
	naive(o.transA, o.transB, o.m, o.n, o.k, float64(o.alpha), a, o.lda, b, o.ldb, float64(o.beta), want, o.ldc)
	naive(o.transA, o.transB, o.m, o.n, o.k, math.Abs(float64(o.alpha)), abs(a), o.lda, abs(b), o.ldb, math.Abs(float64(o.beta)), mag, o.ldc)
	return want, mag
}

// check compares got with the reference: every element of C within the
// float32 error bound of a k-term sum, and the padding of C untouched.
func (o *operands) check(t *testing.T, what string, got []float32, want, mag []float64) {
	t.Helper()
	u := math.Ldexp(1, -24) // float32 unit roundoff
	bad := 0
	for i := range got {
		r, col := i/o.ldc, i%o.ldc
		if col >= o.n {
			if got[i] != sentinel {
				t.Errorf("%s: padding C[%d][%d] changed to %v", what, r, col, got[i])
				return
			}
			continue
		}
		tol := float64(o.k+4) * 2 * u * mag[i]
		if d := math.Abs(float64(got[i]) - want[i]); !(d <= tol) {
			if bad++; bad <= 3 {
				t.Errorf("%s: C[%d][%d] = %v, want %v (±%.3g)", what, r, col, got[i], want[i], tol)
			}
		}
	}
}

func (o *operands) run(kern *Kernel) []float32 {
	c := append([]float32(nil), o.c...)
	GemmWith(kern, o.transA, o.transB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, c, o.ldc)
	return c
}

func (o *operands) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d lda=%d ldb=%d ldc=%d alpha=%v beta=%v",
		o.transA, o.transB, o.m, o.n, o.k, o.lda, o.ldb, o.ldc, o.alpha, o.beta)
}

// lookupAll returns the kernels to test, skipping (in a subtest) those this CPU lacks.
func lookupAll(t *testing.T) []*Kernel {
	var ks []*Kernel
	for _, name := range knownKernels {
		k, err := Lookup(name)
		if err != nil {
			t.Run(name, func(t *testing.T) { t.Skip(err) })
			continue
		}
		ks = append(ks, k)
	}
	return ks
}

var alphaBeta = []struct{ alpha, beta float32 }{{1, 0}, {1, 1}, {0.5, -2}, {-1.5, 0.25}, {2, 0}}

// TestConformance runs every kernel on odd sizes, all transposes, leading
// dimensions past the row length and several alpha/beta, against a float64
// reference.
func TestConformance(t *testing.T) {
	sizes := []int{1, 3, 7, 17, 31, 33, 65, 127, 200, 257}
	if testing.Short() {
		sizes = []int{1, 3, 17, 33, 65, 200}
	}
	kernels := lookupAll(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for tr := 0; tr < 4; tr++ {
		transA, transB := tr&1 != 0, tr&2 != 0
		for i, m := range sizes {
			for j, n := range sizes {
				k := sizes[(i+2*j+tr)%len(sizes)]
				ab := alphaBeta[(i+j+tr)%len(alphaBeta)]
				o := newOperands(rng, transA, transB, m, n, k, (i+j)%3*2, ab.alpha, ab.beta)
				want, mag := o.reference()
				for _, kern := range kernels {
					o.check(t, kern.Name()+" "+o.String(), o.run(kern), want, mag)
				}
			}
		}
	}
}

// TestRandomSizes is a fuzz-like sweep: random sizes, transposes, padding and
// coefficients, the same sequence every run.
func TestRandomSizes(t *testing.T) {
	kernels := lookupAll(t)
	rng := rand.New(rand.NewPCG(3, 4))
	iters := 60
	if testing.Short() {
		iters = 15
	}
	for it := 0; it < iters; it++ {
		dim := func() int {
			if rng.IntN(4) == 0 {
				return 1 + rng.IntN(8)
			}
			return 1 + rng.IntN(300)
		}
		ab := alphaBeta[rng.IntN(len(alphaBeta))]
		o := newOperands(rng, rng.IntN(2) == 0, rng.IntN(2) == 0, dim(), dim(), dim(), rng.IntN(5), ab.alpha, ab.beta)
		want, mag := o.reference()
		for _, kern := range kernels {
			o.check(t, kern.Name()+" "+o.String(), o.run(kern), want, mag)
		}
	}
}

// FuzzGemm checks the default kernel against the reference on fuzzed small problems.
func FuzzGemm(f *testing.F) {
	f.Add(uint8(1), uint8(1), uint8(1), uint8(0), uint64(1))
	f.Add(uint8(15), uint8(33), uint8(7), uint8(3), uint64(2))
	f.Add(uint8(29), uint8(17), uint8(65), uint8(0x1e), uint64(3))
	f.Fuzz(func(t *testing.T, m, n, k, flags uint8, seed uint64) {
		if m == 0 || n == 0 || k == 0 {
			return
		}
		rng := rand.New(rand.NewPCG(seed, 5))
		ab := alphaBeta[int(flags>>2)%len(alphaBeta)]
		o := newOperands(rng, flags&1 != 0, flags&2 != 0, int(m), int(n), int(k), int(flags>>5), ab.alpha, ab.beta)
		want, mag := o.reference()
		o.check(t, KernelName()+" "+o.String(), o.run(defaultKernel), want, mag)
	})
}

// TestSpecialCases covers k == 0 and alpha == 0 (C = beta·C), and beta == 0
// with NaN in C.
func TestSpecialCases(t *testing.T) {
	for _, kern := range lookupAll(t) {
		nan := float32(math.NaN())
		c := []float32{nan, 2, 3, 4}
		GemmWith(kern, false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
		for i, v := range c {
			if v != 0 {
				t.Errorf("%s: k=0 beta=0: C[%d] = %v, want 0", kern.Name(), i, v)
			}
		}
		c = []float32{1, 2, 3, 4}
		a := []float32{nan, 1, 1, 1}
		GemmWith(kern, false, false, 2, 2, 2, 0, a, 2, a, 2, 3, c, 2)
		for i, v := range c {
			if want := 3 * float32(i+1); v != want {
				t.Errorf("%s: alpha=0 beta=3: C[%d] = %v, want %v", kern.Name(), i, v, want)
			}
		}
		// A worked example: [1 2; 3 4]·[5 6; 7 8] = [19 22; 43 50].
		c = []float32{nan, nan, nan, nan}
		GemmWith(kern, false, false, 2, 2, 2, 1, []float32{1, 2, 3, 4}, 2, []float32{5, 6, 7, 8}, 2, 0, c, 2)
		for i, want := range []float32{19, 22, 43, 50} {
			if c[i] != want {
				t.Errorf("%s: 2×2 example: C[%d] = %v, want %v", kern.Name(), i, c[i], want)
			}
		}
	}
}

// TestFloat64 checks the float64 path (gradient checks use it) to float64 accuracy.
func TestFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for it := 0; it < 20; it++ {
		transA, transB := it&1 != 0, it&2 != 0
		m, n, k := 1+rng.IntN(150), 1+rng.IntN(150), 1+rng.IntN(300)
		o := newOperands(rng, transA, transB, m, n, k, it%3, 1.5, float32(it%3)-1)
		want, mag := o.reference() // float64 reference from the float32 data
		a, b, c := make([]float64, len(o.a)), make([]float64, len(o.b)), make([]float64, len(o.c))
		for i, v := range o.a {
			a[i] = float64(v)
		}
		for i, v := range o.b {
			b[i] = float64(v)
		}
		for i, v := range o.c {
			c[i] = float64(v)
		}
		Gemm(transA, transB, m, n, k, 1.5, a, o.lda, b, o.ldb, float64(o.beta), c, o.ldc)
		for i := range c {
			if i%o.ldc >= n {
				if c[i] != float64(sentinel) {
					t.Fatalf("%v: padding C[%d] changed", o, i)
				}
				continue
			}
			tol := float64(k+4) * math.Ldexp(1, -52) * mag[i]
			if d := math.Abs(c[i] - want[i]); !(d <= tol) {
				t.Fatalf("%v: C[%d] = %v, want %v (±%.3g)", o, i, c[i], want[i], tol)
			}
		}
	}
}

// TestNamedFloat runs a type defined on float32 through Gemm.
func TestNamedFloat(t *testing.T) {
	type f32 float32
	c := []f32{0, 0, 0, 0}
	Gemm(true, false, 2, 2, 2, 1, []f32{1, 3, 2, 4}, 2, []f32{5, 6, 7, 8}, 2, 0, c, 2)
	for i, want := range []f32{19, 22, 43, 50} {
		if c[i] != want {
			t.Errorf("C[%d] = %v, want %v", i, c[i], want)
		}
	}
}

// TestThreadInvariance checks that results are identical bit for bit whatever
// GOMAXPROCS is, for problems big enough to be split both by rows and by columns.
func TestThreadInvariance(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(7, 8))
	shapes := []struct {
		transA, transB bool
		m, n, k        int
	}{
		{false, false, 257, 301, 129},
		{true, false, 40, 2000, 97}, // wide: split by columns
		{false, true, 2000, 40, 97}, // tall: split by rows
		{true, true, 130, 130, 300},
	}
	for _, kern := range lookupAll(t) {
		if kern.Name() == "naive" {
			continue // one goroutine by construction
		}
		for _, s := range shapes {
			o := newOperands(rng, s.transA, s.transB, s.m, s.n, s.k, 1, 1.25, 0.5)
			var first []float32
			for _, procs := range []int{1, 2, 3, 4} {
				runtime.GOMAXPROCS(procs)
				got := o.run(kern)
				if first == nil {
					first = got
					continue
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%s %v: GOMAXPROCS=%d differs from 1 at %d: %v vs %v", kern.Name(), o, procs, i, got[i], first[i])
					}
				}
			}
			// GemmSerial (the default kernel only) gives Gemm's bits too.
			if kern == defaultKernel {
				got := append([]float32(nil), o.c...)
				GemmSerial(o.transA, o.transB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, got, o.ldc)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
						t.Fatalf("GemmSerial %v differs from Gemm at %d: %v vs %v", o, i, got[i], first[i])
					}
				}
			}
		}
	}
}

// TestSuperBlocks shrinks the shared-operand budget so that K is cut into
// super-blocks, for both ways of splitting C, and checks the result against
// the reference and across thread counts.
func TestSuperBlocks(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(11, 12))
	for _, kern := range lookupAll(t) {
		if kern.k32 == nil {
			continue
		}
		small := *kern.k32
		small.maxShared = 1 // one K block per super-block
		for _, s := range []struct {
			transA, transB bool
			m, n, k        int
		}{
			{false, true, 45, 300, 1100}, // split by columns, sharing A
			{true, false, 600, 20, 1100}, // split by rows, sharing B
		} {
			o := newOperands(rng, s.transA, s.transB, s.m, s.n, s.k, 1, 1, 0.5)
			want, mag := o.reference()
			var first []float32
			for _, procs := range []int{1, 2, 3} {
				runtime.GOMAXPROCS(procs)
				got := append([]float32(nil), o.c...)
				run(&small, false, o.transA, o.transB, o.m, o.n, o.k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, got, o.ldc)
				o.check(t, kern.Name()+" "+o.String(), got, want, mag)
				if first == nil {
					first = got
					continue
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
						t.Fatalf("%s %v: GOMAXPROCS=%d differs from 1 at %d", kern.Name(), o, procs, i)
					}
				}
			}
		}
	}
}

// TestConcurrentCalls runs products from several goroutines at once, sharing
// the workers, and checks each against the same product computed alone.
func TestConcurrentCalls(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(13, 14))
	const goroutines = 6
	ops := make([]*operands, goroutines)
	want := make([][]float32, goroutines)
	for g := range ops {
		ops[g] = newOperands(rng, g%2 == 0, g%3 == 0, 100+17*g, 150+9*g, 80+31*g, g%2, 1, float32(g%2))
		want[g] = ops[g].run(defaultKernel)
	}
	got := make([][]float32, goroutines)
	var wg sync.WaitGroup
	for g := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				got[g] = ops[g].run(defaultKernel)
			}
		}()
	}
	wg.Wait()
	for g := range ops {
		for i := range got[g] {
			if math.Float32bits(got[g][i]) != math.Float32bits(want[g][i]) {
				t.Fatalf("goroutine %d (%v): element %d is %v, alone %v", g, ops[g], i, got[g][i], want[g][i])
			}
		}
	}
}

// TestKernelNames checks the registry: the default is runnable and listed,
// and unknown names are reported.
func TestKernelNames(t *testing.T) {
	if _, err := Lookup(KernelName()); err != nil {
		t.Fatalf("default kernel %q: %v", KernelName(), err)
	}
	if _, err := Lookup("no-such-kernel"); err == nil {
		t.Fatal("Lookup of an unknown kernel succeeded")
	}
	if k := chooseDefault("portable"); k.Name() != "portable" {
		t.Errorf("FCN_GEMM_KERNEL=portable chose %q", k.Name())
	}
	if k := chooseDefault("no-such-kernel"); k != chooseDefault("") {
		t.Errorf("an unknown FCN_GEMM_KERNEL chose %q, want the automatic %q", k.Name(), chooseDefault("").Name())
	}
	t.Logf("kernels %v, default %s", Kernels(), KernelName())
}

// TestSteadyStateAllocs checks that a repeated Gemm allocates nothing, on one
// thread and split over workers.
func TestSteadyStateAllocs(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	rng := rand.New(rand.NewPCG(9, 10))
	o := newOperands(rng, false, false, 128, 256, 64, 0, 1, 0)
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		// testing.AllocsPerRun forces GOMAXPROCS=1, so count by hand.
		gemm := func() { Gemm(false, false, o.m, o.n, o.k, 1, o.a, o.lda, o.b, o.ldb, 0, o.c, o.ldc) }
		for i := 0; i < 5; i++ {
			gemm() // fill the pools
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		const runs = 200
		for i := 0; i < runs; i++ {
			gemm()
		}
		runtime.ReadMemStats(&after)
		allocs := float64(after.Mallocs-before.Mallocs) / runs
		// Parking and waking the worker can make the runtime allocate a wait
		// record now and then (its caches are per-P), hence a small allowance.
		if allocs > 0.05 {
			t.Errorf("GOMAXPROCS=%d: %v allocations per Gemm, want 0", procs, allocs)
		}
		t.Logf("GOMAXPROCS=%d: %v allocations per Gemm", procs, allocs)
	}
}

// Spreading a block's rows evenly over the A slivers (kernel.balanced) changes which
// tile computes a row, not how: the products are those of slivers filled to mr, bit for
// bit, in both splits of the driver, on one thread and several.
func TestBalancedSliversSameBits(t *testing.T) {
	if defaultKernel.k32 == nil || !defaultKernel.k32.balanced {
		t.Skip("the default kernel does not balance its slivers")
	}
	filled := *defaultKernel.k32
	filled.balanced = false
	rng := rand.New(rand.NewPCG(21, 22))
	for _, sz := range [][3]int{{32, 500, 288}, {64, 300, 300}, {128, 40, 100}, {300, 20, 70}, {15, 33, 9}, {29, 1024, 576}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, transA := range []bool{false, true} {
			o := newOperands(rng, transA, false, m, n, k, 2, 1, 1)
			for _, serial := range []bool{false, true} {
				want, got := append([]float32(nil), o.c...), append([]float32(nil), o.c...)
				run(&filled, serial, transA, false, m, n, k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, want, o.ldc)
				run(defaultKernel.k32, serial, transA, false, m, n, k, o.alpha, o.a, o.lda, o.b, o.ldb, o.beta, got, o.ldc)
				for i := range want {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
						t.Fatalf("%v serial=%v: C[%d] = %v balanced, %v filled", o, serial, i, got[i], want[i])
					}
				}
			}
		}
	}
}
