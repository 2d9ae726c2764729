// Package vecmath holds the element-wise math of fcn's layers that runs on vectors:
// Exp32, float32 e^x, and ExpSubAccum, the softmax's exponentials with their sums;
// ReLU and its backward; a bias (with ReLU) and the bias gradient's masked sums; a
// running max and a masked product (the loss); 2×2 max pooling; AXPY and the planes of
// row sums of separable interpolation; weaving and splitting rows at stride 2. Each runs
// by AVX-512 where the CPU has it, bit for bit its scalar definition either way.
package vecmath

//go:generate go run ./asm/gen.go -out exp_amd64.s -stubs exp_stubs_amd64.go -pkg vecmath

import "math"

// vectorPart is how many of n elements the AVX-512 kernels take, the largest multiple
// of 16 (their block), or none without AVX-512; the wrappers finish the rest in Go.
func vectorPart(n int) int {
	if !hasAVX512 {
		return 0
	}
	return n &^ 15
}

// Exp32 is e^x in float32 arithmetic, within 2 ulp of the correctly rounded result.
// The softmax of the loss calls it once per score; math.Exp's float64 path took a
// third of the loss's time.
//
// Cephes' expf: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in two so k·ln2_hi is exact),
// e^r by a degree-7 polynomial, times 2^k built in the exponent bits. Results below
// the smallest normal float32 flush to 0, which a softmax never notices. Each
// operation is rounded to float32 by an explicit conversion, which the Go spec says
// prevents fusing a multiply and an add, so the AVX-512 path (separate multiplies and
// adds in the same order) gives the same bits whatever GOAMD64 allows.
func Exp32(x float32) float32 {
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
	k := float32(float32(x*log2e)+round) - round
	r := float32(x-float32(k*ln2hi)) - float32(k*ln2lo)
	z := r * r
	p := float32(1.9875691500e-4 * r)
	p = float32(float32(p+1.3981999507e-3) * r)
	p = float32(float32(p+8.3334519073e-3) * r)
	p = float32(float32(p+4.1665795894e-2) * r)
	p = float32(float32(p+1.6666665459e-1) * r)
	p = float32(float32(p+5.0000001201e-1) * z)
	p = float32(p+r) + 1
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

// ExpSubAccum sets dst[i] = Exp32(x[i] − m[i]) and adds float64(dst[i]) to se[i], for
// i < len(x): a softmax's exponentials of one channel and their running sums per pixel.
func ExpSubAccum(dst, x, m []float32, se []float64) {
	n := len(x)
	if n == 0 {
		return
	}
	_, _, _ = dst[n-1], m[n-1], se[n-1]
	i := vectorPart(n)
	if i > 0 {
		expSubAcc16(&dst[0], &x[0], &m[0], &se[0], i)
	}
	for ; i < n; i++ {
		e := Exp32(x[i] - m[i])
		dst[i] = e
		se[i] += float64(e)
	}
}

// ReLU sets dst[i] = max(src[i], 0) for i < len(src), with Go's max: NaN stays NaN and
// −0 becomes +0. dst may be src.
func ReLU(dst, src []float32) {
	n := len(src)
	if n == 0 {
		return
	}
	_ = dst[n-1]
	i := vectorPart(n)
	if i > 0 {
		relu16(&dst[0], &src[0], i)
	}
	for ; i < n; i++ {
		dst[i] = max(src[i], 0)
	}
}

// ReLUBackward sets dx[i] = dy[i]·[y[i] > 0] for i < len(y), a multiply by 1 or 0 (a
// non-finite dy where y ≤ 0 gives NaN, as Caffe's ReLU). dx may be dy.
func ReLUBackward(dx, y, dy []float32) {
	n := len(y)
	if n == 0 {
		return
	}
	_, _ = dx[n-1], dy[n-1]
	i := vectorPart(n)
	if i > 0 {
		reluBack16(&dx[0], &y[0], &dy[0], i)
	}
	for ; i < n; i++ {
		var on float32
		if y[i] > 0 {
			on = 1
		}
		dx[i] = dy[i] * on
	}
}

// AddBias adds b to every element of dst, then (relu) takes max(·, 0) with Go's max: a
// convolution's bias and fused ReLU in one pass over its output.
func AddBias(dst []float32, b float32, relu bool) {
	n := len(dst)
	if n == 0 {
		return
	}
	i := vectorPart(n)
	if i > 0 {
		if relu {
			addBiasReLU16(&dst[0], b, i)
		} else {
			addBias16(&dst[0], b, i)
		}
	}
	for ; i < n; i++ {
		v := dst[i] + b
		if relu {
			v = max(v, 0)
		}
		dst[i] = v
	}
}

// MaskSum returns the sum of d, first setting d[i] = d[i]·[y[i] > 0] in place when y is
// not nil (a fused ReLU's mask on a conv's output gradient, whose sum is the bias
// gradient). The sum runs in 16 lane sums, lane l adding d[i] for i ≡ l (mod 16) below
// the last multiple of 16 in order, folded as s[l] += s[l+w] for w = 8, 4, 2, 1, then
// the remaining elements one by one; without AVX-512 it is computed the same way.
func MaskSum(d, y []float32) float32 {
	n := len(d)
	if n == 0 {
		return 0
	}
	if y != nil {
		_ = y[n-1]
	}
	n16 := n &^ 15
	var s float32
	switch {
	case n16 > 0 && hasAVX512:
		var yp *float32
		if y != nil {
			yp = &y[0]
		}
		s = maskSum16(&d[0], yp, y != nil, n16)
	case n16 > 0:
		var lane [16]float32
		for i := range n16 {
			if y != nil {
				d[i] = d[i] * on(y[i])
			}
			lane[i%16] += d[i]
		}
		for w := 8; w >= 1; w /= 2 {
			for l := range w {
				lane[l] += lane[l+w]
			}
		}
		s = lane[0]
	}
	for i := n16; i < n; i++ {
		if y != nil {
			d[i] = d[i] * on(y[i])
		}
		s += d[i]
	}
	return s
}

// on is 1 where a ReLU's output is positive, else 0.
func on(y float32) float32 {
	if y > 0 {
		return 1
	}
	return 0
}

// MaxInto sets dst[i] = max(dst[i], src[i]) for i < len(src), with Go's max (NaN if
// either is, +0 over −0): a running maximum over channels.
func MaxInto(dst, src []float32) {
	n := len(src)
	if n == 0 {
		return
	}
	_ = dst[n-1]
	i := vectorPart(n)
	if i > 0 {
		maxInto16(&dst[0], &src[0], i)
	}
	for ; i < n; i++ {
		dst[i] = max(dst[i], src[i])
	}
}

// MulWhere sets dst[i] = a[i]·e[i] where a[i] != 0 and 0 elsewhere, or with
// accumulate adds a[i]·e[i] to dst[i] where a[i] != 0, for i < len(a): a loss's
// gradient, whose ignored pixels (a = 0) get nothing even from a non-finite e.
func MulWhere(dst, a, e []float32, accumulate bool) {
	n := len(a)
	if n == 0 {
		return
	}
	_, _ = dst[n-1], e[n-1]
	i := vectorPart(n)
	if i > 0 {
		mulWhere16(&dst[0], &a[0], &e[0], accumulate, i)
	}
	for ; i < n; i++ {
		switch {
		case a[i] != 0 && accumulate:
			dst[i] += float32(a[i] * e[i]) // rounded before the add, as the vectors
		case a[i] != 0:
			dst[i] = a[i] * e[i]
		case !accumulate:
			dst[i] = 0
		}
	}
}
