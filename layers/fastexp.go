package layers

import (
	"math"
	"unsafe"
)

// exp32 is e^x in float32 arithmetic, within 2 ulp of the correctly rounded result
// (checked against math.Exp in fastexp_test.go). The softmax of the loss calls it once
// per score; math.Exp's float64 path took a third of the loss's time.
//
// Cephes' expf: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in two so k·ln2_hi is exact),
// e^r by a degree-7 polynomial, times 2^k built in the exponent bits. Results below
// the smallest normal float32 flush to 0, which a softmax never notices.
func exp32(x float32) float32 {
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
		maxX  = 88.72283905206835  // above: +Inf
		minX  = -87.33654475055310 // below: 0 (the smallest normal is e^-87.34)
	)
	switch {
	case x != x:
		return x
	case x > maxX:
		return float32(math.Inf(1))
	case x < minX:
		return 0
	}
	// Adding and subtracting 1.5·2²³ rounds to the nearest integer in float32 arithmetic
	// (Go does not reassociate floating point), cheaper than math.Floor.
	const round = 12582912
	k := (x*log2e + round) - round
	r := x - k*ln2hi - k*ln2lo
	z := r * r
	p := ((((((1.9875691500e-4*r+1.3981999507e-3)*r+8.3334519073e-3)*r+4.1665795894e-2)*r+
		1.6666665459e-1)*r+5.0000001201e-1)*z + r) + 1
	// 2^k as a float32 has the biased exponent k+127 (k is in [-126, 128] here; at
	// 128 the product is formed as 2·2^127 to stay finite until the multiply).
	ki := int32(k)
	if ki > 127 {
		return p * 2 * math.Float32frombits(uint32(ki-1+127)<<23)
	}
	if ki < -126 {
		return p * 0.5 * math.Float32frombits(uint32(ki+1+127)<<23)
	}
	return p * math.Float32frombits(uint32(ki+127)<<23)
}

// expOf is e^x for the kernels' element type: exp32 for float32, math.Exp for float64,
// so gradient checks keep full float64 precision. The size test is resolved per
// instantiation.
func expOf[T Float](x T) T {
	if unsafe.Sizeof(x) == 4 {
		return T(exp32(float32(x)))
	}
	return T(math.Exp(float64(x)))
}
