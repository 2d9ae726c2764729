// Package gemm is fcn's matrix multiply: C = alpha·op(A)·op(B) + beta·C on row-major
// slices, generic over float32 and float64.
package gemm

// Float is the element type.
type Float interface{ ~float32 | ~float64 }

// Gemm computes C = alpha·op(A)·op(B) + beta·C, all row-major.
// op(A) is m×k (A is m×k with leading dimension lda, or k×m if transA);
// op(B) is k×n (B is k×n with leading dimension ldb, or n×k if transB); C is m×n with ldc.
// beta == 0 means C is overwritten (its old contents, even NaN, are ignored).
// The result does not depend on the number of threads: every element of C is reduced
// in the same order whatever GOMAXPROCS is.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	naive(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// naive is the reference: the definition, one dot product per element.
func naive[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s T
			for p := 0; p < k; p++ {
				var av, bv T
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}
