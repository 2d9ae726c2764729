package layers

import (
	"math"
	"testing"
)

// exp32 against math.Exp rounded to float32, over the whole range a softmax can hand it
// (and past both ends): within 2 ulp, exact at 0, NaN kept, the ends saturated.
func TestExp32(t *testing.T) {
	worst := 0.0
	for x := float32(-87.3); x < 88.7; x += 0.0007 {
		want := float32(math.Exp(float64(x)))
		got := exp32(x)
		ulp := float64(math.Nextafter32(want, float32(math.Inf(1))) - want)
		if d := math.Abs(float64(got-want)) / ulp; d > worst {
			worst = d
			if d > 2 {
				t.Fatalf("exp32(%v) = %v, math.Exp gives %v (%.1f ulp)", x, got, want, d)
			}
		}
	}
	t.Logf("worst error %.2f ulp", worst)
	cases := []struct{ x, want float32 }{
		{0, 1},
		{-100, 0},
		{-1e30, 0},
		{float32(math.Inf(-1)), 0},
		{89, float32(math.Inf(1))},
		{float32(math.Inf(1)), float32(math.Inf(1))},
	}
	for _, c := range cases {
		if got := exp32(c.x); got != c.want {
			t.Errorf("exp32(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if nan := float32(math.NaN()); !math.IsNaN(float64(exp32(nan))) {
		t.Errorf("exp32(NaN) is not NaN")
	}
	if got, want := expOf(0.5), math.Exp(0.5); got != want {
		t.Errorf("expOf[float64](0.5) = %v, want math.Exp's %v", got, want)
	}
}

func BenchmarkExp32(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = -float32(i) / 256
	}
	b.SetBytes(int64(4 * len(x)))
	var s float32
	for b.Loop() {
		for _, v := range x {
			s += exp32(v)
		}
	}
	_ = s
}

func BenchmarkMathExp(b *testing.B) {
	x := make([]float64, 4096)
	for i := range x {
		x[i] = -float64(i) / 256
	}
	b.SetBytes(int64(4 * len(x)))
	var s float64
	for b.Loop() {
		for _, v := range x {
			s += math.Exp(v)
		}
	}
	_ = s
}
