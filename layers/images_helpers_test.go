package layers

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Helpers of the internal tests of the image-parallel paths.

// normals returns n standard normal float32 values from rng.
func normals(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// randomBias gives p (if any) standard normal values, so a test sees the bias's path.
func randomBias(rng *rand.Rand, p *Param) {
	if p != nil {
		copy(convData[float32](p.Value), normals(rng, p.Value.Shape().TotalSize()))
	}
}

// absolute returns |v| elementwise: run through the same sums, it bounds their rounding.
func absolute(v []float32) []float32 {
	a := make([]float32, len(v))
	for i, e := range v {
		a[i] = float32(math.Abs(float64(e)))
	}
	return a
}

// sameBits fails unless got and want are identical bit for bit.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s %d: %v, want the bits of %v", what, i, got[i], want[i])
		}
	}
}

// withinRounding fails unless |got − want| ≤ 1e-6·mag elementwise, mag being the same
// sum over absolute values.
func withinRounding(t *testing.T, what string, got, want, mag []float32) {
	t.Helper()
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*float64(mag[i]) {
			t.Fatalf("%s %d: per image %v, blocked %v (magnitude %v)", what, i, got[i], want[i], mag[i])
		}
	}
}
