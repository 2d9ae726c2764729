package layers

import (
	"fmt"
	"unsafe"

	"github.com/fcn-dev/fcn/layers/internal/gemm"
)

// Precision is the arithmetic of the float32 products of conv and deconv layers.
type Precision string

const (
	// FP32 multiplies float32 operands: the default.
	FP32 Precision = "fp32"
	// BF16 rounds the operands of every conv and deconv GEMM (forward, input and
	// weight gradients) to bfloat16 and accumulates in float32 with AVX512_BF16
	// (gemm.GemmBF16); weights, activations and gradients stay float32 (fp32
	// master weights). Float64 (gradient checks) always runs exact float64.
	BF16 Precision = "bf16"
)

// Precisions lists the accepted names.
var Precisions = []Precision{FP32, BF16}

// ParsePrecision returns the precision named s, or an error listing the names.
func ParsePrecision(s string) (Precision, error) {
	for _, p := range Precisions {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown precision %q (want fp32 or bf16)", s)
}

// Supported returns nil when this machine computes in p, else an error naming
// the missing CPU feature. fp32 runs everywhere; bf16 has no fall-back.
func (p Precision) Supported() error {
	if p != BF16 {
		return nil
	}
	if err := gemm.BF16Supported(); err != nil {
		return fmt.Errorf("precision bf16 needs AVX512_BF16 (VDPBF16PS): %w", err)
	}
	return nil
}

// PrecisionSetter is implemented by layers whose products can run in another
// precision (conv, deconv). The model builder calls it before Setup.
type PrecisionSetter interface {
	// SetPrecision chooses the arithmetic of later Forward and Backward calls in
	// float32; it fails, changing nothing, when the CPU cannot run p.
	SetPrecision(p Precision) error
}

func setBF16(flag *bool, p Precision) error {
	if _, err := ParsePrecision(string(p)); err != nil {
		return err
	}
	if err := p.Supported(); err != nil {
		return err
	}
	*flag = p == BF16
	return nil
}

// SetPrecision implements PrecisionSetter.
func (l *Conv) SetPrecision(p Precision) error { return setBF16(&l.bf16, p) }

// SetPrecision implements PrecisionSetter. A frozen bilinear deconv's separable
// path (pathBilinearFrozen) is interpolation, not a learned product: it stays fp32.
func (l *Deconv) SetPrecision(p Precision) error { return setBF16(&l.bf16, p) }

// mm is the conv and deconv product: gemm.Gemm, or, for float32 with bf16,
// gemm.GemmBF16.
func mm[T Float](bf16, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if bf16 && unsafe.Sizeof(alpha) == 4 {
		gemm.GemmBF16(transA, transB, m, n, k, float32(alpha), f32(a), lda, f32(b), ldb, float32(beta), f32(c), ldc)
		return
	}
	gemm.Gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// mmSerial is mm on the calling goroutine alone (gemm.GemmSerial, gemm.GemmBF16Serial).
func mmSerial[T Float](bf16, transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if bf16 && unsafe.Sizeof(alpha) == 4 {
		gemm.GemmBF16Serial(transA, transB, m, n, k, float32(alpha), f32(a), lda, f32(b), ldb, float32(beta), f32(c), ldc)
		return
	}
	gemm.GemmSerial(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// f32 views a slice of a 4-byte Float as []float32.
func f32[T Float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
