package layers

import (
	"fmt"

	"github.com/fcn-dev/fcn/layers/internal/gemm"
)

// MatMul computes C = A·B for row-major float32 matrices (A m×k, B k×n, C m×n,
// overwritten) with the GEMM the convolutions use, on up to GOMAXPROCS threads. It is
// exported for fcn bench's GEMM workload; the result does not depend on the thread count.
func MatMul(m, n, k int, a, b, c []float32) error {
	if err := matMulSizes(m, n, k, a, b, c); err != nil {
		return err
	}
	gemm.Gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	return nil
}

// MatMulPrecision is MatMul with the product's operands at precision p: BF16 rounds A
// and B to bfloat16 and accumulates in float32 (the products convolutions run with
// train.precision: bf16); an error where the CPU lacks it.
func MatMulPrecision(p Precision, m, n, k int, a, b, c []float32) error {
	if p != BF16 {
		return MatMul(m, n, k, a, b, c)
	}
	if err := p.Supported(); err != nil {
		return err
	}
	if err := matMulSizes(m, n, k, a, b, c); err != nil {
		return err
	}
	gemm.GemmBF16(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	return nil
}

// matMulSizes refuses sizes and slices that do not make an m×k by k×n product.
func matMulSizes(m, n, k int, a, b, c []float32) error {
	if m < 1 || n < 1 || k < 1 || len(a) < m*k || len(b) < k*n || len(c) < m*n {
		return fmt.Errorf("layers: MatMul of %d×%d by %d×%d needs A of %d, B of %d and C of %d values, got %d, %d and %d",
			m, k, k, n, m*k, k*n, m*n, len(a), len(b), len(c))
	}
	return nil
}
