package layers

import (
	"math"
	"testing"
)

// matMulCase is a shape that is not a multiple of any tile, with operands bfloat16 holds
// exactly (small integers and halves), so that bf16 products are exact too.
func matMulCase() (m, n, k int, a, b []float32) {
	m, n, k = 37, 53, 29
	a, b = make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range b {
		b[i] = float32(i%5)*0.5 - 1
	}
	return m, n, k, a, b
}

// checkMatMul runs mul on matMulCase and compares C with the triple loop in float64;
// C starts as NaN, which must be overwritten, not accumulated.
func checkMatMul(t *testing.T, mul func(m, n, k int, a, b, c []float32) error) {
	t.Helper()
	m, n, k, a, b := matMulCase()
	c := make([]float32, m*n)
	for i := range c {
		c[i] = float32(math.NaN())
	}
	if err := mul(m, n, k, a, b, c); err != nil {
		t.Fatal(err)
	}
	for i := range m {
		for j := range n {
			var want float64
			for p := range k {
				want += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			if got := float64(c[i*n+j]); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
				t.Fatalf("C[%d][%d] = %v, want %v", i, j, got, want)
			}
		}
	}
	if err := mul(m, n, k, a[:10], b, c); err == nil {
		t.Error("a short A gave no error")
	}
}

func TestMatMul(t *testing.T) { checkMatMul(t, MatMul) }

// MatMulPrecision in bf16: every product of matMulCase's operands is exact, so C is A·B
// to float32 summation rounding.
func TestMatMulBF16(t *testing.T) {
	if err := BF16.Supported(); err != nil {
		t.Skip(err)
	}
	checkMatMul(t, func(m, n, k int, a, b, c []float32) error { return MatMulPrecision(BF16, m, n, k, a, b, c) })
}
