package layers

import (
	"math"
	"testing"
)

// MatMul against the triple loop in float64 on a shape that is not a multiple of any tile.
func TestMatMul(t *testing.T) {
	m, n, k := 37, 53, 29
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range b {
		b[i] = float32(i%5)*0.5 - 1
	}
	for i := range c {
		c[i] = float32(math.NaN()) // overwritten, not accumulated
	}
	if err := MatMul(m, n, k, a, b, c); err != nil {
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
	if err := MatMul(m, n, k, a[:10], b, c); err == nil {
		t.Error("MatMul with a short A gave no error")
	}
}

// MatMulPrecision in bf16 on operands that bfloat16 holds exactly (small integers and
// halves): every product is exact, so C is A·B to float32 summation rounding.
func TestMatMulBF16(t *testing.T) {
	if err := BF16.Supported(); err != nil {
		t.Skip(err)
	}
	m, n, k := 37, 53, 29
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	for i := range b {
		b[i] = float32(i%5)*0.5 - 1
	}
	if err := MatMulPrecision(BF16, m, n, k, a, b, c); err != nil {
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
	if err := MatMulPrecision(BF16, m, n, k, a[:10], b, c); err == nil {
		t.Error("a short A gave no error")
	}
}
