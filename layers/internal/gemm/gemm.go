package gemm

//go:generate go run ./asm/gen.go -out kernel_amd64.s -stubs kernel_amd64.go -pkg gemm -table kernel_table_amd64.go

import (
	"fmt"
	"os"
	"strings"
	"unsafe"
)

// Float is the element type.
type Float interface{ ~float32 | ~float64 }

// Gemm computes C = alpha·op(A)·op(B) + beta·C, all row-major.
// op(A) is m×k (A is m×k with leading dimension lda, or k×m if transA);
// op(B) is k×n (B is k×n with leading dimension ldb, or n×k if transB); C is m×n with ldc.
// beta == 0 means C is overwritten (its old contents, even NaN, are ignored).
// The result does not depend on the number of threads: every element of C is reduced
// in the same order whatever GOMAXPROCS is.
func Gemm[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	GemmWith(defaultKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Kernel is one implementation of the product, as returned by Lookup. It selects
// the float32 micro-kernel; float64 always runs the portable blocked path (or the
// naive reference for the "naive" kernel).
type Kernel struct {
	name string
	why  string // non-empty: this CPU cannot run it, and why
	k32  *kernel[float32]
}

// Name is the kernel's name as accepted by Lookup.
func (k *Kernel) Name() string { return k.name }

// allKernels lists every kernel, fastest first (kernels_*.go).
var allKernels = kernelList()

// defaultKernel is the fastest kernel this CPU runs, unless FCN_GEMM_KERNEL names
// another supported one. It is set once at start-up and never changed.
var defaultKernel = chooseDefault(os.Getenv("FCN_GEMM_KERNEL"))

func chooseDefault(env string) *Kernel {
	if env != "" {
		if k, err := Lookup(env); err == nil {
			return k
		}
	}
	for _, k := range allKernels {
		if k.why == "" {
			return k
		}
	}
	panic("gemm: no kernel registered") // unreachable: portable and naive always run
}

// Kernels lists the names of all kernels compiled into this binary, fastest first,
// whether or not this CPU can run them (Lookup says why not).
func Kernels() []string {
	names := make([]string, len(allKernels))
	for i, k := range allKernels {
		names[i] = k.name
	}
	return names
}

// KernelName is the name of the kernel Gemm uses: the fastest this CPU supports,
// or the one named by the environment variable FCN_GEMM_KERNEL when it is
// supported (an unknown or unsupported name is ignored).
func KernelName() string { return defaultKernel.name }

// Lookup returns the kernel with the given name, or an error if there is none or
// this CPU lacks the instructions it needs.
func Lookup(name string) (*Kernel, error) {
	for _, k := range allKernels {
		if k.name == name {
			if k.why != "" {
				return nil, fmt.Errorf("gemm: kernel %q cannot run here: %s", name, k.why)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("gemm: no kernel %q (have %s)", name, strings.Join(Kernels(), ", "))
}

// GemmSerial is Gemm computed on the calling goroutine alone, for callers that run
// several independent products at once (one per image, say). The result is Gemm's,
// bit for bit.
func GemmSerial[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemmWith(defaultKernel, true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmWith is Gemm computed with the given kernel (see Lookup).
func GemmWith[T Float](kern *Kernel, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	gemmWith(kern, false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func gemmWith[T Float](kern *Kernel, serial, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 || alpha == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	if kern.k32 == nil {
		naive(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// ~float32 and ~float64 share their layout with float32 and float64, so the
	// slices are viewed as those and run on the one compiled driver for each.
	if unsafe.Sizeof(alpha) == 4 {
		run(kern.k32, serial, transA, transB, m, n, k, float32(alpha), view[float32](a), lda, view[float32](b), ldb, float32(beta), view[float32](c), ldc)
		return
	}
	run(portable64, serial, transA, transB, m, n, k, float64(alpha), view[float64](a), lda, view[float64](b), ldb, float64(beta), view[float64](c), ldc)
}

// view reinterprets s as a slice of U, which has the same size and layout as T.
func view[U, T Float](s []T) []U {
	return unsafe.Slice((*U)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// scale sets C = beta·C (C = 0 when beta == 0, even where C held NaN).
func scale[T Float](m, n int, beta T, c []T, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		if beta == 1 {
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
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
