package layers

import (
	"math"
	"unsafe"

	"github.com/fcn-dev/fcn/layers/internal/vecmath"
)

// exp32 is e^x in float32 arithmetic, within 2 ulp of the correctly rounded result:
// vecmath.Exp32, whose vectors the loss's float32 softmax runs on.
func exp32(x float32) float32 { return vecmath.Exp32(x) }

// expOf is e^x for the kernels' element type: exp32 for float32, math.Exp for float64,
// so gradient checks keep full float64 precision. The size test is resolved per
// instantiation.
func expOf[T Float](x T) T {
	if unsafe.Sizeof(x) == 4 {
		return T(exp32(float32(x)))
	}
	return T(math.Exp(float64(x)))
}
